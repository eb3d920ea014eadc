"""Queued event delivery through the Qt event loop: events are never emitted inside the causing call.

Each pending event carries the name of a signal, its arguments and an optional *context* (the TR
result, realtime values or chejan values) that the control installs while the signal is emitted,
so `GetCommData`/`GetCommRealData`/`GetChejanData` read it only inside the handler, as on the real
control. A single-shot QTimer drains the queue in FIFO order; a delay (fault injection) holds an
event and everything queued after it until its wall-clock due time.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any, Callable, Deque, NamedTuple, Optional, Sequence, Tuple

from PyQt5.QtCore import QObject, QTimer

log = logging.getLogger(__name__)


class PendingEvent(NamedTuple):
    """One event waiting for the Qt loop: signal name, positional args, context, wall due time.
    (A NamedTuple: immutable and cheap to build on the realtime hot path.)"""

    name: str
    args: Tuple[Any, ...]
    context: Any = None
    due_monotonic: float = 0.0


class EventQueue(QObject):
    """FIFO of events drained by a zero-interval single-shot timer, `per_tick` at a time.

    `emit(event)` is the callback that installs the context and emits the signal; the queue only
    decides when.
    """

    def __init__(self, emit: Callable[[PendingEvent], None], per_tick: int = 5000,
                 parent: Optional[QObject] = None):
        super().__init__(parent)
        self._emit = emit
        self._per_tick = max(1, int(per_tick))
        self._queue: Deque[PendingEvent] = deque()
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._drain)
        self.delay_ms = 0
        self.delivered = 0

    def post(self, name: str, args: Tuple[Any, ...], context: Any = None, delay_ms: int = 0) -> None:
        delay_ms = max(int(delay_ms), int(self.delay_ms))
        due = time.monotonic() + delay_ms / 1000.0 if delay_ms > 0 else 0.0
        self._queue.append(PendingEvent(name, args if type(args) is tuple else tuple(args), context, due))
        self._schedule()

    def post_records(self, records: Sequence[PendingEvent]) -> None:
        """Queue prebuilt records as they are (the same record may come many times: it is immutable);
        under a queue-wide delay each gets its own due time, as `post` gives it."""
        if self.delay_ms > 0:
            for record in records:
                self.post(record.name, record.args, record.context)
            return
        self._queue.extend(records)
        self._schedule()

    def clear(self) -> None:
        self._queue.clear()

    def __len__(self) -> int:
        return len(self._queue)

    def _schedule(self) -> None:
        if not self._queue or self._timer.isActive():
            return
        wait_s = self._queue[0].due_monotonic - time.monotonic()
        self._timer.start(max(0, int(wait_s * 1000.0 + 0.999)) if wait_s > 0 else 0)

    def _drain(self) -> None:
        emitted = 0
        while self._queue and emitted < self._per_tick:
            head = self._queue[0]
            if head.due_monotonic and head.due_monotonic > time.monotonic():
                break
            self._queue.popleft()
            emitted += 1
            self.delivered += 1
            try:
                self._emit(head)
            except Exception:  # a slot that raises must not stop delivery of later events
                log.exception("handler for %s raised", head.name)
        self._schedule()
