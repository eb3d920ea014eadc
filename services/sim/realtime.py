"""Realtime emulation: SetRealReg/SetRealRemove/DisconnectRealData and the OnReceiveRealData stream.

Registrations are kept per screen (code -> FIDs). What arrives is per realtime *type*: a code
registered with any FID of a type streams that whole type, its payload the tab-separated values of
all the type's FIDs in metadata order. The stream comes from the market as the clock advances, in
time order across codes:

- at every print: 주식체결; 주식우선호가 when the best quotes moved; 주식호가잔량 when the book did;
- at every book refresh between prints (a steady per-code cadence from 08:30 to 15:30, faster for
  active codes): 주식호가잔량 (new sizes), 주식우선호가 when the best moved, 주식예상체결 during
  the auctions when the indicative price or quantity changed, and 주식시세 (quote without a trade)
  when the best or the indicative price moved after at least QUOTE_QUIET_S without a print, at
  most once per QUOTE_GAP_S;
- VI발동/해제 when the market's VI detector fires and releases (per code, or for every stock when
  registered with an empty code);
- 장시작시간 (registered with an empty code) on its schedule; 업종지수 for index codes.

A synthetic mode adds trades at a fixed rate for load tests (`synthetic_rate_eps`, all day or only
inside `synthetic_window`, e.g. a soak's open burst). It must cost the
simulator little, since a benchmark runs it on the broker's Qt thread: each registered code has one
prebuilt event whose payload is rebuilt from the code's day about once a wall second (a slice of the
codes per step), and a step queues those records round-robin as they are, after the step's market
events (their instants carry no meaning).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

from koabus.metadata import catalog

from .config import seconds_of_day
from .core import (
    OP_ERR_NONE,
    OP_ERR_OVER_MAX_DATA,
    OP_ERR_OVER_MAX_FID,
    OP_ERR_RQ_STRING_FAIL,
    OP_ERR_SOCKET_CLOSED,
    SimCore,
)
from .delivery import PendingEvent
from .fidvalues import DayState, book_values

log = logging.getLogger(__name__)

TRADE, QUOTE, BEST, BOOK = "주식체결", "주식시세", "주식우선호가", "주식호가잔량"
EXPECTED, VI = "주식예상체결", "VI발동/해제"
MARKET_STATUS, INDEX = "장시작시간", "업종지수"
STOCK_TYPES = (TRADE, QUOTE, BEST, BOOK, EXPECTED, VI)
INDEX_TYPES = (INDEX,)
# Types registered for an empty code: the market status, and VI for every stock.
MARKET_TYPES = (MARKET_STATUS, VI)
# Types that need the book refreshes between prints.
REFRESH_TYPES = frozenset((QUOTE, BEST, BOOK, EXPECTED))
# Types the real control registers when a TR (opt10001, OPTKWFID) registers realtime by itself.
TR_TRIGGERED_TYPES = (TRADE, BEST, BOOK)
# 주식시세: only after this long without a print, and at most once per QUOTE_GAP_S per code.
QUOTE_QUIET_S = 5.0
QUOTE_GAP_S = 60.0
# What a streamed code is, for a step: the market-wide registration (""), an index, a stock or ETF.
_MARKET, _INDEX, _STOCK = 0, 1, 2
#: wall seconds between rebuilds of a code's synthetic trade payload
SYNTHETIC_REFRESH_S = 1.0
KST_OFFSET_S, DAY_S = 9 * 3600, 86400

class RealValues:
    """The values of one OnReceiveRealData for GetCommRealData: FID -> string, lazily indexed."""

    __slots__ = ("_index", "_values")

    def __init__(self, index: Dict[int, int], values: Sequence[str]):
        self._index = index
        self._values = values

    def get(self, fid: int, default: str = "") -> str:
        pos = self._index.get(fid)
        return self._values[pos] if pos is not None else default


class _CodeStream:
    """Per-code stream state beyond the day's statistics: name, market, the last indicative auction
    values sent and when the last 주식시세 went out."""

    __slots__ = ("day", "name", "market", "expected", "quote_t")

    def __init__(self, day: DayState, name: str, market: str, expected: Tuple[int, int]):
        self.day = day
        self.name = name
        self.market = market
        self.expected = expected
        self.quote_t = 0.0


class _TypeInfo:
    __slots__ = ("name", "fids", "index", "fidset")

    def __init__(self, name: str):
        self.name = name
        self.fids = tuple(catalog().realtype(name).fids)
        self.index = {f: i for i, f in enumerate(self.fids)}
        self.fidset = frozenset(self.fids)


class RealtimeService:
    """Realtime registrations and the event stream built from the market."""

    def __init__(self, core: SimCore):
        self._core = core
        self._types = {name: _TypeInfo(name) for name in STOCK_TYPES + INDEX_TYPES + (MARKET_STATUS,)}
        self._streams: Dict[str, _CodeStream] = {}
        self._screens: Dict[str, Dict[str, Set[int]]] = {}
        self._active: Dict[str, Tuple[str, ...]] = {}  # code -> realtime types it streams
        self._days: Dict[str, DayState] = {}
        self._books: Dict[str, Dict[int, int]] = {}
        self._best: Dict[str, Tuple[int, int]] = {}
        self._book_snaps: Dict[str, Tuple] = {}
        self._phase: Optional[str] = None
        self._index_last: Dict[str, Tuple] = {}
        self._session_key: Optional[object] = None
        # code -> (its types, the first instant after the last step with anything to stream): a
        # registered code with nothing due is skipped without asking the market (most of a step's
        # cost with hundreds of codes registered was asking about codes with nothing new)
        self._due: Dict[str, Tuple[Tuple[str, ...], float]] = {}
        self._skip_idle = True  # False streams every code every step (tests compare the two)
        self._synthetic_carry = 0.0
        self._synthetic_seq = 0
        self._registry_version = 0  # bumped by every registration change (the synthetic code list's key)
        self._plan: Optional[List[Tuple[str, Tuple[str, ...], int]]] = None  # see _step_plan
        self._synthetic_key: Optional[Tuple[int, int]] = None
        self._synthetic_codes: List[str] = []
        self._synthetic_ring: List[PendingEvent] = []  # one prebuilt event per code of the list
        self._synthetic_next = 0  # the next ring slot to refresh
        self._synthetic_wall = 0.0  # wall time of the last refresh
        self._held_speed = 0.0  # the speed to restore once `_hold_codes` codes are registered (0: not held)
        self._hold_codes = 0
        self._maybe_unbuilt = False  # a registered stock code may lack its stream (see `prepare`)

    # -- members -------------------------------------------------------------------------------
    def set_real_reg(self, screen: str, codes: str, fids: str, opt: str) -> int:
        core = self._core
        if not core.connected:
            return OP_ERR_SOCKET_CLOSED
        if not core.valid_screen(screen):
            return OP_ERR_RQ_STRING_FAIL
        code_list = [c.strip() for c in codes.split(";") if c.strip()] or ([""] if not codes.strip(";").strip() else [])
        fid_list = _parse_fids(fids)
        if len(code_list) > core.config.limits.max_realreg_codes:
            return OP_ERR_OVER_MAX_DATA
        if len(fid_list) > core.config.limits.max_realreg_fids:
            return OP_ERR_OVER_MAX_FID
        core.use_screen(screen)
        registered = self._screens.setdefault(screen, {})
        replaced = []
        if opt.strip() != "1":
            replaced = list(registered)
            registered.clear()
        for code in code_list:
            registered.setdefault(code, set()).update(fid_list)
        self._recompute(replaced + code_list)
        self._release_hold()
        return OP_ERR_NONE

    def hold_clock(self, codes: int) -> None:
        """Freeze the clock until `codes` codes are registered for realtime (SimConfig.hold_until_codes)."""
        clock = self._core.clock
        if codes > 0 and clock.speed > 0 and hasattr(clock, "set_speed"):
            self._held_speed, self._hold_codes = clock.speed, codes
            clock.set_speed(0.0)

    def _release_hold(self) -> None:
        if not self._held_speed or len(self._active) < self._hold_codes:
            return
        if self._core.config.stream_build_ms > 0 and self._unbuilt:
            return  # the wall timer's `prepare` builds them, then releases
        log.info("%d codes registered for realtime: the clock runs at %gx", len(self._active), self._held_speed)
        self._core.clock.set_speed(self._held_speed)
        self._held_speed = 0.0

    def register_from_tr(self, screen: str, codes: Iterable[str]) -> None:
        """TR-triggered registration (opt10001, OPTKWFID): adds the codes to the request screen."""
        fids: Set[int] = set()
        for name in TR_TRIGGERED_TYPES:
            fids.update(self._types[name].fids)
        registered = self._screens.setdefault(screen, {})
        for code in codes:
            if code:
                registered.setdefault(code, set()).update(fids)
        self._recompute()
        self._release_hold()

    def set_real_remove(self, screen: str, code: str) -> None:
        screen, code = screen.strip(), code.strip()
        screens = list(self._screens) if screen.upper() == "ALL" else [screen]
        removed: List[str] = []
        for scr in screens:
            registered = self._screens.get(scr)
            if registered is None:
                continue
            if code.upper() == "ALL":
                removed += registered
                registered.clear()
            elif registered.pop(code, None) is not None:
                removed.append(code)
            if not registered:
                del self._screens[scr]
                self._core.release_screen(scr)
        self._recompute(removed)

    def disconnect_real_data(self, screen: str) -> None:
        registered = self._screens.pop(screen.strip(), None)
        if registered is not None:
            self._core.release_screen(screen.strip())
            self._recompute(list(registered))

    def clear_all(self) -> None:
        self._screens.clear()
        self._recompute()

    @property
    def active_codes(self) -> Dict[str, Tuple[str, ...]]:
        return dict(self._active)

    # -- stream --------------------------------------------------------------------------------
    def _new_session(self, t: float) -> None:
        """Forget the last session's streams when `t` belongs to another one."""
        session_key = self._core.world.session_key(t)
        if session_key != self._session_key:
            self._session_key = session_key
            self._days.clear()
            self._books.clear()
            self._best.clear()
            self._book_snaps.clear()
            self._streams.clear()
            self._due.clear()
            self._synthetic_key = None
            self._synthetic_codes, self._synthetic_ring = [], []  # yesterday's payloads are not kept
            self._maybe_unbuilt = True

    @property
    def holding(self) -> bool:
        """The clock is held (`hold_clock`) until enough codes are registered and built."""
        return bool(self._held_speed)

    @property
    def _unbuilt(self) -> bool:
        """Registered stock codes still without a stream (built by `prepare` when a budget is set)."""
        streams = self._streams
        return any(kind == _STOCK and code not in streams for code, _types, kind in self._step_plan())

    def prepare(self, t: float, budget_s: float) -> None:
        """Build the streams (day state, path, book) of newly registered stock codes as of the stream's
        instant `t`, until `budget_s` wall seconds are spent: ~15 ms a code, so registering hundreds at once
        no longer holds the Qt thread for seconds in one step. A code streams from the step after its build
        (what happened to it before is in its day state, not streamed). Then releases a clock hold."""
        if not self._active:
            return
        self._new_session(t)
        if self._maybe_unbuilt:  # else nothing to build: no pass over hundreds of codes every tick
            started = time.monotonic()
            streams = self._streams
            for code, _types, kind in self._step_plan():
                if kind == _STOCK and code not in streams:
                    if time.monotonic() - started >= budget_s:
                        return
                    self._stream(code, t)
            self._maybe_unbuilt = False
        self._release_hold()

    def step(self, t0: float, t1: float, built_only: bool = False) -> None:
        """Emit what happened in (t0, t1] for every registered code, in time order (with `built_only`, of the
        stock codes whose stream `prepare` has built)."""
        if not self._active:
            return
        world = self._core.world
        self._new_session(t1)
        events: List[Tuple[float, int, str, str, str, RealValues]] = []
        order = 0
        skip_idle, due_of, streams = self._skip_idle, self._due.get, self._streams
        for code, types, kind in self._step_plan():
            if kind == _STOCK:
                due = due_of(code)  # most registered codes have nothing due in a step: skipped right here
                if skip_idle and due is not None and due[1] > t1 and due[0] == types:
                    continue
                if built_only and code not in streams:
                    continue
                order = self._stock_events(code, types, t0, t1, events, order)
            elif kind == _INDEX:
                order = self._index_events(code, types, t1, events, order)
            else:
                if MARKET_STATUS in types:
                    order = self._status_events(t0, t1, events, order)
                if VI in types:
                    for stock in world.stock_codes():
                        if VI not in self._active.get(stock, ()):
                            order = self._vi_events(stock, t0, t1, events, order)
        events.sort(key=lambda e: (e[0], e[1]))
        post = self._core.post
        for _t, _o, code, name, payload, values in events:
            post("OnReceiveRealData", code, name, payload, context=values)
        config = self._core.config
        if config.synthetic_rate_eps > 0 and config.synthetic_window is None:
            self._synthetic_events(t0, t1, t1 - t0)

    def burst(self, t0: float, t1: float, room: float) -> None:
        """The windowed synthetic stream (`synthetic_window`) over the clock's [t0, t1): offered on the
        clock rather than behind the market stream, so a market that falls behind does not hold the
        burst back; what does not fit in `room` (the queue's free places) is dropped here and counted."""
        config = self._core.config
        if config.synthetic_rate_eps > 0 and config.synthetic_window is not None:
            inside = _inside_window(t0, t1, config.synthetic_window)
            if inside > 0:
                self._synthetic_events(t0, t1, inside, room)

    def _step_plan(self) -> List[Tuple[str, Tuple[str, ...], int]]:
        """(code, types, kind) of every streamed code in registration order, kept until the registrations
        change (a step over 2,500 codes spent most of its time classifying them again)."""
        if self._plan is None:
            world = self._core.world
            self._plan = [(code, types, _MARKET if code == "" else _INDEX if world.is_index(code) else _STOCK)
                          for code, types in self._active.items()]
        return self._plan

    def _recompute(self, codes: Optional[Iterable[str]] = None) -> None:
        """Bring the streamed codes up to date with the screens: for `codes` only (what a call touched),
        or for every code. Per call, not per registry: releasing 20,000 codes one SetRealRemove at a
        time must not rescan the other 19,999 each time (that was 170 s of a broker's release)."""
        self._registry_version += 1
        self._plan = None
        self._maybe_unbuilt = True
        if codes is not None:
            screens = self._screens.values()
            for code in dict.fromkeys(codes):
                fids: Set[int] = set()
                for registered in screens:
                    have = registered.get(code)
                    if have:
                        fids |= have
                names = self._names(code, fids) if fids else ()
                if names:
                    self._active[code] = names
                elif self._active.pop(code, None) is not None or code in self._days:
                    self._forget(code)
            return
        union: Dict[str, Set[int]] = {}
        for registered in self._screens.values():
            for code, fids in registered.items():
                union.setdefault(code, set()).update(fids)
        active: Dict[str, Tuple[str, ...]] = {}
        for code, fids in union.items():
            names = self._names(code, fids)
            if names:
                active[code] = names
        for code in list(self._days):
            if code not in active:
                self._forget(code)
        self._active = active

    def _names(self, code: str, fids: Set[int]) -> Tuple[str, ...]:
        """The realtime types `fids` select for `code` (none for a code the market does not list)."""
        world = self._core.world
        if code == "":
            kinds = MARKET_TYPES
        elif world.is_index(code):
            kinds = INDEX_TYPES
        elif world.is_stock(code):
            kinds = STOCK_TYPES
        else:
            return ()
        return tuple(n for n in kinds if fids & self._types[n].fidset)

    def _forget(self, code: str) -> None:
        self._due.pop(code, None)
        self._days.pop(code, None)
        self._books.pop(code, None)
        self._best.pop(code, None)
        self._book_snaps.pop(code, None)
        self._streams.pop(code, None)

    def _day(self, code: str, t0: float) -> DayState:
        day = self._days.get(code)
        if day is None:
            world = self._core.world
            day = DayState(world.instrument_info(code, t0))
            path_of = getattr(world.market, "path", None)  # a replayed market has no generated paths
            if path_of is not None:
                seed_day(day, path_of(code, world.session_key(t0)), t0)
            else:
                for t, price, qty, regular in world.trades(code, world.session_start(t0), t0):
                    day.apply(t, price, qty, regular)
            day.ask, day.bid = world.best(code, t0)
            self._days[code] = day
            self._best[code] = (day.ask, day.bid)
        return day

    def _stream(self, code: str, t0: float) -> _CodeStream:
        st = self._streams.get(code)
        if st is None:
            world = self._core.world
            day = self._day(code, t0)
            inst = world.instrument(code)
            st = _CodeStream(day, inst.name if inst else "", inst.market if inst else "",
                             world.expected(code, t0))
            self._streams[code] = st
        return st

    def _next_due(self, code: str, wanted: Set[str], t: float) -> float:
        """The first instant after `t` at which `code` has a print, a book refresh (when a refresh
        type is wanted) or a VI change (when VI is wanted) on the session `t` belongs to."""
        world = self._core.world
        market = world.market
        if not all(hasattr(market, name) for name in ("path", "cadence", "vi_events")):
            return float("-inf")  # a replayed market: no schedule to read, ask every step
        day = world.session_key(t)
        due = float("inf")
        path = market.path(code, day)
        if path is not None:
            i = path.index_at(t) + 1
            if i < len(path):
                due = float(path.t[i])
        if wanted & REFRESH_TYPES:
            cad = market.cadence(code, day)
            if cad is not None:
                k = cad.index_at(t) + 1
                if k < len(cad):
                    due = min(due, float(cad.t[k]))
        if VI in wanted:
            for ev in market.vi_events(code, day):
                for at in (ev.t, ev.release_t):
                    if at > t:
                        due = min(due, at)
        return due

    def _stock_events(self, code, types, t0, t1, events, order) -> int:
        due = self._due.get(code)
        if due is not None and due[0] == types and due[1] > t1 and self._skip_idle:
            return order
        order = self._stock_events_now(code, types, t0, t1, events, order)
        self._due[code] = (types, self._next_due(code, set(types), t1))
        return order

    def _stock_events_now(self, code, types, t0, t1, events, order) -> int:
        world = self._core.world
        st = self._stream(code, t0)
        day = st.day
        wanted = set(types)
        items: List[Tuple[float, int, Any]] = [(t, 0, trade) for trade in world.trades(code, t0, t1)
                                               for t in (trade[0],)]
        if wanted & REFRESH_TYPES:
            changes_only = BOOK not in wanted  # without the book, unchanged refreshes are noise
            items += [(r[0], 1, r) for r in world.book_refreshes(code, t0, t1, changes_only)]
            items.sort(key=lambda x: (x[0], x[1]))
        trade_t, best_t, book_t = self._types[TRADE], self._types[BEST], self._types[BOOK]
        want_trade, want_best, want_book = TRADE in wanted, BEST in wanted, BOOK in wanted
        want_quote, want_expected = QUOTE in wanted, EXPECTED in wanted
        for t, kind, item in items:
            if kind == 0:  # a print
                _t, price, qty, regular = item
                day.apply(t, price, qty, regular)
                if want_trade:
                    values = day.trade_values(trade_t.fids)
                    events.append((t, order, code, TRADE, "\t".join(values), RealValues(trade_t.index, values)))
                    order += 1
                if not (want_best or want_book or want_quote):
                    continue
                ask, bid = world.best(code, t)
                best_moved = (ask, bid) != self._best.get(code)
            else:  # a book refresh between prints
                _t, ask, bid, exp_price, exp_qty = item
                best_moved = (ask, bid) != self._best.get(code)
            day.ask, day.bid = ask, bid
            if best_moved:
                self._best[code] = (ask, bid)
                if want_best:
                    values = day.best_values()
                    events.append((t, order, code, BEST, "\t".join(values), RealValues(best_t.index, values)))
                    order += 1
            if want_book:
                order = self._book_event(code, t, day, book_t, events, order)
            if kind == 0:
                continue
            expected_moved = (exp_price, exp_qty) != st.expected
            price_moved = exp_price != st.expected[0]
            st.expected = (exp_price, exp_qty)
            if want_expected and exp_price and expected_moved:
                info = self._types[EXPECTED]
                values = day.expected_values(info.fids, t, exp_price, exp_qty)
                events.append((t, order, code, EXPECTED, "\t".join(values), RealValues(info.index, values)))
                order += 1
            if (want_quote and (best_moved or (exp_price and price_moved))
                    and t - day.last_t >= QUOTE_QUIET_S and t - st.quote_t >= QUOTE_GAP_S):
                st.quote_t = t
                info = self._types[QUOTE]
                values = day.quote_values(info.fids)
                events.append((t, order, code, QUOTE, "\t".join(values), RealValues(info.index, values)))
                order += 1
        if VI in wanted:
            order = self._vi_events(code, t0, t1, events, order)
        return order

    def _book_event(self, code: str, t: float, day: DayState, book_t: _TypeInfo, events, order) -> int:
        world = self._core.world
        book = world.book_object(code, t)
        snap = (book.asks, book.bids, book.expected_price, book.expected_qty)
        if snap == self._book_snaps.get(code):
            return order
        self._book_snaps[code] = snap
        prev = self._books.setdefault(code, {})
        values = book_values(book_t.fids, t, day.info.ref, list(book.asks), list(book.bids), day.volume,
                             world.status_code(t), prev, (int(book.expected_price), int(book.expected_qty)))
        events.append((t, order, code, BOOK, "\t".join(values), RealValues(book_t.index, values)))
        return order + 1

    def _vi_events(self, code: str, t0: float, t1: float, events, order) -> int:
        world = self._core.world
        changes = world.vi_between(code, t0, t1)
        if not changes:
            return order
        st = self._stream(code, t0)
        info = self._types[VI]
        for t, released, ev in changes:
            totals = (ev.volume, ev.value)
            if released:
                q = world.quote(code, t)
                totals = (int(q.volume), int(q.value))
            values = st.day.vi_values(info.fids, st.name, st.market, ev, released, totals)
            events.append((t, order, code, VI, "\t".join(values), RealValues(info.index, values)))
            order += 1
        return order

    def _index_events(self, code, types, t1, events, order) -> int:
        world = self._core.world
        info = self._types[INDEX]
        values = world.index_values(code, t1, info.fids)
        if values is None:
            return order
        key = tuple(values[1:])  # everything but the time
        if self._index_last.get(code) == key:
            return order
        self._index_last[code] = key
        events.append((t1, order, code, INDEX, "\t".join(values), RealValues(info.index, values)))
        return order + 1

    def _status_events(self, t0, t1, events, order) -> int:
        world = self._core.world
        info = self._types[MARKET_STATUS]
        for t, values in world.status_changes(t0, t1, self._phase):
            self._phase = values[0]
            events.append((t, order, "", MARKET_STATUS, "\t".join(values), RealValues(info.index, values)))
            order += 1
        return order

    def _synthetic_events(self, t0: float, t1: float, span: float, room: float = math.inf) -> None:
        """Load-test trades at `synthetic_rate_eps` (per market second) for `span` market seconds across the
        registered stock codes whose day is built: the ring's prebuilt records, round-robin, queued in one
        call; beyond `room`, dropped and counted."""
        ring = self._synthetic_ring_now()
        if not ring:
            return
        wanted = self._core.config.synthetic_rate_eps * span + self._synthetic_carry
        count = int(wanted)
        self._synthetic_carry = wanted - count
        if count > room:
            self._core.stats.synthetic_dropped += count - max(0, int(room))
            count = max(0, int(room))
        if count <= 0:
            return
        self._refresh_synthetic(ring)
        start = self._synthetic_seq % len(ring)
        rotated = ring[start:] + ring[:start] if start else ring
        laps, rest = divmod(count, len(ring))
        self._core.post_records(rotated * laps + rotated[:rest])
        self._synthetic_seq += count

    def _synthetic_ring_now(self) -> List[PendingEvent]:
        """The ring for the current registrations and built days (rebuilt only when either changed;
        records of codes still in it are kept)."""
        key = (self._registry_version, len(self._days))
        if key != self._synthetic_key:
            self._synthetic_key = key
            kept = dict(zip(self._synthetic_codes, self._synthetic_ring))
            codes = [c for c, types in self._active.items() if TRADE in types and c in self._days]
            self._synthetic_codes = codes
            self._synthetic_ring = [kept.get(c) or self._synthetic_record(c) for c in codes]
            self._synthetic_next = 0
            self._synthetic_wall = time.monotonic()
        return self._synthetic_ring

    def _refresh_synthetic(self, ring: List[PendingEvent]) -> None:
        """Rebuild the slice of the ring due since the last refresh, so each payload is at most about
        SYNTHETIC_REFRESH_S wall seconds older than its code's day (at least one record per step)."""
        now = time.monotonic()
        elapsed, self._synthetic_wall = now - self._synthetic_wall, now
        n = len(ring)
        due = n if SYNTHETIC_REFRESH_S <= 0 else min(n, math.ceil(n * elapsed / SYNTHETIC_REFRESH_S))
        codes = self._synthetic_codes
        for _ in range(max(1, due)):
            i = self._synthetic_next % n
            ring[i] = self._synthetic_record(codes[i])
            self._synthetic_next = i + 1

    def _synthetic_record(self, code: str) -> PendingEvent:
        info = self._types[TRADE]
        values = self._days[code].trade_values(info.fids)
        return PendingEvent("OnReceiveRealData", (code, TRADE, "\t".join(values)), RealValues(info.index, values))


