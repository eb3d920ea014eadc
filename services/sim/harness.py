"""SimHarness (`control.sim`): clock stepping, access to the simulated market and fault injection.

Not part of the OCX surface; the broker never touches it. Tests freeze the clock (speed 0) and
call `advance(seconds)`, then pump the Qt loop to receive what happened in that interval.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from koabus.common.clock import VirtualClock

from .config import SimConfig
from .core import OP_ERR_SOCKET_CLOSED, SimCore
from .delivery import EventQueue
from .world import replay_start

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
    def step(self) -> None:
        """Bring the simulation up to the clock's now: exchange, realtime stream, conditions."""
        now = self._core.clock.time()
        if now <= self._last_t:
            return
        last, self._last_t = self._last_t, now
        control = self._control
        control._orders.step(last, now)
        if self._core.connected:
            control._realtime.step(last, now)
            control._conditions.step(last, now)

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

