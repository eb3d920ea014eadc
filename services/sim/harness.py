"""SimHarness (`control.sim`): clock stepping, access to the simulated market and fault injection.

Not part of the OCX surface; the broker never touches it. Tests freeze the clock (speed 0) and
call `advance(seconds)`, then pump the Qt loop to receive what happened in that interval.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any, Optional

from koabus.common.clock import KST, VirtualClock

from .config import SimConfig
from .core import OP_ERR_SOCKET_CLOSED, SimCore
from .delivery import EventQueue
from .store import StoreWriter, header_for, open_store, resume_time
from .world import next_session_open, replay_start

if TYPE_CHECKING:  # pragma: no cover
    from .control import SimulatedControl

log = logging.getLogger(__name__)

#: the realtime stream is skipped forward only when it lags the clock by more than this much wall time
#: at the set speed too: a stall of a few seconds (a first path build, loading the calendar library)
#: is caught up, span by span, and loses nothing
LAG_WALL_S = 10.0


def make_clock(config: SimConfig) -> VirtualClock:
    """The clock a control builds when none is given (see SimConfig.start_mode)."""
    if config.start_mode == "fixed":
        return VirtualClock(config.start, config.speed)
    if config.start_mode == "wall":
        return VirtualClock(None, config.speed)
    return VirtualClock(replay_start(), config.speed)


def open_state(config: SimConfig, clock: Any) -> Optional[StoreWriter]:
    """The simulated server's store when `config.state_dir` is set (None otherwise), with the clock
    moved forward to where the server's time is now: the latest of the configured start, the stored
    clock anchor carried forward by the wall time since, and the last stored order."""
    if config.state_dir is None:
        return None
    store = open_store(config.state_dir, header_for(config))
    start = clock.time()
    resume = resume_time(start, store.anchor, store.records)
    if config.start_mode == "replay" and resume > start:
        resume = replay_resume_time(resume)
    if resume > start:
        if hasattr(clock, "set_time"):
            clock.set_time(resume)
        else:
            log.warning("the clock cannot be moved to the stored server time %.3f", resume)
    log.info("simulated server state in %s: %d order inputs, clock resumes at %.3f (configured %.3f)",
             config.state_dir, len(store.records), clock.time(), start)
    return store


def replay_resume_time(t: float, calendar: Any = None) -> float:
    """Replay mode promises a live-looking session at any hour: a resumed clock that falls outside a
    regular session (after the close, a holiday) moves on to the next session's open, never back."""
    from .market.calendar import KrxCalendar  # noqa: PLC0415

    calendar = calendar or KrxCalendar()
    day = datetime.fromtimestamp(t, KST).date()
    times = calendar.session_times(day)
    if times is not None and times.open_t <= t < times.close_t:
        return t
    return next_session_open(calendar, t)


