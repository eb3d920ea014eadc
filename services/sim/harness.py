"""SimHarness (`control.sim`): clock stepping, access to the simulated market and fault injection.

Not part of the OCX surface; the broker never touches it. Tests freeze the clock (speed 0) and
call `advance(seconds)`, then pump the Qt loop to receive what happened in that interval.
"""
from __future__ import annotations

import logging
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
    def step(self, realtime: bool = True, max_span_s: float = 0.0) -> None:
        """Bring the simulation up to the clock's now: exchange, realtime stream, conditions.
        `realtime=False` leaves out the realtime events of this span, and `max_span_s` > 0 streams
        only the latest `max_span_s` of it (what is left out is counted in `stats`)."""
        now = self._core.clock.time()
        if now <= self._last_t:
            return
        last, self._last_t = self._last_t, now
        control = self._control
        control._orders.step(last, now)
        self._core.world.save_anchor()
        if self._core.connected:
            if not realtime:
                self._skipped(now - last)
            elif max_span_s > 0 and now - last > max_span_s:
                self._skipped(now - last - max_span_s)
                control._realtime.step(now - max_span_s, now)
            else:
                control._realtime.step(last, now)
            control._conditions.step(last, now)

    def tick(self) -> None:
        """The wall timer's step, bounded: as a feed too fast for its reader loses ticks, the realtime
        stream skips (and counts) what the Qt loop cannot take. While more than `max_pending_events`
        wait, a span is skipped whole; after a stall (or at a speed this machine cannot stream), only
        the latest `max_realtime_span_s` of a span is streamed. One tick's events, the queue, and the
        garbage collector's full passes over them (which pause every thread, the broker's heartbeats
        too) stay bounded."""
        config = self._core.config
        limit = config.max_pending_events
        span_s = config.max_realtime_span_s
        if span_s > 0:  # never less than two ticks of market time: a machine that keeps up skips nothing
            span_s = max(span_s, 2.0 * config.tick_interval_ms / 1000.0 * self._core.clock.speed)
        self.step(realtime=not (limit > 0 and len(self._queue) > limit), max_span_s=span_s)

    def _skipped(self, span_s: float) -> None:
        stats = self._core.stats
        if stats.realtime_skips % 1000 == 0:
            log.warning("the simulated market is ahead of the Qt loop (%d events queued, %.1f s of market "
                        "in one tick): realtime events are skipped until it catches up (lower the speed, "
                        "or register fewer codes)", len(self._queue), span_s)
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
        self._last_t = self._core.clock.time()

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

