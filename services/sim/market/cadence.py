"""Quote activity between prints for one (instrument, session): the instants the visible book
refreshes, the indicative auction price and quantity, brief one-tick spread widenings, and the
best quotes right after each refresh.

The book refreshes at a steady per-code cadence (faster for active codes) from the pre-open
auction (08:30) to the close (15:30). Every refresh redraws the level sizes; during the auctions it
moves the indicative price (예상체결가) from where the auction started towards the price it will
print; during continuous trading it sometimes thins the best level away for a moment (the spread
widens by one tick until the next print or refresh). All of it is a pure function of the seed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from . import ticks
from .calendar import SessionTimes
from .intraday import DayPath
from .listing import Instrument
from .streams import TAG_CADENCE, code_key, stream

SIZE_ROWS = 512
BOOK_LEVELS = 10
MIN_INTERVAL_S = 0.25
MAX_INTERVAL_S = 3.0
AUCTION_WOBBLE_BUCKET_S = 10.0
WIDEN_ASK, WIDEN_BID = 1, 2


def refresh_interval_s(inst: Instrument, base_s: float) -> float:
    """Seconds between book refreshes: `base_s` for an average code, shorter for active ones."""
    return float(min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, base_s / max(inst.activity, 0.1))))


@dataclass
class DayCadence:
    """Book refreshes of one code on one session. Arrays share one index (one entry per refresh):
    t (epoch s, ms resolution, sorted), trade_i (last print at or before it, -1 if none), ask1/bid1
    (best quotes after it; 0 for an empty side), exp_price/exp_qty (indicative auction price and
    quantity, 0 outside the auctions), widen (0, WIDEN_ASK or WIDEN_BID); int32 but t. `sizes` holds the level
    size multipliers that books draw rows from."""

    interval_s: float
    t: np.ndarray
    trade_i: np.ndarray
    ask1: np.ndarray
    bid1: np.ndarray
    exp_price: np.ndarray
    exp_qty: np.ndarray
    widen: np.ndarray
    sizes: np.ndarray

    def __len__(self) -> int:
        return len(self.t)

    def index_at(self, ts: float) -> int:
        """Index of the last refresh at or before ts (-1 if none)."""
        return int(np.searchsorted(self.t, ts, side="right")) - 1

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the market bounds its cadence cache by this)."""
        return sum(a.nbytes for a in (self.t, self.trade_i, self.ask1, self.bid1, self.exp_price, self.exp_qty,
                                      self.widen, self.sizes))

    def size_row(self, trade_i: int, refresh_k: int) -> np.ndarray:
        """The size multipliers of the book after print `trade_i` and refresh `refresh_k`."""
        return self.sizes[((trade_i + 1) * 7919 + (refresh_k + 1) * 104729) % SIZE_ROWS]


def _tick_up(p: np.ndarray, kind: str) -> np.ndarray:
    return p + ticks.tick_sizes(p, kind)


def _tick_down(p: np.ndarray, kind: str) -> np.ndarray:
    below = p - 1
    safe = np.maximum(below, 1)
    out = below - below % ticks.tick_sizes(safe, kind)
    return np.where(below <= 0, 0, out)


