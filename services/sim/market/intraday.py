"""Intraday trade paths: for one (instrument, session) every print of the day, built from that
day's daily bar so the regular-session open/high/low/close and the day's volume agree with it.

A path is a bridge through the bar's open (09:00 auction), high, low and close (15:30 auction),
sampled at trade times placed by the intraday profile (open burst, lunch lull, close ramp;
intensity.py), rounded to the tick grid. How many trades and how big follows the code's liquidity
tier: trades ~ the continuous session's KRW value / the tier's mean trade value (005930: ~75,000 on
a day like the recorded one), sizes heavy-tailed (mostly a few shares, some blocks). Around it: pre-market
after-hours prints at the reference price (08:30-08:40), post-market after-hours prints at the close
(15:40-16:00) and ten-minute single-price matches within +-10% of the close (16:00-18:00).
Everything is vectorised (a 100,000-print day builds in tens of milliseconds), so a path is built in
one go on first use and cached.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ticks
from .calendar import SessionTimes
from .intensity import average_daily_value, tier_of, trade_times, volume_fraction
from .listing import Instrument
from .models import (
    TRADE_KINDS,
    DailyBar,
    Trade,
)

KIND_INDEX = {name: i for i, name in enumerate(TRADE_KINDS)}
K_PRE, K_OPEN, K_CONT, K_CLOSE, K_AFTER, K_SINGLE = (KIND_INDEX[k] for k in TRADE_KINDS)

INDEX_POINT_SPACING_S = 10.0
# Trades grow less than proportionally with a day's value (bigger tickets on busy days) [unc].
COUNT_ELASTICITY = 0.8
# The continuous session's share of a typical day's volume (the rest: auctions, after-hours).
TYPICAL_CONTINUOUS_SHARE = 0.93
SINGLE_PRICE_MATCH_MIN = 10


@dataclass
class DayPath:
    """All prints of one instrument on one session, in time order, with running aggregates.

    Arrays (same length): t (epoch s), price, qty (signed), kind (index into TRADE_KINDS),
    cum_vol, cum_val, cum_buy_n, cum_sell_n, cum_buy_vol, cum_sell_vol; for the regular block
    [reg_first, reg_last]: run_high/run_low and the index where each was first reached. Prices,
    single sizes, counts and indices are int32 (a liquid day has 10^5 prints; the listing's day
    several million), running share and KRW sums int64.
    """

    code: str
    bar: DailyBar
    times: SessionTimes
    t: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    kind: np.ndarray
    cum_vol: np.ndarray
    cum_val: np.ndarray
    cum_buy_n: np.ndarray
    cum_sell_n: np.ndarray
    cum_buy_vol: np.ndarray
    cum_sell_vol: np.ndarray
    reg_first: int
    reg_last: int
    run_high: np.ndarray
    run_low: np.ndarray
    high_at: np.ndarray
    low_at: np.ndarray
    upper_at: int
    lower_at: int
    avg_trade_qty: float

    def __len__(self) -> int:
        return len(self.t)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (the market's cache is bounded by prints, this says why)."""
        return sum(a.nbytes for a in (self.t, self.price, self.qty, self.kind, self.cum_vol, self.cum_val,
                                      self.cum_buy_n, self.cum_sell_n, self.cum_buy_vol, self.cum_sell_vol,
                                      self.run_high, self.run_low, self.high_at, self.low_at))

    def index_at(self, ts: float) -> int:
        """Index of the last print with t <= ts (-1 if none)."""
        return int(np.searchsorted(self.t, ts, side="right")) - 1

    def trade(self, i: int) -> Trade:
        return Trade(
            t=float(self.t[i]), price=int(self.price[i]), qty=int(self.qty[i]),
            volume=int(self.cum_vol[i]), value=int(self.cum_val[i]),
            kind=TRADE_KINDS[int(self.kind[i])],
        )

    def last_regular(self, i: int) -> int:
        """Index of the last regular print at or before index i (-1 if none yet)."""
        if self.reg_first < 0 or i < self.reg_first:
            return -1
        return min(i, self.reg_last)

    def last_single(self, i: int) -> int:
        """Index of the last after-hours single-price print at or before i (-1 if none)."""
        j = i
        while j > self.reg_last and j >= 0:
            if self.kind[j] == K_SINGLE:
                return j
            j -= 1
        return -1


def expected_volume_fraction(elapsed: float) -> float:
    """The share of a typical day's regular volume done when a fraction `elapsed` of the
    continuous session has passed (the opening auction counts from the start)."""
    if elapsed <= 0:
        return 0.015
    return float(min(1.0, 0.015 + 0.94 * volume_fraction(elapsed)))


def trade_count(inst: Instrument, v_cont: int, price: float, rng: np.random.Generator,
                intensity: float) -> int:
    """Continuous-session trades of a day: its KRW value over the tier's mean trade value on a
    typical day; busier days have more trades and somewhat bigger ones (count ~ value^0.8). Times
    `intensity` (1.0 = realistic), with a little day-to-day noise."""
    tier = tier_of(inst)
    value = max(v_cont, 0) * max(price, 1.0)
    typical = max(average_daily_value(inst) * TYPICAL_CONTINUOUS_SHARE, 1.0)
    n = (typical / tier.trade_value_krw) * (value / typical) ** COUNT_ELASTICITY
    return int(n * intensity * np.exp(0.1 * rng.standard_normal()))


