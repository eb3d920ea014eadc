"""Built-in condition searches (조건검색) evaluated on the simulated market at an instant.

Membership depends on intraday prices and volumes, so it changes during the day; diffing two
evaluations gives the realtime I (in) / D (out) signals. Results are deterministic codes lists.
"""
from __future__ import annotations

import threading
from datetime import date
from typing import Dict, List, Optional, Tuple

from koabus.common.errors import NotFound

from .intraday import expected_volume_fraction
from .market import Instant, Market
from .models import TradingState
from .streams import TAG_CONDITION, code_key, stream

CONDITIONS: Tuple[Tuple[int, str], ...] = (
    (0, "거래량급증"),
    (1, "52주신고가근접"),
    (2, "중소형 저평가주"),
    (3, "상승률상위"),
)
VOLUME_SURGE_RATIO = 2.0
NEAR_HIGH_RATIO = 0.95
SMALL_MID_CAP_KRW = 10_000_000_000_000
TOP_GAINERS = 10


class Conditions:
    """The condition list and its evaluation. Stocks only (no ETFs, no indices)."""

    def __init__(self, market: Market):
        self.market = market
        self._stats: Dict[Tuple[str, int], Tuple[float, int, float]] = {}
        self._lock = threading.Lock()

    def conditions(self) -> List[Tuple[int, str]]:
        return list(CONDITIONS)

    def name(self, index: int) -> str:
        for i, n in CONDITIONS:
            if i == index:
                return n
        raise NotFound(f"no condition with index {index}")

    def evaluate(self, index: int, t: Instant = None) -> List[str]:
        """Codes meeting condition `index` at instant t (default: the clock), in a stable order."""
        self.name(index)
        ts = self.market._ts(t)
        day = self.market.session_date(ts)
        quotes = [self.market.trading_state(c, ts) for c in self._stocks(day)]
        if index == 0:
            return self._volume_surge(quotes, day, ts)
        if index == 1:
            return [q.code for q in quotes if self._near_high(q, day)]
        if index == 2:
            return [q.code for q in quotes if self._small_cheap(q, day)]
        gainers = sorted((q for q in quotes if q.volume > 0 and q.rate > 0), key=lambda q: (-q.rate, q.code))
        return [q.code for q in gainers[:TOP_GAINERS]]

    # -- helpers -------------------------------------------------------------------------------
    def _stocks(self, day: date) -> List[str]:
        return [i.code for i in self.market.listing.instruments() if i.kind == "stock" and i.listed_date < day]

    def _day_stats(self, code: str, day: date) -> Tuple[float, int, float]:
        """(average volume of the previous 20 sessions, previous 250-session high, 20-day mean close)."""
        key = (code, day.toordinal())
        with self._lock:
            if key in self._stats:
                return self._stats[key]
        h = self.market.history(code)
        i = h.index_on_or_before(self.market.calendar.previous_session(day))
        bars = h.bars_at(i - 249, i, adjusted=True)
        last20 = bars[-20:] or bars
        stats = (
            sum(b.volume for b in last20) / max(1, len(last20)),
            max((b.high for b in bars), default=0),
            sum(b.close for b in last20) / max(1, len(last20)),
        )
        with self._lock:
            self._stats[key] = stats
        return stats

    def _volume_surge(self, quotes: List[TradingState], day: date, ts: float) -> List[str]:
        times = self.market.session_times(day)
        if times is None:
            return []
        span = times.t("closing_auction") - times.open_t
        expected = expected_volume_fraction((ts - times.open_t) / span)
        hits = []
        for q in quotes:
            avg, _, _ = self._day_stats(q.code, day)
            ratio = q.volume / (avg * expected) if avg else 0.0
            if q.volume > 0 and ratio >= VOLUME_SURGE_RATIO:
                hits.append((-ratio, q.code))
        return [code for _, code in sorted(hits)]

    def _near_high(self, q: TradingState, day: date) -> bool:
        _, high, _ = self._day_stats(q.code, day)
        return q.volume > 0 and high > 0 and q.last >= NEAR_HIGH_RATIO * max(high, q.high)

    def _small_cheap(self, q: TradingState, day: date) -> bool:
        inst = self.market.instrument(q.code)
        _, _, ma20 = self._day_stats(q.code, day)
        pbr = _book_ratio(self.market.seed, q.code)
        return inst.shares * q.last < SMALL_MID_CAP_KRW and pbr < 1.2 and q.last < ma20


def _book_ratio(seed: int, code: str) -> float:
    """A fixed, plausible price-to-book ratio per code (the simulator has no balance sheets)."""
    return float(stream(seed, TAG_CONDITION, code_key(code)).uniform(0.3, 3.0))


def diff(before: Optional[List[str]], after: List[str]) -> Tuple[List[str], List[str]]:
    """(entered, left) between two evaluations, each in the order of the evaluation it comes from."""
    prev = set(before or [])
    now = set(after)
    return [c for c in after if c not in prev], [c for c in (before or []) if c not in now]
