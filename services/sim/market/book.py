"""The visible order book: ten levels each side from the best quotes, sizes from a seeded table."""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

from . import ticks
from .models import Book

LEVELS = 10
EMPTY_LEVEL = (0, 0)
#: a level's size relative to the top one's: deeper levels hold more
_DEPTH = tuple(0.6 + 0.15 * level for level in range(LEVELS))
#: (best price, kind, upwards) -> the LEVELS grid prices from it (a book is built per quote event, and
#: its best prices repeat): bounded, cleared when full
_LADDERS: Dict[Tuple[int, str, bool], Tuple[int, ...]] = {}
_LADDERS_MAX = 20_000


def best_around(center: int, last_sign: int, kind: str, upper: int, lower: int) -> Tuple[int, int]:
    """(best ask, best bid) around `center`: after a buy-initiated print the best ask is the print's
    price, after a sell-initiated one the best bid is. A side beyond the price limits is 0."""
    if kind == "index" or center <= 0:
        return 0, 0
    if last_sign >= 0:
        ask1, bid1 = center, ticks.tick_down(center, kind)
    else:
        bid1, ask1 = center, ticks.tick_up(center, kind)
    if ask1 > upper or ask1 < lower:
        ask1 = 0
    if bid1 <= 0 or bid1 < lower or bid1 > upper:
        bid1 = 0
    return ask1, bid1


def build_book(code: str, kind: str, ts: float, ask1: int, bid1: int, upper: int, lower: int,
               avg_trade_qty: float, sizes: Sequence[float], expected: Tuple[int, int] = (0, 0)) -> Book:
    """Levels from the best quotes outwards, all inside [lower, upper] and on the grid. Sizes grow
    with depth (a few average trades at the top, more behind), scaled by `sizes` (2 x LEVELS
    multipliers: asks then bids)."""
    if kind == "index" or (ask1 <= 0 and bid1 <= 0):
        empty = (EMPTY_LEVEL,) * LEVELS
        return Book(code, ts, empty, empty, 0, 0, *expected)
    base = max(1.0, avg_trade_qty) * 3.0
    asks: List[Tuple[int, int]] = []
    bids: List[Tuple[int, int]] = []
    for level, p in enumerate(_ladder(ask1, kind, True)):
        if p <= 0 or p > upper or p < lower:
            break
        asks.append((p, max(1, int(base * _DEPTH[level] * sizes[level]))))
    for level, p in enumerate(_ladder(bid1, kind, False)):
        if p <= 0 or p < lower or p > upper:
            break
        bids.append((p, max(1, int(base * _DEPTH[level] * sizes[LEVELS + level]))))
    total_ask = sum(q for _, q in asks)
    total_bid = sum(q for _, q in bids)
    asks += [EMPTY_LEVEL] * (LEVELS - len(asks))
    bids += [EMPTY_LEVEL] * (LEVELS - len(bids))
    return Book(code, ts, tuple(asks), tuple(bids), total_ask, total_bid, *expected)


def _ladder(best: int, kind: str, up: bool) -> Tuple[int, ...]:
    """`best` and the grid prices after it, away from the spread, LEVELS in all; it stops at the first
    price that is not positive (below the lowest tick)."""
    key = (best, kind, up)
    ladder = _LADDERS.get(key)
    if ladder is None:
        prices = []
        p = best
        for _ in range(LEVELS):
            prices.append(p)
            if p <= 0:
                break
            p = ticks.tick_up(p, kind) if up else ticks.tick_down(p, kind)
        if len(_LADDERS) >= _LADDERS_MAX:
            _LADDERS.clear()
        ladder = _LADDERS[key] = tuple(prices)
    return ladder
