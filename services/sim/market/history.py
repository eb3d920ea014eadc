"""Daily history: a seeded, mean-reverting random walk per instrument, driven by market factors,
turned into raw OHLCV bars on the tick grid and within the daily limits, with corporate events.

Bars are generated a calendar year at a time from `MarketConfig.history_start` (or the listing
date) and cached; a year's draws come from streams keyed by (seed, code, year), so what a date
shows never depends on which dates were asked first. The walk's state carries across years.

The history reaches back further than that anchor: Kiwoom's daily data starts on 1985-01-04
(opt10081 for 005930 pages back to that day, 9,792 rows by 2022-01-18, facts §5.3), or on the
listing date for later listings. The years before the anchor are generated only when a date in them
is asked for, backwards from the anchor's state (the time reversal of the same mean-reverting walk,
from streams of their own), so the anchored years keep their numbers and a quote of today never
pays for 1985.
"""
from __future__ import annotations

import bisect
import math
import threading
from datetime import date
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import ticks
from .calendar import KrxCalendar
from .config import MarketConfig
from .listing import FACTOR_VOL, CorporateEvent, Instrument
from .models import DailyBar
from .streams import TAG_DAILY, TAG_FACTOR, TAG_START, code_key, stream

_ROW_COLUMNS = ("ordinal", "open", "high", "low", "close", "volume", "value", "ref")
VOL_STATE_PERSISTENCE = 0.97
VOL_STATE_SHOCK = 0.08
# The first day of Kiwoom's daily chart data (opt10081 005930 pages back to it, facts §5.3).
DAILY_DATA_START = date(1985, 1, 4)
_BACKWARD = 1  # extra stream key of the years generated backwards from the anchor
INDEX_VALUE_PER_VOLUME = 20  # million KRW per thousand shares traded (~20,000 KRW a share)


class FactorModel:
    """Daily shocks of the two market factors, one array per calendar year aligned with its
    sessions. "101" (KOSDAQ) is correlated with "001" (KOSPI); "201" uses the KOSPI factor."""

    def __init__(self, seed: int, calendar: KrxCalendar):
        self._seed = seed
        self._calendar = calendar
        self._years: Dict[int, Tuple[List[int], Dict[str, np.ndarray]]] = {}
        self._lock = threading.Lock()

    def year(self, year: int) -> Tuple[List[int], Dict[str, np.ndarray]]:
        with self._lock:
            if year not in self._years:
                days = self._calendar.sessions_between(date(year, 1, 1), date(year, 12, 31))
                rng = stream(self._seed, TAG_FACTOR, year)
                kospi = rng.standard_normal(len(days))
                own = rng.standard_normal(len(days))
                kosdaq = 0.75 * kospi + math.sqrt(1 - 0.75 ** 2) * own
                self._years[year] = (
                    [d.toordinal() for d in days], {"001": kospi, "201": kospi, "101": kosdaq},
                )
            return self._years[year]


def _ar1(shocks: np.ndarray, a: float, z0: float) -> np.ndarray:
    """z_k = a z_{k-1} + s_k for k = 1..n, from z_0 (vectorised; fine for n ~ 250)."""
    k = np.arange(1, len(shocks) + 1, dtype=np.float64)
    return a ** k * (z0 + np.cumsum(shocks * a ** (-k)))


