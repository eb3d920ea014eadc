"""How much trading a code sees: liquidity tiers (trades per KRW traded, trade-size dispersion) and
the intraday intensity profile (open burst, morning, lunch lull, close ramp) that places prints in
the continuous session.

Calibration (docs/simulator.md "Trade intensity"): the recorded 005930 session of 2022-01-18
(`../shared/reference/recorded-traces/`, 주식체결 at 14:29:42) had 30,338 + 31,739 = 62,077 trades
for 7,884,712 shares and 608,869 million KRW by then: 127 shares and 9.8 million KRW a trade, the
median of the eight recorded prints 3 shares, and about 1.5 prints a second at 14:29 against 3.1 a
second over the day so far. The "mega" tier is fitted to that day; the smaller tiers' trade values
are estimates [unc] (smaller codes trade in smaller tickets, mostly retail).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from functools import lru_cache
from typing import Tuple

import numpy as np

from koabus.common.clock import KST

from .calendar import SessionTimes
from .listing import Instrument


@dataclass(frozen=True)
class LiquidityTier:
    """A band of codes by average daily traded value (KRW).

    min_value_krw: the tier holds codes whose average daily value is at least this.
    trade_value_krw: the mean KRW value of one continuous-session trade (trades = value / this).
    size_sigma: dispersion (log-normal sigma) of trade sizes: most prints are a few shares, a few
    are blocks; mean / median is about exp(sigma^2 / 2) before the 1-share floor.
    """

    name: str
    min_value_krw: float
    trade_value_krw: float
    size_sigma: float


# Highest first. 005930 (~1 trillion KRW a day) and 000660 are "mega".
TIERS: Tuple[LiquidityTier, ...] = (
    LiquidityTier("mega", 300e9, 9.8e6, 2.6),
    LiquidityTier("large", 50e9, 6.0e6, 2.4),
    LiquidityTier("mid", 10e9, 3.5e6, 2.2),
    LiquidityTier("small", 2e9, 2.0e6, 2.0),
    LiquidityTier("micro", 0.0, 1.2e6, 1.8),
)


def average_daily_value(inst: Instrument) -> float:
    """Typical KRW traded a day: average volume at the code's price level."""
    return float(inst.avg_volume) * float(inst.base_price)


def tier_of(inst: Instrument) -> LiquidityTier:
    value = average_daily_value(inst)
    for tier in TIERS:
        if value >= tier.min_value_krw:
            return tier
    return TIERS[-1]


# -- intraday profile ------------------------------------------------------------------------------
# Relative trade intensity over the continuous session (seconds since the open, tau; T its length):
#   lunch(tau) * (1 + MORNING * exp(-tau / MORNING_S)) + BURST * exp(-tau / BURST_S)
#   + CLOSE * exp(-(T - tau) / CLOSE_S),  lunch(tau) = 1 - LUNCH_DIP * exp(-((tau - noon) / LUNCH_S)^2)
# with the lull centred on 13:00 on the clock (a late-open day keeps it at lunch time). On a 09:00-15:20
# session the first minute then runs at ~14x the day's average rate (the open burst), the first
# five minutes at ~6x, 09:00-10:00 at ~2.5x, 12:00-13:00 at ~0.35x, 15:10-15:20 at ~2x, and 14:29 at
# ~0.66x the average since the open (the recorded day: ~0.5x from eight prints, so 0.2-1.0).
BURST, BURST_S = 20.0, 50.0
MORNING, MORNING_S = 2.5, 3000.0
CLOSE, CLOSE_S = 1.8, 800.0
LUNCH_DIP, LUNCH_S = 0.7, 6500.0
LUNCH_CENTER = time(13, 0)
PROFILE_STEP_S = 1.0


def intensity(tau: np.ndarray, span: float, noon: float) -> np.ndarray:
    """Relative trade intensity at `tau` seconds after the open (span: continuous-session length,
    noon: seconds from the open to the middle of the lunch lull)."""
    tau = np.asarray(tau, dtype=np.float64)
    lunch = 1.0 - LUNCH_DIP * np.exp(-(((tau - noon) / LUNCH_S) ** 2))
    return (lunch * (1.0 + MORNING * np.exp(-tau / MORNING_S)) + BURST * np.exp(-tau / BURST_S)
            + CLOSE * np.exp(-(span - tau) / CLOSE_S))


@lru_cache(maxsize=16)
def _profile(span: float, noon: float) -> Tuple[np.ndarray, np.ndarray]:
    """(grid of tau, normalised cumulative intensity) at PROFILE_STEP_S resolution."""
    grid = np.linspace(0.0, span, int(span / PROFILE_STEP_S) + 1)
    dens = intensity(grid, span, noon)
    cdf = np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) * 0.5)])
    cdf /= cdf[-1]
    grid.setflags(write=False)
    cdf.setflags(write=False)
    return grid, cdf


def session_profile(times: SessionTimes) -> Tuple[float, float]:
    """(span, noon) of a session's continuous trading, in seconds from its open."""
    span = times.t("closing_auction") - times.open_t
    noon = datetime.combine(times.day, LUNCH_CENTER, KST).timestamp() - times.open_t
    return float(span), float(noon)


def trade_times(rng: np.random.Generator, n: int, times: SessionTimes) -> np.ndarray:
    """n sorted instants (epoch s, ms resolution) strictly inside the continuous session, placed
    by the intraday profile."""
    span, noon = session_profile(times)
    grid, cdf = _profile(span, noon)
    u = np.sort(rng.random(n))
    tau = np.interp(u, cdf, grid)
    tau = np.clip(tau, 0.001, span - 0.001)
    return np.round(times.open_t + tau, 3)


def volume_fraction(elapsed: float, span: float = 22800.0, noon: float = 14400.0) -> float:
    """Share of the continuous session's expected trading done when `elapsed` (0..1) of it has
    passed."""
    grid, cdf = _profile(float(span), float(noon))
    return float(np.interp(min(max(elapsed, 0.0), 1.0) * span, grid, cdf))