def _bridge(rng: np.random.Generator, n: int, o: int, h: int, low: int, c: int) -> np.ndarray:
    """Float prices for points 0..n+1: point 0 = o, n+1 = c, touching h and low in between."""
    pts = np.empty(n + 2, dtype=np.float64)
    if h == low:
        pts[:] = h
        return pts
    i_h, i_l = (int(x) for x in rng.choice(np.arange(1, n + 1), size=2, replace=False))
    anchors = sorted([(0, float(o)), (i_h, float(h)), (i_l, float(low)), (n + 1, float(c))])
    scale = 0.35 * (h - low) / np.sqrt(n + 1)
    pts[0] = o
    for (a, pa), (b, pb) in zip(anchors[:-1], anchors[1:]):
        m = b - a
        frac = np.arange(1, m + 1, dtype=np.float64) / m
        walk = np.cumsum(rng.standard_normal(m) * scale)
        pts[a + 1:b + 1] = pa + (pb - pa) * frac + (walk - frac * walk[-1])
    return pts


def _split(total: int, parts: int, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """Split `total` into `parts` positive ints (heavy-tailed sizes); requires total >= parts.
    Sizes are log-normal weights' shares of the total, rounded by randomly offset systematic
    rounding of the running sum (exact total, O(n): a multinomial over 10^5 parts is slow)."""
    if parts <= 0:
        return np.zeros(0, dtype=np.int64)
    weights = rng.lognormal(0.0, sigma, parts)
    spare = total - parts
    running = np.floor(np.cumsum(weights) * (spare / weights.sum()) + rng.random())
    running = np.minimum(np.maximum.accumulate(running), spare).astype(np.int64)
    running[-1] = spare
    return np.diff(running, prepend=0) + 1


def build_day_path(inst: Instrument, bar: DailyBar, times: SessionTimes, rng: np.random.Generator,
                   intensity: float = 1.0) -> DayPath:
    kind = inst.kind
    is_index = kind == "index"
    ref, o, h, low, c, volume = bar.ref, bar.open, bar.high, bar.low, bar.close, bar.volume
    upper, lower = ticks.limits(ref, kind)
    noise = np.exp(0.3 * rng.standard_normal(5))
    if is_index:
        fractions = np.array([0.0, 0.02, 0.04, 0.0, 0.0]) * noise
    else:
        fractions = np.array([0.003, 0.015, 0.04, 0.005, 0.007]) * noise
    v_pre, v_open, v_close, v_after, v_single = (int(volume * f) for f in fractions)
    v_open, v_close = max(v_open, 1), max(v_close, 1)
    cont_start, cont_end = times.open_t, times.t("closing_auction")
    v_cont = volume - v_pre - v_open - v_close - v_after - v_single
    if is_index:
        n = int((cont_end - cont_start) // INDEX_POINT_SPACING_S) - 1
    else:
        n = trade_count(inst, v_cont, (o + c) / 2.0, rng, intensity)
    if v_cont < 2:  # tiny day: everything in the auctions and two trades
        v_pre = v_after = v_single = 0
        v_open = v_close = max(1, (volume - 2) // 2)
        v_cont = volume - v_open - v_close
    n = int(max(2, min(n, v_cont)))

    # continuous session
    if is_index:
        t_cont = cont_start + INDEX_POINT_SPACING_S * np.arange(1, n + 1, dtype=np.float64)
    else:
        t_cont = trade_times(rng, n, times)
    pts = _bridge(rng, n, o, h, low, c)
    if not is_index:
        pts[1:n + 1] += rng.standard_normal(n) * 0.6 * ticks.tick_sizes(pts[1:n + 1], kind)
    p_cont = ticks.round_to_ticks(np.clip(pts[1:n + 1], low, h), kind)
    p_cont = np.clip(p_cont, low, h)
    if h != low:  # the anchors are exact
        for target in (h, low):
            if not np.any(p_cont == target):
                p_cont[int(np.argmin(np.abs(p_cont - target)))] = target
    q_cont = _split(v_cont, n, rng, 1.0 if is_index else tier_of(inst).size_sigma)
    seq = np.concatenate([[o], p_cont, [c]])
    step = np.diff(seq)
    tie_sign = np.where(rng.random(n + 1) < 0.5, 1, -1)
    signs = np.where(step > 0, 1, np.where(step < 0, -1, tie_sign))
    if is_index:  # index points carry the volume traded since the last point, unsigned
        signs = np.ones(n + 1, dtype=np.int64)

    parts_t = []
    parts_p = []
    parts_q = []
    parts_k = []

    def add(t: np.ndarray, p: np.ndarray, q: np.ndarray, k: int) -> None:
        if len(t):
            parts_t.append(np.asarray(t, dtype=np.float64))
            parts_p.append(np.asarray(p, dtype=np.int64))
            parts_q.append(np.asarray(q, dtype=np.int64))
            parts_k.append(np.full(len(t), k, dtype=np.int8))

    if v_pre > 0:
        k = int(min(v_pre, 1 + rng.poisson(2)))
        t = np.sort(rng.uniform(times.t("pre_market_close_start"), times.t("pre_market_close_end"), k))
        add(np.round(t, 3), np.full(k, ref), _split(v_pre, k, rng), K_PRE)
    add([cont_start], [o], [v_open if o >= ref else -v_open], K_OPEN)
    add(t_cont, p_cont, q_cont * signs[:n], K_CONT)
    add([times.close_t], [c], [v_close * int(signs[n])], K_CLOSE)
    if v_after > 0:
        k = int(min(v_after, 1 + rng.poisson(6)))
        t = np.sort(rng.uniform(times.t("after_hours_close_start"), times.t("after_hours_close_end"), k))
        add(np.round(t, 3), np.full(k, c), _split(v_after, k, rng), K_AFTER)
    if v_single > 0:
        matches = int((times.t("after_hours_single_end") - times.t("after_hours_single_start"))
                      // (SINGLE_PRICE_MATCH_MIN * 60))
        t = times.t("after_hours_single_start") + SINGLE_PRICE_MATCH_MIN * 60.0 * np.arange(1, matches + 1)
        band_hi = min(ticks.floor_to_tick(c * 1.1, kind), upper)
        band_lo = max(ticks.ceil_to_tick(c * 0.9, kind), lower)
        walk = c * np.exp(np.cumsum(rng.normal(0.0, 0.004, matches)))
        p = np.clip(ticks.round_to_ticks(np.clip(walk, band_lo, band_hi), kind), band_lo, band_hi)
        q = rng.multinomial(v_single, np.full(matches, 1.0 / matches)).astype(np.int64)
        keep = q > 0
        prev = np.concatenate([[c], p[:-1]])
        add(t[keep], p[keep], np.where(p >= prev, q, -q)[keep], K_SINGLE)

    t_all = np.concatenate(parts_t)
    p_all = np.concatenate(parts_p)
    q_all = np.concatenate(parts_q)
    k_all = np.concatenate(parts_k)
    return _with_aggregates(inst.code, bar, times, t_all, p_all, q_all, k_all, upper, lower,
                            v_cont / max(n, 1), is_index)


def _scaled_values(amounts: np.ndarray, total: int) -> np.ndarray:
    """Cumulative traded value scaled so the day adds up to the daily bar's value exactly (the
    bar's value is an estimate made before the path exists; the scale is within a few percent)."""
    raw = np.cumsum(amounts).astype(np.float64)
    if not len(raw) or raw[-1] <= 0:
        return raw.astype(np.int64)
    return np.round(raw * (total / raw[-1])).astype(np.int64)


def _with_aggregates(code: str, bar: DailyBar, times: SessionTimes, t: np.ndarray, p: np.ndarray,
                     q: np.ndarray, k: np.ndarray, upper: int, lower: int, avg_qty: float,
                     is_index: bool) -> DayPath:
    size = np.abs(q)
    reg = np.nonzero((k == K_OPEN) | (k == K_CONT) | (k == K_CLOSE))[0]
    reg_first, reg_last = (int(reg[0]), int(reg[-1])) if len(reg) else (-1, -1)
    rp = p[reg_first:reg_last + 1] if len(reg) else np.zeros(0, dtype=np.int64)
    run_high = np.maximum.accumulate(rp) if len(rp) else rp
    run_low = np.minimum.accumulate(rp) if len(rp) else rp
    idx = np.arange(len(rp))
    high_at = np.maximum.accumulate(np.where(np.concatenate([[True], run_high[1:] > run_high[:-1]]), idx, 0))
    low_at = np.maximum.accumulate(np.where(np.concatenate([[True], run_low[1:] < run_low[:-1]]), idx, 0))

    def first_hit(level: int) -> int:
        if is_index or not len(rp):
            return -1
        hits = np.nonzero(rp == level)[0]
        return int(hits[0]) + reg_first if len(hits) else -1

    i32 = np.int32  # counts, indices, prices and single sizes fit; running sums of shares/KRW do not
    return DayPath(
        code=code, bar=bar, times=times, t=t, price=p.astype(i32), qty=q.astype(i32), kind=k,
        cum_vol=np.cumsum(size), cum_val=_scaled_values(size * p, bar.value),
        cum_buy_n=np.cumsum(q > 0, dtype=i32), cum_sell_n=np.cumsum(q < 0, dtype=i32),
        cum_buy_vol=np.cumsum(np.where(q > 0, size, 0)), cum_sell_vol=np.cumsum(np.where(q < 0, size, 0)),
        reg_first=reg_first, reg_last=reg_last, run_high=run_high.astype(i32), run_low=run_low.astype(i32),
        high_at=(high_at + reg_first).astype(i32), low_at=(low_at + reg_first).astype(i32),
        upper_at=first_hit(upper), lower_at=first_hit(lower), avg_trade_qty=float(avg_qty),
    )