def _vector_limits(refs: np.ndarray, kind: str) -> Tuple[np.ndarray, np.ndarray]:
    if kind == "index":
        big = np.iinfo(np.int64).max // 4
        return np.full(refs.shape, big, dtype=np.int64), np.ones(refs.shape, dtype=np.int64)
    up = refs * (100 + ticks.LIMIT_RATE_PCT) // 100
    up = up - up % ticks.tick_sizes(up, kind)
    lo = -(-refs * (100 - ticks.LIMIT_RATE_PCT) // 100)
    lo = lo + (-lo) % ticks.tick_sizes(lo, kind)
    return up, np.maximum(lo, 1)


def _ceil_ticks(prices: np.ndarray, kind: str) -> np.ndarray:
    p = np.ceil(prices).astype(np.int64)
    return p + (-p) % ticks.tick_sizes(p, kind)


def _floor_ticks(prices: np.ndarray, kind: str) -> np.ndarray:
    p = np.floor(prices).astype(np.int64)
    return p - p % ticks.tick_sizes(p, kind)


class DailyHistory:
    """Raw daily bars of one instrument, generated lazily by calendar year."""

    def __init__(self, inst: Instrument, events: Tuple[CorporateEvent, ...], calendar: KrxCalendar,
                 factors: FactorModel, config: MarketConfig):
        self.inst = inst
        self.events = tuple(events)
        self._calendar = calendar
        self._factors = factors
        self._config = config
        self._key = code_key(inst.code)
        self.start = max(min(config.history_start, DAILY_DATA_START), inst.listed_date)
        self.anchor = max(config.history_start, inst.listed_date)  # forward generation starts here
        self._kappa = math.log(2) / (250 * config.mean_reversion_years)
        self._fvol = FACTOR_VOL.get(inst.factor, FACTOR_VOL["001"])
        self._sigma = math.sqrt((inst.beta * self._fvol) ** 2 + inst.daily_vol ** 2)
        self._mu = math.log(inst.base_price)
        self._event_ordinals = [e.day.toordinal() for e in self.events]
        self._lock = threading.RLock()
        # one int64 row per session, oldest first (_ROW_COLUMNS); replaced, never mutated, so a
        # reader always sees a consistent prefix
        self._rows: np.ndarray = np.empty((0, len(_ROW_COLUMNS)), dtype=np.int64)
        self._through_year = self.anchor.year - 1
        rng = stream(config.seed, TAG_START, self._key)
        stationary_sd = self._sigma / math.sqrt(2 * self._kappa)
        self._z = float(np.clip(rng.standard_normal(), -2.0, 2.0)) * stationary_sd * 0.7
        self._h = 0.0
        self._prev_close: Optional[int] = None
        # backward generation: the earliest year generated so far and the walk's state on the day
        # before its first session (the anchor's starting state until a backward year exists)
        self._from_year = self.anchor.year + 1  # the anchor's own year may have sessions before it
        self._back_z, self._back_h = self._z, self._h
        self._back_started = False

    # -- adjustment ---------------------------------------------------------------------------
    def adj_factor(self, day: date) -> float:
        """Product of the ratios of events after `day`: adjusted price = raw price x factor."""
        i = bisect.bisect_right(self._event_ordinals, day.toordinal())
        f = 1.0
        for ev in self.events[i:]:
            f *= ev.ratio
        return f

    def _event_on(self, ordinal: int) -> Optional[CorporateEvent]:
        i = bisect.bisect_left(self._event_ordinals, ordinal)
        if i < len(self._event_ordinals) and self._event_ordinals[i] == ordinal:
            return self.events[i]
        return None

    # -- generation -----------------------------------------------------------------------------
    def ensure(self, day: date) -> None:
        """Make sure every session of `day`'s year exists, and every one up to its end."""
        if day.year < self._from_year and self.start <= day < self.anchor:
            self._extend_back(day.year)
        self._ensure_forward(day)

    def _ensure_forward(self, day: date) -> None:
        if day.year <= self._through_year:
            return
        with self._lock:
            chunks = [self._rows]
            year = self._through_year
            while year < day.year:
                year += 1
                chunk = self._generate_year(year)
                if chunk is not None:
                    chunks.append(chunk)
            self._rows = np.concatenate(chunks) if len(chunks) > 1 else self._rows
            self._through_year = year

    def _extend_back(self, year: int) -> int:
        """Generate the years before the anchor down to `year` (not before `start`); returns how
        many rows were prepended."""
        with self._lock:
            self._ensure_forward(self.anchor)  # the anchor's first reference joins the two directions
            chunks = []
            while self._from_year > max(year, self.start.year):
                self._from_year -= 1
                chunk = self._generate_year_back(self._from_year)
                if chunk is not None:
                    chunks.append(chunk)
            if not chunks:
                return 0
            chunks.reverse()
            added = sum(len(c) for c in chunks)
            self._rows = np.concatenate(chunks + [self._rows])
            return added

    @property
    def ordinals(self) -> np.ndarray:
        """Session ordinals (date.toordinal()), oldest first, of the bars generated so far."""
        return self._rows[:, 0]

    def _generate_year(self, year: int) -> Optional[np.ndarray]:
        """The year's rows (None when it has no session in the history)."""
        inst, kind = self.inst, self.inst.kind
        ordinals, shocks = self._factors.year(year)
        first = bisect.bisect_left(ordinals, self.anchor.toordinal())
        days = ordinals[first:]
        n = len(days)
        if n == 0:
            return None
        factor = shocks.get(inst.factor, shocks["001"])[first:]
        rng = stream(self._config.seed, TAG_DAILY, self._key, year)
        idio = rng.standard_t(5, n) * math.sqrt(3 / 5)
        gap, up, down, vz, hz = (rng.standard_normal(n) for _ in range(5))
        # stochastic volatility and the mean-reverting log price (in today's share terms)
        h = _ar1(VOL_STATE_SHOCK * hz, VOL_STATE_PERSISTENCE, self._h)
        s = inst.beta * self._fvol * factor + inst.daily_vol * np.exp(h) * idio
        z = _ar1(s, 1.0 - self._kappa, self._z)
        self._h, self._z = float(h[-1]), float(z[-1])
        adj = np.array([self.adj_factor(date.fromordinal(o)) for o in days]) if self.events else np.ones(n)
        target = ticks.round_to_ticks(np.exp(self._mu + z) / adj, kind)
        # sequential pass: reference prices, events, limits (clamps are rare at +-30%)
        refs, closes = self._refs_and_closes(target.astype(np.int64), days)
        upper, lower = _vector_limits(refs, kind)
        closes = np.minimum(np.maximum(closes, lower), upper)
        return self._bar_rows(inst, kind, days, refs, closes, (lower, upper), (h, gap, up, down, vz), adj)

    def _generate_year_back(self, year: int) -> Optional[np.ndarray]:
        """A year before the anchor, walked backwards from its last session: the time reversal of
        a stationary AR(1) is the same AR(1), so z_{k-1} = a z_k + s_k. The walk's state on the
        last session is the carry of the year after it (for the year before the anchor: the state
        whose close is the anchor's first reference), so every bar's reference is the previous
        session's close; the first bar of the whole history opens at its own close's level."""
        inst, kind = self.inst, self.inst.kind
        ordinals, shocks = self._factors.year(year)
        lo = bisect.bisect_left(ordinals, self.start.toordinal())
        hi = bisect.bisect_left(ordinals, self.anchor.toordinal())
        days = ordinals[lo:hi]
        n = len(days)
        if n == 0:
            return None
        adj = np.array([self.adj_factor(date.fromordinal(o)) for o in days]) if self.events else np.ones(n)
        if not self._back_started and len(self._rows):
            self._back_z = math.log(float(self._rows[0, 7]) * adj[-1]) - self._mu
        self._back_started = True
        factor = shocks.get(inst.factor, shocks["001"])[lo:hi]
        rng = stream(self._config.seed, TAG_DAILY, self._key, year, _BACKWARD)
        idio = rng.standard_t(5, n) * math.sqrt(3 / 5)
        gap, up, down, vz, hz = (rng.standard_normal(n) for _ in range(5))
        # newest first: index 0 is the year's last session, whose state is the carry
        h_new = _ar1(VOL_STATE_SHOCK * hz, VOL_STATE_PERSISTENCE, self._back_h)
        h_rev = np.concatenate([[self._back_h], h_new[:-1]])
        s_rev = inst.beta * self._fvol * factor[::-1] + inst.daily_vol * np.exp(h_new) * idio
        z_new = _ar1(s_rev, 1.0 - self._kappa, self._back_z)
        z_rev = np.concatenate([[self._back_z], z_new[:-1]])
        self._back_h, self._back_z = float(h_new[-1]), float(z_new[-1])  # the previous session's
        h, z = h_rev[::-1], z_rev[::-1]
        target = ticks.round_to_ticks(np.exp(self._mu + z) / adj, kind).astype(np.int64)
        if lo > 0 or year == self.start.year:
            first_ref = int(target[0])
        else:
            prev_adj = self.adj_factor(date.fromordinal(days[0] - 1)) if self.events else 1.0
            first_ref = int(ticks.round_to_ticks(np.exp(self._mu + np.array([self._back_z])) / prev_adj, kind)[0])
        refs = np.empty(n, dtype=np.int64)
        refs[0] = first_ref
        refs[1:] = target[:-1]
        upper, lower = _vector_limits(refs, kind)
        closes = np.minimum(np.maximum(target, lower), upper)
        return self._bar_rows(inst, kind, days, refs, closes, (lower, upper), (h, gap, up, down, vz), adj)

    def _bar_rows(self, inst, kind: str, days: List[int], refs: np.ndarray, closes: np.ndarray,
                  limits: Tuple[np.ndarray, np.ndarray], shocks: Tuple[np.ndarray, ...], adj: Any) -> np.ndarray:
        """A year's rows (day, open, high, low, close, volume, value, ref) around its closes: opens
        gap from the reference, highs and lows reach past the body, volume follows the move."""
        lower, upper = limits
        h, gap, up, down, vz = shocks
        sd = self._sigma * np.exp(h)
        opens = np.minimum(np.maximum(ticks.round_to_ticks(refs * np.exp(0.4 * sd * gap), kind), lower), upper)
        top = np.maximum(opens, closes)
        bottom = np.minimum(opens, closes)
        highs = np.minimum(np.maximum(_ceil_ticks(top * np.exp(0.6 * sd * np.abs(up)), kind), top), upper)
        lows = np.maximum(np.minimum(_floor_ticks(bottom * np.exp(-0.6 * sd * np.abs(down)), kind), bottom), lower)
        move = np.abs(np.log(closes / refs)) / self._sigma
        volumes = inst.avg_volume * adj * np.exp(0.35 * vz - 0.06 + 0.5 * (move - 0.8))
        volumes = np.maximum(volumes, 500).astype(np.int64)
        typical = (opens + highs + lows + closes) / 4.0
        if kind == "index":
            values = (volumes * INDEX_VALUE_PER_VOLUME).astype(np.int64)
        else:
            values = (volumes * typical).astype(np.int64)
        return np.column_stack([np.asarray(days, dtype=np.int64)] + [
            np.asarray(col).astype(np.int64) for col in (opens, highs, lows, closes, volumes, values, refs)
        ])

    def _refs_and_closes(self, target: np.ndarray, days: List[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Reference prices and closes of a year's sessions: each close is the target clamped to
        the day's limits around the previous close (adjusted on event days). Vectorised when no
        event falls in the year and no target leaves the +-30% band (nearly always); otherwise the
        sequential pass, which gives the same numbers."""
        n = len(days)
        kind = self.inst.kind
        first_ref = int(target[0]) if self._prev_close is None else self._prev_close
        lo_ord, hi_ord = days[0], days[-1]
        if not any(lo_ord <= o <= hi_ord for o in self._event_ordinals):
            refs = np.empty(n, dtype=np.int64)
            refs[0] = first_ref
            refs[1:] = target[:-1]
            if kind == "index" or bool(np.all((refs * 0.7 <= target) & (target <= refs * 1.3))):
                self._prev_close = int(target[-1])
                return refs, target.copy()
        # (plain Python lists in the loop: numpy scalar access costs more than the arithmetic)
        targets = target.tolist()
        ref_list = [0] * n
        close_list = [0] * n
        prev = first_ref
        for k in range(n):
            ev = self._event_on(days[k])
            if ev is not None:
                prev = ticks.round_to_tick(prev * ev.ratio, kind)
            ref_list[k] = prev
            c = targets[k]
            if kind != "index" and not (prev * 0.7 <= c <= prev * 1.3):
                hi, lo = ticks.limits(prev, kind)
                c = min(max(c, lo), hi)
            close_list[k] = c
            prev = c
        self._prev_close = prev
        return np.array(ref_list, dtype=np.int64), np.array(close_list, dtype=np.int64)

    # -- access ---------------------------------------------------------------------------------
    def index_on_or_before(self, day: date) -> int:
        """Row index of the last bar dated <= day, -1 if none."""
        self.ensure(day)
        return int(np.searchsorted(self._rows[:, 0], day.toordinal(), side="right")) - 1

    def index_of(self, day: date) -> int:
        """Row index of the bar dated exactly `day`, -1 if none."""
        i = self.index_on_or_before(day)
        return i if i >= 0 and int(self._rows[i, 0]) == day.toordinal() else -1

    def bar_at(self, i: int, adjusted: bool = False) -> DailyBar:
        return self._bar(self._rows[i].tolist(), adjusted)

    def bars_at(self, first: int, last: int, adjusted: bool = False) -> List[DailyBar]:
        """Bars of rows first..last inclusive, oldest first (one conversion for the block). A
        negative `first` reaches into years not generated yet: they are generated (rows before
        the current first one), and the indices stay those of the caller's view."""
        if last < first:
            return []
        if first < 0 and self._from_year > self.start.year and self.start < self.anchor:
            with self._lock:
                while first < 0 and self._from_year > self.start.year:
                    added = self._extend_back(self._from_year - 1)
                    first, last = first + added, last + added
        return [self._bar(row, adjusted) for row in self._rows[max(0, first):last + 1].tolist()]

    def _bar(self, row: List[int], adjusted: bool) -> DailyBar:
        ordinal, open_, high, low, close, volume, value, ref = row
        ev = self._event_on(ordinal) if self._event_ordinals else None
        day = date.fromordinal(ordinal)
        bar = DailyBar(
            date=day, open=open_, high=high, low=low, close=close, volume=volume, value=value, ref=ref,
            event_flags=ev.flags if ev is not None else 0, adj_ratio=ev.ratio if ev is not None else 1.0,
        )
        return adjust_bar(bar, self.adj_factor(day)) if adjusted else bar

    def bar(self, day: date, adjusted: bool = False) -> Optional[DailyBar]:
        i = self.index_of(day)
        return self.bar_at(i, adjusted) if i >= 0 else None


def adjust_bar(bar: DailyBar, factor: float) -> DailyBar:
    """A raw bar in today's share terms (prices x factor, volume / factor, value unchanged)."""
    if factor == 1.0:
        return bar

    def p(x: int) -> int:
        return int(round(x * factor))

    return DailyBar(
        date=bar.date, open=p(bar.open), high=p(bar.high), low=p(bar.low), close=p(bar.close),
        volume=int(round(bar.volume / factor)), value=bar.value, ref=p(bar.ref),
        event_flags=bar.event_flags, adj_ratio=bar.adj_ratio,
    )
