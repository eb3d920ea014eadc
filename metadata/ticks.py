"""The KRX price grid (호가단위) as data: one table for the broker's order checks and the simulated market.

Stocks (KOSPI, KOSDAQ, KONEX) use the unified table in force since 2023-01-25; ETFs, ETNs and ELWs
trade in 5 KRW steps at every price; index values (x100 integers) step by 1. Every band boundary is
a multiple of the coarser step above it, so rounding to the grid at a band's edge stays on the grid.
Standard library only: the broker imports it.
"""
from __future__ import annotations

from typing import Tuple

# (upper bound exclusive, tick) for stocks; the last tick applies above the last bound.
STOCK_TICKS = ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500))
STOCK_TOP_TICK = 1_000
ETF_TICK = 5
INDEX_TICK = 1
#: instrument kinds that trade in ETF_TICK steps at every price
FIVE_WON_KINDS = frozenset({"etf", "etn", "elw"})


def tick_size(price: int, kind: str = "stock") -> int:
    """The price step at `price` for an instrument of `kind` ("stock", "etf", "etn", "elw", "index")."""
    if kind in FIVE_WON_KINDS:
        return ETF_TICK
    if kind == "index":
        return INDEX_TICK
    for bound, step in STOCK_TICKS:
        if price < bound:
            return step
    return STOCK_TOP_TICK


def on_grid(price: int, kind: str = "stock") -> bool:
    """A positive price that is a multiple of the step of its own band."""
    return price > 0 and price % tick_size(price, kind) == 0


def grid_around(price: int, kind: str = "stock") -> Tuple[int, int]:
    """(the largest grid price <= price, the smallest grid price >= price); 0 below the first step."""
    below = price - price % tick_size(price, kind) if price > 0 else 0
    above = price + (-price) % tick_size(price, kind) if price > 0 else tick_size(1, kind)
    return below, above
