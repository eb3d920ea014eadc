"""The simulated KRX as one object: listing, calendar, quotes, prints, books and bars at any
virtual instant. This is the API the simulated control reads; it formats nothing.

Everything is a pure function of (seed, config, code, instant): daily history per code, one cached
trade path and one cached book cadence per (code, session). "Now" only decides what is visible
(today's partial bar). The book changes at prints and at the cadence's refreshes (`book_refreshes`),
and is the same whenever it is read between two of those.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import replace
from datetime import date, datetime
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from koabus.common.clock import KST, Clock, SystemClock
from koabus.common.errors import InvalidRequest, NotFound

from . import ticks
from .book import best_around, build_book
from .cadence import DayCadence, build_cadence
from .calendar import KrxCalendar, Phase, SessionTimes
from .config import MarketConfig
from .history import DailyHistory, FactorModel, adjust_bar
from .intraday import K_CLOSE, DayPath, build_day_path
from .listing import Instrument, Listing
from .models import Book, DailyBar, IntradayBar, Quote, Trade, TradingState
from .streams import TAG_PATH, code_key, stream
from .vi import ViEvent, detect_vi

Instant = Union[float, int, datetime, None]
#: book cadences kept, least recently used out first: a busy code's session is ~3 MB, the default
#: listing's day ~170 MB; without a byte bound `path_cache_days` busy cadences would be gigabytes
CADENCE_CACHE_BYTES = 256 * 1024 * 1024
PERIODS = ("week", "month", "year")


class Market:
    """The simulated market. Thread-safe for readers (caches are locked)."""

    def __init__(self, seed: int = 0, clock: Optional[Clock] = None, listing: Optional[Listing] = None,
                 config: Optional[MarketConfig] = None, cadence_cache_bytes: int = 0):
        """`cadence_cache_bytes`: bytes of book cadences kept (0: CADENCE_CACHE_BYTES); an extended listing
        needs more (World)."""
        if config is None:
            config = MarketConfig(seed=seed)
        elif seed and seed != config.seed:
            config = replace(config, seed=seed)
        self.config = config
        self.seed = self.config.seed
        self.clock: Clock = clock or SystemClock()
        self.listing = listing or Listing.default()
        self.calendar = KrxCalendar()
        self._factors = FactorModel(self.seed, self.calendar)
        self._histories: Dict[str, DailyHistory] = {}
        self._paths: OrderedDict[Tuple[str, int], Optional[DayPath]] = OrderedDict()
        self._path_prints = 0
        self._cadences: OrderedDict[Tuple[str, int], DayCadence] = OrderedDict()
        self._cadence_bytes = 0
        self._cadence_limit = cadence_cache_bytes
        self._vis: OrderedDict[Tuple[str, int], Tuple[ViEvent, ...]] = OrderedDict()
        self._lock = threading.RLock()
        self._span_memo: Tuple[Tuple[float, float], Tuple[date, ...]] = ((0.0, 0.0), ())

    # -- time --------------------------------------------------------------------------------
    def _ts(self, t: Instant) -> float:
        if t is None:
            return self.clock.time()
        if isinstance(t, datetime):
            return t.timestamp()
        return float(t)

    def phase(self, t: Instant = None) -> Phase:
        return self.calendar.phase(self._ts(t))

    def session_date(self, t: Instant = None) -> date:
        """The session an instant belongs to (its own date on a session day, else the last one)."""
        return self.calendar.session_date(self._ts(t))

    def session_times(self, day: date) -> Optional[SessionTimes]:
        return self.calendar.session_times(day)

    # -- instruments and history --------------------------------------------------------------
    def instrument(self, code: str) -> Instrument:
        inst = self.listing.get(code)
        if inst is None:
            raise NotFound(f"unknown code {code!r}")
        return inst

    def history(self, code: str) -> DailyHistory:
        with self._lock:
            h = self._histories.get(code)
            if h is None:
                inst = self.instrument(code)
                h = DailyHistory(inst, self.listing.events(code), self.calendar, self._factors, self.config)
                self._histories[code] = h
            return h

    def daily_bar(self, code: str, day: date) -> Optional[DailyBar]:
        """The full raw bar of a session (None if not a session or before listing). Includes the
        future: callers decide what is visible."""
        return self.history(code).bar(day)

    def path(self, code: str, day: date) -> Optional[DayPath]:
        key = (code, day.toordinal())
        with self._lock:
            if key in self._paths:
                self._paths.move_to_end(key)
                return self._paths[key]
        bar = self.daily_bar(code, day)
        times = self.calendar.session_times(day)
        path = None
        if bar is not None and times is not None:
            inst = self.instrument(code)
            rng = stream(self.seed, TAG_PATH, code_key(code), day.toordinal())
            path = build_day_path(inst, bar, times, rng, self.config.trade_intensity)
        with self._lock:
            if key not in self._paths:
                self._paths[key] = path
                self._path_prints += len(path) if path is not None else 0
            self._trim_paths()
        return path

    def _trim_paths(self) -> None:
        """Drop the least recently used paths beyond `path_cache_days` entries or
        `path_cache_prints` prints (a realistic listing day is a few million prints)."""
        cfg = self.config
        while len(self._paths) > 1 and (len(self._paths) > cfg.path_cache_days
                                        or self._path_prints > cfg.path_cache_prints):
            _key, old = self._paths.popitem(last=False)
            self._path_prints -= len(old) if old is not None else 0

    def _require_path(self, code: str, day: date) -> DayPath:
        path = self.path(code, day)
        if path is None:
            raise NotFound(f"{code} has no session on {day}")
        return path

    def cadence(self, code: str, day: date) -> Optional[DayCadence]:
        """The book refreshes of `code` on session `day` (None when it has no path that day)."""
        key = (code, day.toordinal())
        with self._lock:
            if key in self._cadences:
                self._cadences.move_to_end(key)
                return self._cadences[key]
        path = self.path(code, day)
        if path is None:
            return None
        cfg = self.config
        cad = build_cadence(self.instrument(code), path, path.times, self.seed, cfg.book_refresh_s,
                            cfg.spread_widen_p)
        with self._lock:
            if key not in self._cadences:
                self._cadences[key] = cad
                self._cadence_bytes += cad.nbytes
            while len(self._cadences) > 1 and (len(self._cadences) > cfg.path_cache_days
                                               or self._cadence_bytes > (self._cadence_limit
                                                                         or CADENCE_CACHE_BYTES)):
                _key, old = self._cadences.popitem(last=False)
                self._cadence_bytes -= old.nbytes
        return cad

    def vi_events(self, code: str, day: date) -> Tuple[ViEvent, ...]:
        """The volatility interruptions of `code` on session `day`, in time order."""
        key = (code, day.toordinal())
        with self._lock:
            if key in self._vis:
                return self._vis[key]
        path = self.path(code, day)
        cfg = self.config
        events: Tuple[ViEvent, ...] = ()
        if path is not None:
            events = detect_vi(self.instrument(code), path, self.seed, cfg.vi_static_pct,
                               cfg.vi_dynamic_kospi_pct, cfg.vi_dynamic_kosdaq_pct, cfg.vi_window_s,
                               cfg.vi_duration_s)
        with self._lock:
            self._vis[key] = events
            while len(self._vis) > cfg.path_cache_days * 4:
                self._vis.popitem(last=False)
        return events

    # -- reference and limits -------------------------------------------------------------------
    def reference_price(self, code: str, day: Optional[date] = None) -> int:
        """기준가: the previous close (adjusted on event days) of the session `day` belongs to."""
        d = self.calendar.session_on_or_before(day) if day else self.session_date()
        bar = self.daily_bar(code, d)
        if bar is None:
            raise NotFound(f"{code} is not listed on {d}")
        return bar.ref

    def limits(self, code: str, day: Optional[date] = None) -> Tuple[int, int]:
        """(upper, lower) price limits of the session; (0, 0) for indices."""
        return ticks.limits(self.reference_price(code, day), self.instrument(code).kind)

    # -- quotes, prints, books ----------------------------------------------------------------
    def quote(self, code: str, t: Instant = None) -> Quote:
        ts = self._ts(t)
        day = self.calendar.session_date(ts)
        inst = self.instrument(code)
        path = self._require_path(code, day)
        bar = path.bar
        upper, lower = ticks.limits(bar.ref, inst.kind)
        i = path.index_at(ts)
        j = path.last_regular(i)
        if j < 0:
            last, open_, high, low, last_qty, last_time = bar.ref, 0, 0, 0, 0, 0.0
            open_time = high_time = low_time = 0.0
        else:
            r = j - path.reg_first
            last, last_qty, last_time = int(path.price[j]), int(path.qty[j]), float(path.t[j])
            open_, high, low = int(path.price[path.reg_first]), int(path.run_high[r]), int(path.run_low[r])
            open_time = float(path.t[path.reg_first])
            high_time = float(path.t[path.high_at[r]])
            low_time = float(path.t[path.low_at[r]])
        change = last - bar.ref
        rate = round(change * 100.0 / bar.ref, 2) if bar.ref else 0.0
        phase = path.times.phase(ts)
        book = self._book_from_path(inst, path, ts, phase)
        prev = self._previous_bar(code, day)
        single = path.last_single(i) if i > path.reg_last >= 0 else -1

        def agg(arr: np.ndarray) -> int:
            return int(arr[i]) if i >= 0 else 0

        def hit_time(at: int) -> float:
            return float(path.t[at]) if 0 <= at <= max(j, -1) else 0.0

        return Quote(
            code=code, t=ts, session_date=day, phase=phase, last=last, open=open_, high=high, low=low,
            ref=bar.ref, upper=upper, lower=lower, volume=agg(path.cum_vol), value=agg(path.cum_val),
            change=change, rate=rate, sign=_sign(last, bar.ref, upper, lower, inst.kind),
            last_qty=last_qty, last_time=last_time, ask1=book.asks[0][0], bid1=book.bids[0][0],
            ask1_qty=book.asks[0][1], bid1_qty=book.bids[0][1], open_time=open_time,
            high_time=high_time, low_time=low_time, upper_time=hit_time(path.upper_at),
            lower_time=hit_time(path.lower_at), trade_count_buy=agg(path.cum_buy_n),
            trade_count_sell=agg(path.cum_sell_n), buy_volume=agg(path.cum_buy_vol),
            sell_volume=agg(path.cum_sell_vol), expected_price=book.expected_price,
            expected_qty=book.expected_qty,
            after_hours_price=int(path.price[single]) if single >= 0 else 0,
            prev_volume=prev.volume if prev else 0, prev_value=prev.value if prev else 0,
        )

    def trading_state(self, code: str, t: Instant = None) -> TradingState:
        """last/high/volume/rate as `quote` reports them, without building the book (cheap enough
        to scan the whole listing every few seconds)."""
        ts = self._ts(t)
        path = self._require_path(code, self.calendar.session_date(ts))
        ref = path.bar.ref
        i = path.index_at(ts)
        j = path.last_regular(i)
        if j < 0:
            last, high = ref, 0
        else:
            last, high = int(path.price[j]), int(path.run_high[j - path.reg_first])
        rate = round((last - ref) * 100.0 / ref, 2) if ref else 0.0
        return TradingState(code, last, high, int(path.cum_vol[i]) if i >= 0 else 0, rate)

    def index_quote(self, sector_code: str, t: Instant = None) -> Quote:
        return self.quote(sector_code, t)

    def trades_between(self, code: str, t0: Instant, t1: Instant) -> List[Trade]:
        """Every print with t0 < t <= t1, in time order (across sessions if the span crosses days)."""
        a, b = self._ts(t0), self._ts(t1)
        if b <= a:
            return []
        self.instrument(code)
        out: List[Trade] = []
        for day in self._sessions_spanned(a, b):
            path = self.path(code, day)
            if path is None:
                continue
            lo = int(np.searchsorted(path.t, a, side="right"))
            hi = int(np.searchsorted(path.t, b, side="right"))
            out.extend(path.trade(k) for k in range(lo, hi))
        return out

    def book(self, code: str, t: Instant = None) -> Book:
        ts = self._ts(t)
        inst = self.instrument(code)
        path = self._require_path(code, self.calendar.session_date(ts))
        return self._book_from_path(inst, path, ts, path.times.phase(ts))

    def best(self, code: str, t: Instant = None) -> Tuple[int, int]:
        """(best ask, best bid) at t without building the levels (0 for an empty side)."""
        ts = self._ts(t)
        inst = self.instrument(code)
        path = self._require_path(code, self.calendar.session_date(ts))
        ask1, bid1, _e, _k, _i = self._book_state(inst, path, ts, path.times.phase(ts))
        return ask1, bid1

    def expected(self, code: str, t: Instant = None) -> Tuple[int, int]:
        """(indicative price, indicative qty) during the auctions at t, else (0, 0)."""
        ts = self._ts(t)
        inst = self.instrument(code)
        path = self._require_path(code, self.calendar.session_date(ts))
        return self._book_state(inst, path, ts, path.times.phase(ts))[2]

    def book_refreshes(self, code: str, t0: Instant, t1: Instant,
                       changes_only: bool = False) -> List[Tuple[float, int, int, int, int]]:
        """Book refreshes with t0 < t <= t1, in time order, as (t, best ask, best bid, indicative
        price, indicative qty); the indicative values are 0 outside the auctions. `changes_only`
        drops refreshes that follow another with the same best and indicative values and no print
        in between (for readers that do not need the level sizes)."""
        a, b = self._ts(t0), self._ts(t1)
        if b <= a:
            return []
        inst = self.instrument(code)
        if inst.is_index:
            return []
        out: List[Tuple[float, int, int, int, int]] = []
        for day in self._sessions_spanned(a, b):
            cad = self.cadence(code, day)
            if cad is None or not len(cad):
                continue
            lo = int(np.searchsorted(cad.t, a, side="right"))
            hi = int(np.searchsorted(cad.t, b, side="right"))
            if hi <= lo:
                continue
            sel = slice(lo, hi)
            if changes_only and lo > 0:
                prev = slice(lo - 1, hi - 1)
                keep = ((cad.ask1[sel] != cad.ask1[prev]) | (cad.bid1[sel] != cad.bid1[prev])
                        | (cad.exp_price[sel] != cad.exp_price[prev]) | (cad.exp_qty[sel] != cad.exp_qty[prev])
                        | (cad.trade_i[sel] != cad.trade_i[prev]))
                sel = np.nonzero(keep)[0] + lo
            out.extend(zip(cad.t[sel].tolist(), cad.ask1[sel].tolist(), cad.bid1[sel].tolist(),
                           cad.exp_price[sel].tolist(), cad.exp_qty[sel].tolist()))
        return out

    def vi_between(self, code: str, t0: Instant, t1: Instant) -> List[Tuple[float, bool, ViEvent]]:
        """VI triggers and releases with t0 < t <= t1 as (t, released?, event), in time order
        (a release on the next day is not reported)."""
        a, b = self._ts(t0), self._ts(t1)
        if b <= a or self.instrument(code).kind != "stock":
            return []
        out: List[Tuple[float, bool, ViEvent]] = []
        for day in self._sessions_spanned(a, b):
            for ev in self.vi_events(code, day):
                if a < ev.t <= b:
                    out.append((ev.t, False, ev))
                if a < ev.release_t <= b:
                    out.append((ev.release_t, True, ev))
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    def _sessions_spanned(self, a: float, b: float) -> Tuple[date, ...]:
        """Sessions from the one on or after a's date to the one b belongs to. Remembers the last
        span: the realtime stream asks the same span for every code of the listing in a step."""
        memo = self._span_memo
        if memo[0] == (a, b):
            return memo[1]
        first = self.calendar.session_on_or_after(datetime.fromtimestamp(a, KST).date())
        days = tuple(self.calendar.sessions_between(first, self.calendar.session_date(b)))
        self._span_memo = ((a, b), days)
        return days

    def _book_state(self, inst: Instrument, path: DayPath, ts: float, phase: Phase):
        """(best ask, best bid, (indicative price, qty), refresh index, print index) at ts: the
        latest of the last print and the last refresh decides the best quotes."""
        bar = path.bar
        upper, lower = ticks.limits(bar.ref, inst.kind)
        i = path.index_at(ts)
        if inst.kind == "index":
            return 0, 0, (0, 0), -1, i
        cad = self.cadence(inst.code, bar.date)
        k = cad.index_at(ts) if cad is not None else -1
        expected = (0, 0)
        if k >= 0 and phase in (Phase.PRE_OPEN_AUCTION, Phase.CLOSING_AUCTION) and cad.exp_price[k] > 0:
            expected = (int(cad.exp_price[k]), int(cad.exp_qty[k]))
        if k >= 0 and (i < 0 or cad.t[k] >= path.t[i]):
            return int(cad.ask1[k]), int(cad.bid1[k]), expected, k, i
        j = path.last_regular(i)
        if expected[0]:
            center, sign = expected[0], 1
        elif j >= 0:
            center, sign = int(path.price[j]), int(np.sign(path.qty[j])) or 1
        else:
            center, sign = bar.ref, 1
        ask1, bid1 = best_around(center, sign, inst.kind, upper, lower)
        return ask1, bid1, expected, k, i

    def _book_from_path(self, inst: Instrument, path: DayPath, ts: float, phase: Phase) -> Book:
        bar = path.bar
        upper, lower = ticks.limits(bar.ref, inst.kind)
        ask1, bid1, expected, k, i = self._book_state(inst, path, ts, phase)
        if inst.kind == "index":
            return build_book(inst.code, inst.kind, ts, 0, 0, upper, lower, 0.0, (), expected)
        cad = self.cadence(inst.code, bar.date)
        sizes = cad.size_row(i, k)
        return build_book(inst.code, inst.kind, ts, ask1, bid1, upper, lower, path.avg_trade_qty, sizes,
                          expected)

    # -- bars -----------------------------------------------------------------------------------
    def _previous_bar(self, code: str, day: date) -> Optional[DailyBar]:
        h = self.history(code)
        i = h.index_on_or_before(self.calendar.previous_session(day))
        return h.bar_at(i) if i >= 0 else None

    def _partial_bar(self, path: DayPath, ts: float) -> Optional[DailyBar]:
        """Today's bar as of ts (None before the opening auction)."""
        i = path.index_at(ts)
        j = path.last_regular(i)
        if j < 0:
            return None
        r = j - path.reg_first
        bar = path.bar
        return DailyBar(
            date=bar.date, open=int(path.price[path.reg_first]), high=int(path.run_high[r]),
            low=int(path.run_low[r]), close=int(path.price[j]), volume=int(path.cum_vol[i]),
            value=int(path.cum_val[i]), ref=bar.ref, event_flags=bar.event_flags, adj_ratio=bar.adj_ratio,
        )

    def _visible_rows(self, code: str, end: date) -> Tuple[DailyHistory, int, Optional[DailyBar]]:
        """(history, last visible full-bar row, today's partial bar or None) for bars up to `end`."""
        now = self.clock.time()
        today = self.calendar.session_date(now)
        h = self.history(code)
        i = h.index_on_or_before(min(end, today))
        partial = None
        if i >= 0 and h.ordinals[i] == today.toordinal():
            times = self.calendar.session_times(today)
            if times is not None and now < times.day_end_t:
                path = self.path(code, today)
                partial = self._partial_bar(path, now) if path is not None else None
                i -= 1
        return h, i, partial

    def daily_bars(self, code: str, end: date, count: int, adjusted: bool = False) -> List[DailyBar]:
        """Up to `count` bars dated <= end, newest first; today's bar is the partial bar as of the
        clock once the session has opened, and never anything after today."""
        h, i, partial = self._visible_rows(code, end)
        out: List[DailyBar] = []
        if partial is not None and count > 0:
            out.append(adjust_bar(partial, h.adj_factor(partial.date)) if adjusted else partial)
        if i >= 0 and len(out) < count:
            out.extend(reversed(h.bars_at(i - (count - len(out)) + 1, i, adjusted)))
        return out

    def index_daily_bars(self, sector_code: str, end: date, count: int) -> List[DailyBar]:
        return self.daily_bars(sector_code, end, count)

    def period_bars(self, code: str, period: str, end: date, count: int,
                    adjusted: bool = False) -> List[DailyBar]:
        """Weekly / monthly / yearly bars (newest first) aggregated from the visible daily bars;
        each is dated by its first session."""
        if period not in PERIODS:
            raise InvalidRequest(f"period must be one of {PERIODS}")
        h, i, partial = self._visible_rows(code, end)
        days: List[DailyBar] = h.bars_at(0, i, adjusted)
        if partial is not None:
            days.append(adjust_bar(partial, h.adj_factor(partial.date)) if adjusted else partial)
        groups: List[List[DailyBar]] = []
        last_key = None
        for bar in reversed(days):
            key = _period_key(bar.date, period)
            if key != last_key:
                if len(groups) == count:
                    break
                groups.append([])
                last_key = key
            groups[-1].append(bar)
        return [_aggregate(g) for g in groups]

    def minute_bars(self, code: str, interval_min: int, end_t: Instant, count: int,
                    adjusted: bool = False) -> List[IntradayBar]:
        """Minute bars of the regular session (auctions included) ending at or before end_t,
        newest first, reaching back over earlier sessions until `count` bars are collected."""
        if interval_min <= 0:
            raise InvalidRequest("interval_min must be positive")
        return self._intraday_bars(code, end_t, count, adjusted, False,
                                   lambda p, n: _minute_groups(p, n, interval_min))

    def tick_bars(self, code: str, ticks: int, end_t: Instant, count: int,
                  adjusted: bool = False) -> List[IntradayBar]:
        """Bars of `ticks` regular-session prints (counted from each day's first print),
        newest first, labelled by their last print's time."""
        if ticks <= 0:
            raise InvalidRequest("ticks must be positive")
        per_bar = ticks
        return self._intraday_bars(code, end_t, count, adjusted, True,
                                   lambda p, n: _tick_groups(n, per_bar))

    def _intraday_bars(self, code: str, end_t: Instant, count: int, adjusted: bool, by_last_print: bool,
                       grouper) -> List[IntradayBar]:
        ts = self._ts(end_t)
        visible = min(ts, self.clock.time())
        h = self.history(code)
        day = self.calendar.session_date(visible)
        out: List[IntradayBar] = []
        while len(out) < count and day >= h.start:
            path = self.path(code, day)
            if path is not None and path.reg_first >= 0:
                upto = path.last_regular(path.index_at(visible))
                n = upto - path.reg_first + 1
                if n > 0:
                    factor = h.adj_factor(day) if adjusted else 1.0
                    bars = _bars_from_groups(path, grouper(path, n), factor, by_last_print)
                    out.extend(reversed(bars[-(count - len(out)):]))
            day = self.calendar.previous_session(day)
        return out


