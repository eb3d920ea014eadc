"""Daily history, intraday prints, books and bars: determinism and self-consistency."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koabus.common.errors import NotFound
from koabus.services.sim.market import Phase, ticks
from koabus.services.sim.market.listing import EVENT_SPLIT, Listing
from koabus.services.sim.market.models import REGULAR_KINDS

from .conftest import kst

DAY = date(2025, 3, 6)
PAST_DAY = date(2025, 3, 5)
SAMPLE_CODES = ["005930", "000660", "247540", "069500", "252670", "010140", "207940"]


def test_same_seed_same_values_whatever_the_query_order(make_market):
    a = make_market(kst(2025, 3, 6, 11, 0))
    b = make_market(kst(2025, 3, 6, 11, 0))
    times = [kst(2025, 3, 6, h, m).timestamp() for h, m in ((9, 5), (10, 30), (13, 0), (15, 25))]
    # b warms other codes and other days first, then asks in reverse order
    b.quote("000660", times[2])
    b.daily_bars("005930", date(2016, 1, 4), 5)
    qb = [b.quote("005930", t) for t in reversed(times)][::-1]
    qa = [a.quote("005930", t) for t in times]
    assert qa == qb
    assert a.daily_bars("005930", DAY, 300) == b.daily_bars("005930", DAY, 300)
    assert a.book("005930", times[1]) == b.book("005930", times[1])


def test_different_seeds_differ(make_market):
    a = make_market(kst(2025, 3, 6, 11, 0), seed=1)
    b = make_market(kst(2025, 3, 6, 11, 0), seed=2)
    assert a.daily_bars("005930", DAY, 20) != b.daily_bars("005930", DAY, 20)


def test_trade_windows_split_or_whole_give_the_same_prints(midday_market):
    m = midday_market
    t0, t1 = kst(2025, 3, 5, 8, 0).timestamp(), kst(2025, 3, 5, 18, 30).timestamp()
    whole = m.trades_between("035420", t0, t1)
    cuts = np.linspace(t0, t1, 37)
    pieces = [tr for a, b in zip(cuts[:-1], cuts[1:]) for tr in m.trades_between("035420", a, b)]
    assert whole == pieces and len(whole) > 500
    assert all(x.t <= y.t for x, y in zip(whole, whole[1:]))


def test_past_day_prints_agree_with_the_daily_bar(midday_market):
    m = midday_market
    for code in SAMPLE_CODES:
        bar = m.daily_bar(code, PAST_DAY)
        times = m.session_times(PAST_DAY)
        prints = m.trades_between(code, times.t("pre_market"), times.day_end_t)
        regular = [p for p in prints if p.kind in REGULAR_KINDS]
        assert regular[0].price == bar.open and regular[0].kind == "open_auction"
        assert regular[-1].price == bar.close and regular[-1].kind == "close_auction"
        assert max(p.price for p in regular) == bar.high
        assert min(p.price for p in regular) == bar.low
        assert sum(abs(p.qty) for p in prints) == bar.volume == prints[-1].volume
        assert prints[-1].value == bar.value
        q = m.quote(code, times.day_end_t + 60)
        assert (q.open, q.high, q.low, q.last, q.volume) == (bar.open, bar.high, bar.low, bar.close, bar.volume)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(code=st.sampled_from(Listing.default().codes()),
       offset_s=st.floats(min_value=0, max_value=11 * 3600))
def test_prints_and_books_respect_grid_and_limits(midday_market, code, offset_s):
    m = midday_market
    kind = m.instrument(code).kind
    t = kst(2025, 3, 5, 7, 30).timestamp() + offset_s
    upper, lower = m.limits(code, PAST_DAY)
    for p in m.trades_between(code, t - 600, t):
        assert lower <= p.price <= upper and ticks.on_tick(p.price, kind), p
        assert p.qty != 0
    book = m.book(code, t)
    asks = [p for p, q in book.asks if q]
    bids = [p for p, q in book.bids if q]
    assert asks or bids
    for p in asks + bids:
        assert lower <= p <= upper and ticks.on_tick(p, kind)
    assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
    if asks and bids:
        assert asks[0] > bids[0]
    q = m.quote(code, t)
    assert lower <= q.last <= upper and q.upper == upper and q.lower == lower


def test_history_spans_more_than_ten_years(midday_market):
    bars = midday_market.daily_bars("005930", DAY, 3000)
    assert bars[-1].date <= DAY - timedelta(days=3650)
    assert all(a.date > b.date for a, b in zip(bars, bars[1:]))
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        upper, lower = ticks.limits(bar.ref)
        assert lower <= bar.low and bar.high <= upper
        assert all(ticks.on_tick(p) for p in (bar.open, bar.high, bar.low, bar.close))


def test_reference_is_yesterdays_close(midday_market):
    m = midday_market
    for code in SAMPLE_CODES:
        yesterday = m.daily_bar(code, PAST_DAY)
        assert m.reference_price(code) == yesterday.close
        assert m.quote(code).ref == yesterday.close
    # Monday's reference is Friday's close
    assert m.reference_price("000660", date(2025, 3, 10)) == m.daily_bar("000660", date(2025, 3, 7)).close


def test_split_makes_adjusted_prices_differ_before_the_event(midday_market):
    m = midday_market
    raw = m.daily_bars("005930", date(2018, 5, 4), 3)
    adj = m.daily_bars("005930", date(2018, 5, 4), 3, adjusted=True)
    assert raw[0] == adj[0] and raw[0].event_flags & EVENT_SPLIT and raw[0].adj_ratio == 1 / 50
    before_raw, before_adj = raw[1], adj[1]
    assert before_raw.close > 40 * before_adj.close
    assert before_adj.close == round(before_raw.close / 50)
    assert before_adj.volume == before_raw.volume * 50
    # the event day's reference continues the adjusted series
    assert abs(raw[0].ref - before_adj.close) <= ticks.tick_size(raw[0].ref)


def test_before_the_open_the_quote_shows_the_reference(make_market):
    m = make_market(kst(2025, 3, 6, 7, 0))
    q = m.quote("005930")
    assert q.last == q.ref and q.volume == 0 and q.open == 0 and q.sign == 3
    assert q.phase is Phase.CLOSED
    # today's bar is not visible before the open
    assert m.daily_bars("005930", DAY, 1)[0].date == PAST_DAY


def test_auction_shows_an_expected_price_that_becomes_the_open(make_market):
    m = make_market(kst(2025, 3, 6, 8, 59, 59))
    q = m.quote("000660")
    bar = m.daily_bar("000660", DAY)
    assert q.phase is Phase.PRE_OPEN_AUCTION and q.expected_price > 0 and q.expected_qty > 0
    assert abs(q.expected_price - bar.open) <= 3 * ticks.tick_size(bar.open)
    after = m.quote("000660", kst(2025, 3, 6, 9, 0).timestamp())
    assert after.open == after.last == bar.open and after.expected_price == 0


def test_todays_partial_bar_follows_the_clock(make_market):
    m = make_market(kst(2025, 3, 6, 11, 0))
    partial = m.daily_bars("005930", DAY, 2)
    q = m.quote("005930")
    assert partial[0].date == DAY and partial[0].close == q.last and partial[0].volume == q.volume
    assert partial[1].date == PAST_DAY
    full = m.daily_bar("005930", DAY)
    assert partial[0].volume < full.volume
    m.clock.set_time(kst(2025, 3, 6, 19, 0))
    assert m.daily_bars("005930", DAY, 1)[0] == full
    assert m.daily_bars("005930", date(2030, 1, 1), 1)[0].date == DAY  # never the future


def test_minute_bars_rebuild_the_day(midday_market):
    m = midday_market
    end = kst(2025, 3, 5, 20, 0).timestamp()
    bars = m.minute_bars("000660", 1, end, 900)
    day_bars = [b for b in bars if b.t <= end and b.t > kst(2025, 3, 5, 0, 0).timestamp()]
    bar = m.daily_bar("000660", PAST_DAY)
    assert day_bars[0].t == kst(2025, 3, 5, 15, 30).timestamp()  # closing auction
    assert day_bars[-1].t == kst(2025, 3, 5, 9, 1).timestamp()  # first bar holds the 09:00 auction
    assert day_bars[-1].open == bar.open and day_bars[0].close == bar.close
    assert max(b.high for b in day_bars) == bar.high and min(b.low for b in day_bars) == bar.low
    prints = m.trades_between("000660", kst(2025, 3, 5, 0, 0).timestamp(), end)
    assert sum(b.volume for b in day_bars) == sum(abs(p.qty) for p in prints if p.is_regular)
    assert len(bars) == 900 and bars[-1].t < kst(2025, 3, 4, 15, 31).timestamp()  # reaches back
    assert all(a.t > b.t for a, b in zip(bars, bars[1:]))


def test_minute_and_tick_bars_stop_at_the_clock(midday_market):
    m = midday_market
    now = m.clock.time()
    five = m.minute_bars("005930", 5, now + 3600, 3)
    assert five[0].t <= now + 300 and five[0].t > now - 300
    ticks10 = m.tick_bars("005930", 10, now, 5)
    assert ticks10[0].t <= now and all(a.t > b.t for a, b in zip(ticks10, ticks10[1:]))
    assert sum(b.volume for b in ticks10[1:5]) > 0


def test_period_bars_aggregate_daily_bars(midday_market):
    m = midday_market
    months = m.period_bars("035720", "month", date(2025, 2, 28), 3)
    days = [b for b in m.daily_bars("035720", date(2025, 2, 28), 40) if b.date.month == 2]
    assert months[0].date == days[-1].date
    assert months[0].high == max(b.high for b in days) and months[0].close == days[0].close
    assert months[0].volume == sum(b.volume for b in days)
    weeks = m.period_bars("035720", "week", DAY, 2)
    assert weeks[0].date == date(2025, 3, 4)  # Monday 3 March 2025 was a holiday
    years = m.period_bars("035720", "year", DAY, 30)
    assert years[0].date == date(2025, 1, 2) and len(years) >= 8


def test_indices_have_levels_and_no_book(midday_market):
    q = midday_market.index_quote("001")
    assert 100_000 < q.last < 600_000 and q.upper == 0 and q.volume > 0
    assert midday_market.book("001").total_ask_qty == 0
    assert len(midday_market.index_daily_bars("101", DAY, 5)) == 5


def test_unknown_code_is_not_found(midday_market):
    with pytest.raises(NotFound):
        midday_market.quote("999999")


def test_trading_state_is_the_quote_without_the_book(make_market):
    market = make_market(kst(2025, 3, 6, 8, 0))
    for offset_s in (0, 3600, 3600 + 1800, 4 * 3600, 7 * 3600 + 1500, 9 * 3600):
        t = kst(2025, 3, 6, 8, 0).timestamp() + offset_s
        for code in ("005930", "247540", "069500"):
            q = market.quote(code, t)
            assert market.trading_state(code, t) == (q.code, q.last, q.high, q.volume, q.rate)


def test_block_reads_of_the_history_match_single_rows(midday_market):
    h = midday_market.history("005930")  # a split in its history: adjusted rows differ
    last = h.index_on_or_before(kst(2025, 3, 5).date())
    for adjusted in (False, True):
        block = h.bars_at(last - 2000, last, adjusted)
        assert block == [h.bar_at(i, adjusted) for i in range(last - 2000, last + 1)]
    # a negative first row reaches into the years before the generated ones (down to 1985)
    first = h.bar_at(0)
    before = h.bars_at(-5, -1)
    assert len(before) == 5 and before[-1].date < first.date and before[-1].close == first.ref
    h.ensure(h.start)  # the whole history: nothing comes before its first row
    assert h.bars_at(-5, -1) == [] and h.bars_at(-3, 1) == [h.bar_at(0), h.bar_at(1)]
    last = h.index_on_or_before(kst(2025, 3, 5).date())
    split_day = [b for b in h.bars_at(0, last) if b.event_flags]
    assert [b.date.isoformat() for b in split_day] == ["2018-05-04"] and split_day[0].adj_ratio == 1 / 50
