"""Daily history depth: Kiwoom's daily data reaches 1985-01-04 (facts §5.3), generated lazily
backwards from the anchor so the anchored years keep their numbers and today's quote stays cheap."""
from __future__ import annotations

from datetime import date

from koabus.common.clock import VirtualClock
from koabus.services.sim.market import Market
from koabus.services.sim.market.history import DAILY_DATA_START

from .conftest import kst


def _market() -> Market:
    return Market(seed=7, clock=VirtualClock(kst(2024, 6, 14, 10, 0), speed=0))


def test_005930_history_starts_on_1985_01_04():
    h = _market().history("005930")
    assert DAILY_DATA_START == date(1985, 1, 4) and h.start == DAILY_DATA_START
    assert h.bar(date(1985, 1, 4)) is not None
    assert h.bar(date(1985, 1, 3)) is None  # nothing before Kiwoom's first day
    first = h.bar_at(0)
    assert first.date == date(1985, 1, 4) and first.low <= first.close <= first.high


def test_a_later_listing_starts_on_its_listing_day():
    market = _market()
    inst = market.instrument("035420")  # listed 2008-11-28
    h = market.history("035420")
    assert h.start == inst.listed_date
    h.ensure(date(2008, 12, 31))
    assert h.bar_at(0).date == market.calendar.session_on_or_after(inst.listed_date)


def test_quotes_of_today_do_not_generate_the_old_years():
    market = _market()
    market.quote("005930")
    h = market.history("005930")
    assert int(h.ordinals[0]) >= h.anchor.toordinal()


def test_old_years_do_not_change_the_anchored_ones_and_join_them():
    plain, deep = _market(), _market()
    deep_h = deep.history("005930")
    deep_h.bar(date(1990, 6, 1))  # generates 1990..2011 backwards first
    for day in (date(2012, 1, 2), date(2018, 5, 4), date(2024, 6, 13)):
        assert deep_h.bar(day) == plain.history("005930").bar(day)
    last_before = deep_h.bar(deep.calendar.previous_session(deep_h.anchor))
    assert last_before.close == deep_h.bar(deep_h.anchor).ref


def test_paging_back_reaches_1985_through_the_chart_reader():
    market = _market()
    bars = market.daily_bars("005930", date(1985, 2, 28), 600)
    assert bars and bars[-1].date == date(1985, 1, 4)
    assert [b.date for b in bars] == sorted((b.date for b in bars), reverse=True)
    h = market.history("005930")
    i = h.index_on_or_before(date(2024, 6, 13))
    assert h.bar_at(0).date == date(1985, 1, 4) and i > 9000  # ~40 years of sessions


def test_every_reference_is_the_previous_close_across_the_old_years():
    h = _market().history("005930")
    h.ensure(h.start)
    i = h.index_on_or_before(date(2012, 12, 31))
    bars = h.bars_at(0, i)
    joined = sum(1 for a, b in zip(bars, bars[1:]) if b.ref == a.close)
    assert bars[0].date == date(1985, 1, 4) and joined >= len(bars) - 3  # clamps at +-30% are rare
