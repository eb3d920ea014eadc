"""Timers on the broker's clock for the Qt thread: fire when the (possibly virtual) clock says so.

A QTimer waits `clock.wall_delay(...)`, capped at `max_poll_s`, and re-checks the clock when it
fires, so the same code works with the system clock, a sped-up virtual clock and a frozen one that
tests `advance()` by hand.
"""
from __future__ import annotations

import heapq
import itertools
import logging
from typing import Callable, List, Optional, Tuple

from PyQt5.QtCore import QObject, QTimer

from koabus.common.clock import Clock

log = logging.getLogger(__name__)


class ClockTimers(QObject):
    """A heap of (due virtual time, callback) served by one single-shot QTimer."""

    def __init__(self, clock: Clock, max_poll_s: float = 0.05, parent: Optional[QObject] = None):
        super().__init__(parent)
        self.clock = clock
        self.max_poll_s = max_poll_s
        self._heap: List[Tuple[float, int, Handle]] = []
        self._ids = itertools.count()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Handle:
        """Run `callback` on the Qt thread once `delay_s` virtual seconds have passed."""
        handle = Handle(callback)
        heapq.heappush(self._heap, (self.clock.time() + max(0.0, delay_s), next(self._ids), handle))
        self._arm()
        return handle

    def stop(self) -> None:
        self._heap.clear()
        self._timer.stop()

    def _arm(self) -> None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        if not self._heap:
            self._timer.stop()
            return
        wait_s = min(self.clock.wall_delay(self._heap[0][0] - self.clock.time()), self.max_poll_s)
        self._timer.start(max(0, int(wait_s * 1000)))

    def _fire(self) -> None:
        now = self.clock.time()
        while self._heap and self._heap[0][0] <= now:
            _, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            handle.cancelled = True
            try:
                handle.callback()
            except Exception:  # a failing callback must not stop the other timers
                log.exception("timer callback failed")
        self._arm()


class Handle:
    """Cancel a pending `call_later`."""

    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]):
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
