"""KRX price grid: tick sizes, rounding to the grid, daily price limits (scalar and vectorised).

Stocks use the unified KOSPI/KOSDAQ table in force since 2023-01-25 for every date (history
included; the older per-market tables are not modelled). ETFs trade in 5 KRW steps at every price
level. Index values are x100 integers with a step of 1 (0.01 point) and have no limits.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np

# the one tick table, shared with the broker's order checks (stdlib only, so the broker can import it)
from koabus.metadata.ticks import ETF_TICK, INDEX_TICK, STOCK_TICKS, STOCK_TOP_TICK, tick_size

LIMIT_RATE_PCT = 30

_BOUNDS = np.array([b for b, _ in STOCK_TICKS], dtype=np.int64)
_STEPS = np.array([s for _, s in STOCK_TICKS] + [STOCK_TOP_TICK], dtype=np.int64)


def tick_sizes(prices: np.ndarray, kind: str = "stock") -> np.ndarray:
    """Vectorised `tick_size` over an array of prices."""
    prices = np.asarray(prices)
    if kind == "etf":
        return np.full(prices.shape, ETF_TICK, dtype=np.int64)
    if kind == "index":
        return np.full(prices.shape, INDEX_TICK, dtype=np.int64)
    return _STEPS[np.searchsorted(_BOUNDS, prices, side="right")]


def on_tick(price: int, kind: str = "stock") -> bool:
    return price > 0 and price % tick_size(price, kind) == 0


def round_to_tick(price: float, kind: str = "stock") -> int:
    """Nearest grid price (half up). Every grid boundary is a multiple of the coarser step, so the
    result is always on the grid of its own level."""
    step = tick_size(price, kind)
    rounded = int((price + step / 2.0) // step) * step
    return max(rounded, step)


def round_to_ticks(prices: np.ndarray, kind: str = "stock") -> np.ndarray:
    """Vectorised `round_to_tick` (returns int64)."""
    prices = np.asarray(prices, dtype=np.float64)
    steps = tick_sizes(prices, kind)
    rounded = np.floor((prices + steps / 2.0) / steps).astype(np.int64) * steps
    return np.maximum(rounded, steps)


def floor_to_tick(price: float, kind: str = "stock") -> int:
    """Largest grid price <= price."""
    p = int(price // 1)
    step = tick_size(p, kind)
    return p - p % step


def ceil_to_tick(price: float, kind: str = "stock") -> int:
    """Smallest grid price >= price."""
    p = int(-(-price // 1))
    step = tick_size(p, kind)
    return p + (-p) % step


def tick_up(price: int, kind: str = "stock") -> int:
    """The next grid price above `price` (which is on the grid)."""
    return price + tick_size(price, kind)


def tick_down(price: int, kind: str = "stock") -> int:
    """The next grid price below `price` (0 when there is none)."""
    below = price - 1
    if below <= 0:
        return 0
    return below - below % tick_size(below, kind)


def limits(ref: int, kind: str = "stock", rate_pct: int = LIMIT_RATE_PCT) -> Tuple[int, int]:
    """(upper, lower) daily price limits: ref +-30%, cut inward to the grid (KRX rule).

    E.g. ref 77,500 -> lower 54,300 (54,250 rounded up to the 100 step), as seen on the mock server.
    Indices have no limits: (0, 0).
    """
    if kind == "index":
        return 0, 0
    upper = floor_to_tick(ref * (100 + rate_pct) // 100, kind)
    lower = ceil_to_tick(-(-ref * (100 - rate_pct) // 100), kind)
    return upper, max(lower, tick_size(1, kind))