def _expected(path: DayPath, tt: np.ndarray, kind: str, upper: int, lower: int,
              rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """Indicative (price, qty) at each instant of `tt` (0 outside the auctions): from the auction's
    starting price (the reference, or the last continuous print) towards the price the auction
    prints, with a seeded wobble that fades as the end nears; the quantity grows to the print's."""
    times, bar = path.times, path.bar
    price = np.zeros(len(tt), dtype=np.int64)
    qty = np.zeros(len(tt), dtype=np.int64)
    if path.reg_first < 0:
        return price, qty
    auctions = []
    start, end = times.t("pre_open_auction"), times.open_t
    auctions.append((start, end, bar.ref, bar.open, abs(int(path.qty[path.reg_first]))))
    start, end = times.t("closing_auction"), times.close_t
    j = path.last_regular(path.index_at(start))
    origin = int(path.price[j]) if j >= 0 else bar.ref
    auctions.append((start, end, origin, bar.close, abs(int(path.qty[path.reg_last]))))
    for start, end, origin, final, final_qty in auctions:
        inside = (tt >= start) & (tt < end)
        if not inside.any():
            rng.uniform(-1, 1, int((end - start) // AUCTION_WOBBLE_BUCKET_S) + 1)  # keep draws aligned
            continue
        wobbles = rng.uniform(-1, 1, int((end - start) // AUCTION_WOBBLE_BUCKET_S) + 1) * 0.3
        x = tt[inside]
        w = 0.3 + 0.7 * np.clip((x - start) / (end - start), 0.0, 1.0)
        bucket = ((x - start) // AUCTION_WOBBLE_BUCKET_S).astype(np.int64)
        raw = origin + (final - origin) * w + wobbles[bucket] * (1.0 - w) * abs(final - origin + 1)
        p = np.clip(ticks.round_to_ticks(raw, kind), lower, upper)
        price[inside] = p
        qty[inside] = np.maximum((final_qty * w).astype(np.int64), 1)
    return price, qty


def build_cadence(inst: Instrument, path: DayPath, times: SessionTimes, seed: int, base_s: float,
                  widen_p: float) -> DayCadence:
    """The refreshes of one session (none for indices)."""
    kind = inst.kind
    key = code_key(inst.code)
    rng = stream(seed, TAG_CADENCE, key, times.day.toordinal())
    interval = refresh_interval_s(inst, base_s)
    sizes = rng.lognormal(0.0, 0.6, (SIZE_ROWS, 2 * BOOK_LEVELS))
    start, end = times.t("pre_open_auction"), times.close_t
    if kind == "index":
        empty = np.zeros(0, dtype=np.int64)
        return DayCadence(interval, np.zeros(0), empty, empty, empty, empty, empty, empty.astype(np.int8), sizes)
    offset = (key % 1000) / 1000.0 * interval
    tt = np.round(start + offset + interval * np.arange(int((end - start - offset) / interval) + 1), 3)
    tt = tt[tt < end]
    upper, lower = ticks.limits(path.bar.ref, kind)
    exp_price, exp_qty = _expected(path, tt, kind, upper, lower, rng)
    trade_i = np.searchsorted(path.t, tt, side="right") - 1
    if path.reg_first >= 0:
        j = np.where(trade_i >= path.reg_first, np.minimum(trade_i, path.reg_last), -1)
    else:
        j = np.full(len(tt), -1, dtype=np.int64)
    safe_j = np.maximum(j, 0)
    center = np.where(j >= 0, path.price[safe_j], path.bar.ref).astype(np.int64)
    sign = np.where(j >= 0, np.sign(path.qty[safe_j]), 1)
    sign = np.where(sign == 0, 1, sign)
    auction = exp_price > 0
    center = np.where(auction, exp_price, center)
    sign = np.where(auction, 1, sign)
    ask = np.where(sign >= 0, center, _tick_up(center, kind))
    bid = np.where(sign >= 0, _tick_down(center, kind), center)
    ask = np.where((ask > upper) | (ask < lower), 0, ask)
    bid = np.where((bid <= 0) | (bid < lower) | (bid > upper), 0, bid)
    draw = rng.random(len(tt))
    continuous = (tt >= times.open_t) & (tt < times.t("closing_auction"))
    widen = np.where(continuous & (draw < widen_p), WIDEN_ASK,
                     np.where(continuous & (draw >= widen_p) & (draw < 2 * widen_p), WIDEN_BID, 0)).astype(np.int8)
    wider_ask = _tick_up(ask, kind)
    wider_bid = _tick_down(bid, kind)
    ask = np.where((widen == WIDEN_ASK) & (ask > 0) & (wider_ask <= upper), wider_ask, ask)
    bid = np.where((widen == WIDEN_BID) & (bid > 0) & (wider_bid >= lower) & (wider_bid > 0), wider_bid, bid)
    # int32: a busy code refreshes ~10^5 times a session and the listing's cadences are cached together
    return DayCadence(interval, tt, trade_i.astype(np.int32), ask.astype(np.int32), bid.astype(np.int32),
                      exp_price.astype(np.int32), exp_qty.astype(np.int32), widen, sizes)