def _inside_window(t0: float, t1: float, window: Tuple[str, str]) -> float:
    """Seconds of [t0, t1) (epoch seconds) that fall between the window's KST times of day, on any day."""
    start, end = seconds_of_day(window[0]), seconds_of_day(window[1])
    day = t0 - (t0 + KST_OFFSET_S) % DAY_S  # KST midnight at or before t0 (KST keeps no daylight time)
    inside = 0.0
    while day < t1:
        inside += max(0.0, min(t1, day + end) - max(t0, day + start))
        day += DAY_S
    return inside


def seed_day(day: DayState, path: Any, t: float) -> None:
    """Bring a fresh DayState to instant `t` from the day's trade path in one vectorised pass, with
    the same result as `day.apply` on every print up to `t` (a liquid code has ~10^5 prints by the
    afternoon: replaying them one by one took a noticeable fraction of a second per registration)."""
    import numpy as np  # noqa: PLC0415 (the market's arrays; the sim is numpy-based anyway)

    if path is None:
        return
    i = path.index_at(t)
    if i < 0:
        return
    qty = path.qty[:i + 1].astype(np.int64)
    price = path.price[:i + 1].astype(np.int64)
    size = np.abs(qty)
    buy = qty >= 0
    day.volume, day.value = int(size.sum()), int(np.dot(size, price))
    day.buy_volume, day.buy_count = int(size[buy].sum()), int(buy.sum())
    day.sell_volume, day.sell_count = day.volume - day.buy_volume, (i + 1) - day.buy_count
    day.last_t, day.last_qty = float(path.t[i]), int(path.qty[i])
    j = path.last_regular(i)
    if j >= 0:
        first, r = path.reg_first, j - path.reg_first
        day.open, day.open_t = int(path.price[first]), float(path.t[first])
        day.high, day.high_t = int(path.run_high[r]), float(path.t[path.high_at[r]])
        day.low, day.low_t = int(path.run_low[r]), float(path.t[path.low_at[r]])
        day.last = int(path.price[j])
        reg = price[first:j + 1]
        info = day.info
        if info.upper and (reg >= info.upper).any():
            day.upper_t = float(path.t[first + int(np.argmax(reg >= info.upper))])
        if info.lower and (reg <= info.lower).any():
            day.lower_t = float(path.t[first + int(np.argmax(reg <= info.lower))])
    regular_last = path.reg_first <= i <= path.reg_last
    day.session = "2" if regular_last else ("1" if j < 0 else "3")


def _parse_fids(text: str) -> List[int]:
    fids: List[int] = []
    for part in text.split(";"):
        part = part.strip()
        if part.isdigit():
            fids.append(int(part))
    return fids
