"""BarBuilder on literal datetimes: the session grid, carried bars, late opens, seeding, throttled partials."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from koabus.common.client.calendar import SessionOverride, TradingCalendar
from koabus.common.clock import KST
from koabus.services.bars.core import Bar, BarBuilder, interval_name, parse_interval

DAY = date(2026, 12, 2)  # a Wednesday session
NEXT = date(2026, 12, 3)


def at(hh: int, mm: int, ss: int = 0, day: date = DAY) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=KST)


class DictCalendar:
    """A calendar by table: day -> (open, close) times; every other day closed."""

    def __init__(self, hours):
        self.table = hours

    def session_hours(self, day):
        times = self.table.get(day)
        if times is None:
            return None
        return datetime.combine(day, times[0], KST), datetime.combine(day, times[1], KST)


REGULAR = DictCalendar({DAY: (time(9), time(15, 30)), NEXT: (time(9), time(15, 30))})


def test_intervals_parse_and_name():
    assert [parse_interval(v) for v in ("1m", "5m", "60m", "1h", "90s", 15)] == [60, 300, 3600, 3600, 90, 900]
    assert [interval_name(s) for s in (60, 300, 3600, 90)] == ["1m", "5m", "60m", "90s"]
    for bad in ("", "m", "-5m", "0m", "5x", True):
        with pytest.raises(ValueError):
            parse_interval(bad)


def test_trades_make_ohlcv_and_the_next_trade_closes_the_bar():
    b = BarBuilder([60], REGULAR)
    assert b.on_trade("005930", at(9, 0, 0), 70000, 10) == []
    assert b.on_trade("005930", at(9, 0, 20), 70500, -5) == []
    assert b.on_trade("005930", at(9, 0, 59), 69900, 2) == []
    closed = b.on_trade("005930", at(9, 1, 0), 70100, 1)
    assert closed == [Bar("005930", 60, at(9, 0), at(9, 1), 70000, 70500, 69900, 69900, 17,
                          70000 * 10 + 70500 * 5 + 69900 * 2, 3, True, False)]
    assert b.partial() == [Bar("005930", 60, at(9, 1), at(9, 2), 70100, 70100, 70100, 70100, 1, 70100, 1,
                               False, False)]


def test_clock_closes_bars_without_trades_as_carried():
    b = BarBuilder([60, 300], REGULAR)
    b.on_trade("A", at(9, 0, 5), 1000, 3)
    assert b.on_clock(at(9, 0, 59)) == []
    bars = b.on_clock(at(9, 3, 0))
    assert [(x.interval_s, x.start, x.carried, x.close, x.volume) for x in bars] == [
        (60, at(9, 0), False, 1000, 3), (60, at(9, 1), True, 1000, 0), (60, at(9, 2), True, 1000, 0)]
    assert all(x.final for x in bars)
    assert (bars[1].open, bars[1].high, bars[1].low) == (1000, 1000, 1000)
    five = b.on_clock(at(9, 5, 0))
    assert [(x.interval_s, x.start, x.end, x.volume) for x in five] == [
        (60, at(9, 3), at(9, 4), 0), (60, at(9, 4), at(9, 5), 0), (300, at(9, 0), at(9, 5), 3)]


def test_each_interval_yields_one_final_bar_per_slot_across_a_whole_day():
    b = BarBuilder([60, 600, 3600], REGULAR)
    b.on_trade("A", at(9, 0), 500, 1)
    bars = b.on_clock(at(16, 0))
    by = {s: [x for x in bars if x.interval_s == s] for s in (60, 600, 3600)}
    assert [len(by[s]) for s in (60, 600, 3600)] == [390, 39, 7]
    assert by[3600][-1].start == at(15, 0) and by[3600][-1].end == at(15, 30)  # clipped to the close
    for bars_s in by.values():
        assert all(x.end == y.start for x, y in zip(bars_s, bars_s[1:]))
    # the next session continues the grid from its open, carrying the last close
    nxt = b.on_clock(at(9, 1, 0, NEXT))
    assert [(x.start, x.close, x.carried) for x in nxt] == [(at(9, 0, 0, NEXT), 500, True)]


def test_closing_print_belongs_to_the_last_bar_and_after_hours_are_left_out():
    b = BarBuilder([60, 1800], REGULAR)
    b.on_trade("A", at(15, 19, 30), 1000, 1)
    # the closing auction: no trade 15:20-15:30, then one print at 15:30:00
    assert [x.start for x in b.on_clock(at(15, 30)) if x.interval_s == 60][-1] == at(15, 28)
    assert b.on_trade("A", at(15, 30, 0), 1010, 50) == []
    last = b.on_clock(at(15, 30, 1))
    assert [(x.interval_s, x.start, x.end, x.close, x.volume) for x in last] == [
        (60, at(15, 29), at(15, 30), 1010, 50), (1800, at(15, 0), at(15, 30), 1010, 51)]
    before = b.trades
    assert b.on_trade("A", at(15, 45), 1010, 7) == []  # 장후시간외종가
    assert b.on_trade("A", at(8, 35, day=NEXT), 1010, 7) == []  # 장전시간외종가
    assert (b.trades, b.outside_trades) == (before, 2)
    assert b.partial() == []


def test_late_open_day_anchors_the_grid_at_ten_from_the_calendar():
    exam = date(2025, 11, 13)  # 수능: 10:00-16:30 by the calendar's overlay
    cal = TradingCalendar()
    b = BarBuilder([300, 3600], cal)
    assert b.on_trade("A", at(9, 30, day=exam), 1000, 1) == []  # before the late open: outside
    assert b.outside_trades == 1
    b.on_trade("A", at(10, 0, 0, exam), 1000, 1)
    bars = b.on_clock(at(16, 30, 1, exam))
    hourly = [(x.start.time(), x.end.time()) for x in bars if x.interval_s == 3600]
    assert hourly[0] == (time(10), time(11)) and hourly[-1] == (time(16), time(16, 30)) and len(hourly) == 7
    assert len([x for x in bars if x.interval_s == 300]) == 78


def test_injected_overlay_moves_the_session():
    day = date(2026, 12, 2)
    cal = TradingCalendar(overlay=[SessionOverride(day, time(10, 0), time(16, 30))])
    b = BarBuilder([600], cal)
    b.on_trade("A", at(10, 4), 1000, 1)
    assert b.on_clock(at(10, 10))[0].start == at(10, 0)


def test_a_trade_older_than_a_final_bar_is_late():
    b = BarBuilder([60], REGULAR)
    b.on_trade("A", at(9, 0, 10), 1000, 1)
    b.on_clock(at(9, 2))
    assert b.on_trade("A", at(9, 1, 30), 990, 1) == [] and b.late_trades == 1
    assert b.partial() == []


def test_seed_completes_the_first_bar_and_skips_trades_it_already_counted():
    b = BarBuilder([60, 300], REGULAR)
    minutes = [Bar("A", 60, at(9, m), at(9, m + 1), 100 + m, 110 + m, 90 + m, 105 + m, 10, 1000, 0, True, False)
               for m in range(0, 3)]
    b.seed("A", list(reversed(minutes)))  # the TR gives newest first
    assert b.on_trade("A", at(9, 2, 59), 1, 1) == [] and b.seeded_trades == 1
    b.on_trade("A", at(9, 3, 0), 120, 4)
    bars = b.on_clock(at(9, 5))
    five = [x for x in bars if x.interval_s == 300]
    assert [(x.open, x.high, x.low, x.close, x.volume) for x in five] == [(100, 120, 90, 120, 34)]
    ones = [x.start for x in bars if x.interval_s == 60]
    assert ones == [at(9, 3), at(9, 4)]  # the seeded minutes are history: not published again


def test_partials_are_throttled_on_the_callers_clock():
    b = BarBuilder([60], REGULAR)
    b.on_trade("A", at(9, 0, 1), 1000, 1)
    assert [x.volume for x in b.partials_due(100.0, 1.0)] == [1]
    b.on_trade("A", at(9, 0, 1), 1001, 1)
    assert b.partials_due(100.5, 1.0) == []  # within a second of the last update
    assert [x.close for x in b.partials_due(101.0, 1.0)] == [1001]
    assert b.partials_due(105.0, 1.0) == []  # nothing changed


def test_a_clock_that_jumps_sessions_does_not_carry_through_them():
    days = {date(2026, 11, 30 + i) if i == 0 else date(2026, 12, i): (time(9), time(15, 30)) for i in range(0, 4)}
    b = BarBuilder([3600], DictCalendar(days))
    b.on_trade("A", at(9, 0, day=date(2026, 11, 30)), 1000, 1)
    bars = b.on_clock(at(10, 0, day=date(2026, 12, 3)))
    assert [x.start for x in bars] == [at(9, 0, day=date(2026, 12, 3))]
    assert bars[0].carried and bars[0].close == 1000


def test_body_round_trip():
    bar = Bar("005930", 300, at(9, 0), at(9, 5), 1, 3, 1, 2, 10, 20, 2, False, False)
    body = bar.to_body()
    assert body["interval"] == "5m" and body["start"] == "2026-12-02T09:00:00+09:00"
    assert Bar.from_body(body) == bar and bar.topic == "bar.5m.005930"
    with pytest.raises(ValueError):
        Bar.from_body({"code": "A"})