class SimHarness:
    """Operator/test handle of one SimulatedControl."""

    def __init__(self, control: SimulatedControl, core: SimCore, queue: EventQueue):
        self._control = control
        self._core = core
        self._queue = queue
        self._last_t = core.clock.time()
        self._rt_t = self._last_t  # how far the realtime stream has gone (the wall timer may lag it)

    # -- access ---------------------------------------------------------------------------------
    @property
    def clock(self) -> Any:
        return self._core.clock

    @property
    def config(self) -> SimConfig:
        return self._core.config

    @property
    def world(self) -> Any:
        return self._core.world

    @property
    def market(self) -> Any:
        return self._core.world.market

    @property
    def exchange(self) -> Any:
        return self._core.world.exchange

    @property
    def accounts(self) -> Any:
        return self._core.world.accounts

    @property
    def stats(self) -> Any:
        return self._core.stats

    @property
    def pending_events(self) -> int:
        return len(self._queue)

    # -- time -----------------------------------------------------------------------------------
    def step(self) -> None:
        """Bring the simulation up to the clock's now: exchange, realtime stream, conditions (the
        realtime stream whole, with any part the wall timer left behind: tests drive time with this)."""
        self._advance_to(self._core.clock.time(), bounded=False)

    def tick(self) -> None:
        """The wall timer's step. The realtime stream is bounded, as a feed too fast for its reader
        falls behind and then loses ticks rather than queueing them: at most `max_realtime_span_s`
        of market time is streamed per tick (never less than two ticks' worth at the set speed), the
        rest follows on later ticks; while more than `max_pending_events` wait for the Qt loop it
        waits; once it is more than `max_realtime_lag_s` behind the clock, the older part is skipped
        and counted in `stats`. One tick's events, the queue and the garbage collector's full passes
        over them (which pause every thread, the broker's heartbeats too) stay bounded, and so does the
        building of newly registered codes' streams (`stream_build_ms` a tick; a code streams once built).
        Orders, fills and conditions always run to the clock's now."""
        self._advance_to(self._core.clock.time(), bounded=True)

    def _advance_to(self, now: float, bounded: bool) -> None:
        if not self._core.connected:
            self._rt_t = max(self._rt_t, now)  # nothing is streamed while the link is down
        if now > self._last_t:
            last, self._last_t = self._last_t, now
            self._control._orders.step(last, now)
            self._core.world.save_anchor()
            if self._core.connected:
                self._stream(now, bounded)
                self._burst(last, now, bounded)
                self._control._conditions.step(last, now)
        elif self._core.connected:
            self._stream(now, bounded)  # a tick of a stopped clock still catches up

    def _stream(self, now: float, bounded: bool) -> None:
        start = self._rt_t
        config = self._core.config
        build_s = config.stream_build_ms / 1000.0 if bounded else 0.0
        realtime = self._control._realtime
        if start >= now:
            if build_s > 0 and realtime.holding:
                realtime.prepare(start, build_s)  # a held clock: the new codes' streams are built meanwhile
            return  # a stopped clock (speed 0: tests step it) builds nothing: its codes cost nothing until it moves
        if not bounded:
            self._rt_t = now
            realtime.step(start, now)
            return
        span_s = config.max_realtime_span_s
        if span_s <= 0:
            span_s = float("inf")
        else:
            span_s = max(span_s, 2.0 * config.tick_interval_ms / 1000.0 * self._core.clock.speed)
        lag_bound = config.max_realtime_lag_s
        if lag_bound > 0:  # and never less than four spans, or ten wall seconds of market at the speed
            lag_bound = max(lag_bound, 4 * span_s, LAG_WALL_S * self._core.clock.speed)
        if lag_bound > 0 and now - start > lag_bound:
            self._skipped(now - start - span_s if span_s != float("inf") else now - start - lag_bound)
            start = now - (span_s if span_s != float("inf") else lag_bound)
            self._rt_t = start
        if build_s > 0:
            realtime.prepare(start, build_s)
        limit = config.max_pending_events
        if limit > 0 and len(self._queue) > limit:
            return  # the Qt loop is behind: the stream waits (and skips once too far behind)
        end = min(now, start + span_s)
        self._rt_t = end
        realtime.step(start, end, built_only=build_s > 0)

    def _burst(self, last: float, now: float, bounded: bool) -> None:
        """The windowed synthetic trades on the clock (a load test's burst), into the queue's free places."""
        limit = self._core.config.max_pending_events
        room = limit - len(self._queue) if bounded and limit > 0 else math.inf
        stats = self._core.stats
        before = stats.synthetic_dropped
        self._control._realtime.burst(last, now, room)
        if stats.synthetic_dropped > before and before == 0:
            log.warning("the synthetic burst is ahead of the Qt loop (%d events queued): its events that do not fit "
                        "are dropped (counted in stats.synthetic_dropped)", len(self._queue))

    def _skipped(self, span_s: float) -> None:
        stats = self._core.stats
        if stats.realtime_skips % 1000 == 0:
            log.warning("the simulated market is ahead of the Qt loop (%d events queued): %.1f s of market "
                        "realtime skipped (lower the speed, or register fewer codes)", len(self._queue), span_s)
        stats.realtime_skips += 1
        stats.realtime_skipped_s += span_s

    def advance(self, seconds: float, max_step_s: float = 60.0) -> None:
        """Move virtual time forward by `seconds` in steps of at most `max_step_s`.

        Events produced are queued; pump the Qt loop to receive them.
        """
        remaining = float(seconds)
        while remaining > 0:
            chunk = min(remaining, max_step_s)
            self._core.clock.advance(chunk)
            self.step()
            remaining -= chunk

    def sync(self) -> None:
        """Forget the interval up to now without producing events (after `clock.set_time`)."""
        self._last_t = self._rt_t = self._core.clock.time()

    # -- the persistent server state ---------------------------------------------------------------
    @property
    def store(self) -> Optional[StoreWriter]:
        """The store writer when `SimConfig.state_dir` is set (read it with `store.SimStore`)."""
        return self._control._store

    def close(self) -> None:
        """Write the clock anchor and release the store (a process exit releases it too)."""
        store = self._control._store
        if store is not None and not store.closed:
            self._core.world.save_anchor(force=True)
            store.close()

    # -- faults ---------------------------------------------------------------------------------
    def drop_connection(self, code: int = OP_ERR_SOCKET_CLOSED) -> None:
        """Connection loss: OnEventConnect(code), then no realtime, TRs fail, GetConnectState 0."""
        self._core.drop_connection(code)

    def fail_next_login(self, code: int = -101) -> None:
        """The next CommConnect delivers OnEventConnect(code) instead of 0."""
        self._core.faults.next_login_error = int(code)

    def delay_events(self, delay_ms: int) -> None:
        """Hold every event posted from now on for `delay_ms` wall milliseconds (0 restores)."""
        self._core.faults.event_delay_ms = int(delay_ms)
        self._queue.delay_ms = int(delay_ms)

    def chejan_before_tr(self, enabled: bool = True) -> None:
        """Deliver an order's first chejan before its OnReceiveTrData (heavy-flow ordering)."""
        self._core.faults.chejan_before_tr = bool(enabled)

    def overflow_next(self, calls: int) -> None:
        """The next `calls` query calls (CommRqData, CommKwRqData, SendCondition) return -200."""
        self._core.faults.overflow_calls = int(calls)

    def reset_limits(self) -> None:
        """Forget the rate-limit history (tests that need a clean budget)."""
        self._core.tr_limiter.reset()
        self._core.order_limiter.reset()