def _sign(last: int, ref: int, upper: int, lower: int, kind: str) -> int:
    if kind != "index" and upper and last >= upper:
        return 1
    if kind != "index" and lower and last <= lower:
        return 4
    if last > ref:
        return 2
    if last < ref:
        return 5
    return 3


def _period_key(day: date, period: str) -> Tuple[int, ...]:
    if period == "week":
        iso = day.isocalendar()
        return (iso[0], iso[1])
    if period == "month":
        return (day.year, day.month)
    return (day.year,)


def _aggregate(bars_newest_first: List[DailyBar]) -> DailyBar:
    oldest, newest = bars_newest_first[-1], bars_newest_first[0]
    flags = 0
    for b in bars_newest_first:
        flags |= b.event_flags
    return DailyBar(
        date=oldest.date, open=oldest.open, high=max(b.high for b in bars_newest_first),
        low=min(b.low for b in bars_newest_first), close=newest.close,
        volume=sum(b.volume for b in bars_newest_first), value=sum(b.value for b in bars_newest_first),
        ref=oldest.ref, event_flags=flags,
    )


def _minute_groups(path: DayPath, n: int, interval_min: int) -> np.ndarray:
    """Bar labels (epoch s) of the first n regular prints: end of their interval counted from the
    open, the last one capped at the close (so the closing auction is labelled 15:30)."""
    seg = slice(path.reg_first, path.reg_first + n)
    width = interval_min * 60.0
    open_t, close_t = path.times.open_t, path.times.close_t
    labels = open_t + (np.floor((path.t[seg] - open_t) / width) + 1.0) * width
    labels = np.minimum(labels, close_t)
    labels[path.kind[seg] == K_CLOSE] = close_t
    return labels


