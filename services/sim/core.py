"""SimCore: the state every part of the simulated control shares (config, clock, world, session, queue).

The OCX facade (`control.py`) owns one SimCore; the TR, realtime, order and condition services read
and change it. It holds no Qt signals itself: `post` hands events to the delivery queue.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Set

from koabus.common.clock import Clock

from .config import SimConfig
from .limits import OncePer, WindowLimiter

log = logging.getLogger(__name__)

OP_ERR_NONE = 0
OP_ERR_SOCKET_CLOSED = -106
OP_ERR_SISE_OVERFLOW = -200
OP_ERR_RQ_STRUCT_FAIL = -201
OP_ERR_RQ_STRING_FAIL = -202
OP_ERR_OVER_MAX_DATA = -204
OP_ERR_OVER_MAX_FID = -206
OP_ERR_ORD_WRONG_INPUT = -300
OP_ERR_OTHER_ACC_USE = -302
OP_ERR_ORD_OVERFLOW = -308
OP_ERR_ORD_SYMCODE_EMPTY = -500


@dataclass
class Faults:
    """Mutable fault switches, changed at run time through `control.sim`."""

    event_delay_ms: int = 0
    chejan_before_tr: bool = False
    next_login_error: Optional[int] = None
    overflow_calls: int = 0  # the next N query calls return -200


@dataclass
class Stats:
    """Counters the harness exposes (useful in tests and benchmarks)."""

    tr_requests: int = 0
    tr_rejected: int = 0
    orders: int = 0
    realtime_events: int = 0
    screens_over_limit: int = 0
    # spans of the realtime stream skipped because the event queue was over max_pending_events
    realtime_skips: int = 0
    realtime_skipped_s: float = 0.0
    # windowed synthetic trades (a burst) that did not fit in the queue (max_pending_events)
    synthetic_dropped: int = 0


class SimCore:
    """Shared state of one simulated control."""

    def __init__(self, config: SimConfig, clock: Clock, world: Any,
                 post: Callable[..., None], post_records: Optional[Callable[[Sequence[Any]], None]] = None):
        self.config = config
        self.clock = clock
        self.world = world
        self._post = post
        self._post_records = post_records
        self.connected = False
        self.ever_connected = False
        self.faults = Faults(event_delay_ms=config.event_delay_ms,
                             chejan_before_tr=config.chejan_before_tr)
        self.stats = Stats()
        limits = config.limits
        self.tr_limiter = WindowLimiter(limits.tr_windows)
        self.order_limiter = WindowLimiter(limits.order_windows)
        self.condition_once = OncePer(limits.condition_interval_s)
        self.screens: Set[str] = set()
        self.condition_add_price = False
        # Called when the link drops: registrations and realtime conditions do not survive it.
        self.on_disconnect: List[Callable[[], None]] = []

    # -- events ------------------------------------------------------------------------------
    def post(self, name: str, *args: Any, context: Any = None, delay_ms: int = 0) -> None:
        self._post(name, args, context, delay_ms)

    def post_records(self, records: Sequence[Any]) -> None:
        """Queue prebuilt `PendingEvent`s (the synthetic load's reused records) without a delay of their own."""
        if self._post_records is not None:
            self._post_records(records)
            return
        for record in records:
            self._post(record.name, record.args, record.context, 0)

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.time()

    # -- screens -----------------------------------------------------------------------------
    @staticmethod
    def valid_screen(screen: str) -> bool:
        return len(screen) == 4 and screen.isdigit() and screen != "0000"

    def use_screen(self, screen: str) -> None:
        """Track screens in use; past the limit the real control mixes results, we log and count."""
        if screen in self.screens:
            return
        if len(self.screens) >= self.config.limits.max_screens:
            self.stats.screens_over_limit += 1
            log.warning("screen %s is beyond the %d-screen limit; the real control may mix results",
                        screen, self.config.limits.max_screens)
        self.screens.add(screen)

    def release_screen(self, screen: str) -> None:
        self.screens.discard(screen)

    # -- query budget ------------------------------------------------------------------------
    def acquire_query(self) -> int:
        """Charge one query call (CommRqData, CommKwRqData, SendCondition) against the limits."""
        if self.faults.overflow_calls > 0:
            self.faults.overflow_calls -= 1
            return OP_ERR_SISE_OVERFLOW
        blocked = self.tr_limiter.try_acquire(self.now())
        if blocked is None:
            return OP_ERR_NONE
        if blocked > 0 and self.config.limits.disconnect_on_strict_overflow:
            self.drop_connection()
        return OP_ERR_SISE_OVERFLOW

    def drop_connection(self, code: int = OP_ERR_SOCKET_CLOSED) -> None:
        """The server link is gone: OnEventConnect(code), then silence until CommConnect."""
        if not self.connected:
            return
        self.connected = False
        for callback in self.on_disconnect:
            callback()
        self.screens.clear()
        self.post("OnEventConnect", code)
