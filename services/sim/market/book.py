"""The visible order book: ten levels each side around the last price, sizes seeded per second."""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

from . import ticks
from .models import Book

LEVELS = 10
EMPTY_LEVEL = (0, 0)


def build_book(code: str, kind: str, ts: float, center: int, last_sign: int, upper: int, lower: int,
               avg_trade_qty: float, rng: np.random.Generator, expected: Tuple[int, int] = (0, 0)) -> Book:
    """Levels around `center`: after a buy-initiated print the best ask is the print's price,
    after a sell-initiated one the best bid is. Sizes grow with depth (a few average trades at
    the top, more behind), all inside [lower, upper] and on the grid."""
    if kind == "index" or center <= 0:
        empty = (EMPTY_LEVEL,) * LEVELS
        return Book(code, ts, empty, empty, 0, 0, *expected)
    if last_sign >= 0:
        ask1, bid1 = center, ticks.tick_down(center, kind)
    else:
        bid1, ask1 = center, ticks.tick_up(center, kind)
    asks: List[Tuple[int, int]] = []
    bids: List[Tuple[int, int]] = []
    base = max(1.0, avg_trade_qty) * 3.0
    sizes = rng.lognormal(0.0, 0.6, 2 * LEVELS)
    p = ask1
    for level in range(LEVELS):
        if p <= 0 or p > upper or p < lower:
            break
        asks.append((p, max(1, int(base * (0.6 + 0.15 * level) * sizes[level]))))
        p = ticks.tick_up(p, kind)
    p = bid1
    for level in range(LEVELS):
        if p <= 0 or p < lower or p > upper:
            break
        bids.append((p, max(1, int(base * (0.6 + 0.15 * level) * sizes[LEVELS + level]))))
        p = ticks.tick_down(p, kind)
    total_ask = sum(q for _, q in asks)
    total_bid = sum(q for _, q in bids)
    asks += [EMPTY_LEVEL] * (LEVELS - len(asks))
    bids += [EMPTY_LEVEL] * (LEVELS - len(bids))
    return Book(code, ts, tuple(asks), tuple(bids), total_ask, total_bid, *expected)