def _tick_groups(n: int, per_bar: int) -> np.ndarray:
    return (np.arange(n) // per_bar).astype(np.float64)


def _bars_from_groups(path: DayPath, labels: np.ndarray, factor: float,
                      by_last_print: bool) -> List[IntradayBar]:
    """Bars over runs of equal `labels`; labelled by the label or by the run's last print time."""
    n = len(labels)
    start = path.reg_first
    prices = path.price[start:start + n]
    vols = np.abs(path.qty[start:start + n])
    cuts = np.concatenate([[0], np.nonzero(np.diff(labels))[0] + 1])
    ends = np.concatenate([cuts[1:], [n]]) - 1
    highs = np.maximum.reduceat(prices, cuts)
    lows = np.minimum.reduceat(prices, cuts)
    volumes = np.add.reduceat(vols, cuts)
    cum = path.cum_val
    bars: List[IntradayBar] = []
    for g, (a, b) in enumerate(zip(cuts, ends)):
        before = int(cum[start + a - 1]) if start + a > 0 else 0
        label = float(path.t[start + b]) if by_last_print else float(labels[a])

        def p(x: int) -> int:
            return int(round(x * factor)) if factor != 1.0 else int(x)

        bars.append(IntradayBar(
            t=label, open=p(prices[a]), high=p(highs[g]), low=p(lows[g]), close=p(prices[b]),
            volume=int(round(volumes[g] / factor)), value=int(cum[start + b]) - before, ref=p(path.bar.ref),
        ))
    return bars
