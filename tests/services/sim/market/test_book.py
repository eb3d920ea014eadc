"""The visible book's levels: on the grid, inside the limits, from the best quotes outwards, the grid
prices taken from a bounded cache of ladders (a book is built on every quote event)."""
from __future__ import annotations

import pytest

from koabus.services.sim.market import book, ticks

SIZES = [1.0 + 0.01 * i for i in range(2 * book.LEVELS)]


@pytest.mark.parametrize("kind, ask1, bid1", [("stock", 77_100, 77_000), ("stock", 1_005, 1_000),
                                              ("stock", 2_005, 2_000), ("stock", 3, 2), ("etf", 10_005, 10_000)])
def test_levels_step_the_grid_outwards_inside_the_limits(kind, ask1, bid1):
    upper, lower = ask1 + 40 * ticks.tick_size(ask1, kind), max(1, bid1 - 4 * ticks.tick_size(bid1, kind))
    levels = book.build_book("005930", kind, 0.0, ask1, bid1, upper, lower, 10.0, SIZES)
    asks = [p for p, _ in levels.asks if p]
    bids = [p for p, _ in levels.bids if p]
    expected_asks, p = [], ask1
    while len(expected_asks) < book.LEVELS and lower <= p <= upper:
        expected_asks.append(p)
        p = ticks.tick_up(p, kind)
    expected_bids, p = [], bid1
    while len(expected_bids) < book.LEVELS and p > 0 and lower <= p <= upper:
        expected_bids.append(p)
        p = ticks.tick_down(p, kind)
    assert (asks, bids) == (expected_asks, expected_bids)
    assert len(levels.asks) == len(levels.bids) == book.LEVELS  # padded with empty levels
    assert levels.total_ask_qty == sum(q for _, q in levels.asks)
    assert levels.total_bid_qty == sum(q for _, q in levels.bids)


def test_a_ladder_stops_below_the_lowest_tick_and_the_cache_stays_bounded(monkeypatch):
    assert book._ladder(2, "stock", False) == (2, 1, 0)
    assert book._ladder(0, "stock", True) == (0,)
    monkeypatch.setattr(book, "_LADDERS", {})
    monkeypatch.setattr(book, "_LADDERS_MAX", 3)
    for best in range(1_000, 1_010):
        book._ladder(best, "stock", True)
    assert 1 <= len(book._LADDERS) <= 3
    assert book._ladder(1_000, "stock", True)[:3] == (1_000, 1_001, 1_002)
