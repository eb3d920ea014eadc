"""The two one-way channels between the Qt thread and the I/O thread: deques plus a wake-up.

Outbox (Qt -> I/O): replies, publications and state snapshots; the Qt thread rings an inproc PUSH
doorbell only when the deque goes from drained to non-empty, so a burst costs one ring, and the I/O
thread takes the queue in batches. A long queue of realtime items briefly pauses the producer.
Inbox (I/O -> Qt): validated work; the I/O thread wakes the Qt thread with a queued Qt signal, again
only on the empty -> non-empty edge. The `armed` flag, flipped under a small lock, closes the race
between a consumer finding the deque empty and a producer appending to it.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional

import zmq
from PyQt5.QtCore import QObject, Qt, pyqtSignal


class Outbox:
    """Qt thread -> I/O thread. `put` on the Qt thread, `drain` on the I/O thread.

    Flow control: when more than `pause_above` droppable items (realtime) wait, `put` blocks the
    producer until the consumer has worked the queue down to half of that, for at most
    `pause_max_s`. Both threads share the GIL; without the pause a producer that is never idle
    leaves the consumer a thin share of it and the queue only grows (then drops at `max_items`).
    While `shedding` (the broker is short of memory) droppable items are dropped at `pause_above`
    instead. Every drop is counted per topic (`take_dropped`), so the consumer can leave the gap in
    the topic's sequence numbers that subscribers need to see.
    """

    def __init__(self, context: zmq.Context, doorbell_endpoint: str, max_items: int = 200_000,
                 pause_above: int = 2_000, pause_max_s: float = 0.05, batch: int = 1_000):
        self.context = context
        self.endpoint = doorbell_endpoint
        self.max_items = max_items
        self.pause_above = pause_above
        self.pause_max_s = pause_max_s
        self.batch = batch
        self._items: Deque[Any] = deque()
        self._lock = threading.Lock()
        self._armed = True
        self._push: Optional[zmq.Socket] = None
        self._resume = threading.Event()
        self._paused = False
        self.consuming = False  # set by the consumer while it runs: nobody to wait for otherwise
        self.shedding = False  # set by the consumer when memory is short: drop realtime, do not queue it
        self.dropped = 0
        self.shed = 0
        self._dropped_topics: Dict[str, int] = {}
        self.rings = 0
        self.pauses = 0

    def open(self) -> None:
        """Create the PUSH end; call on the producing (Qt) thread."""
        push = self.context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.setsockopt(zmq.SNDHWM, 1000)
        push.connect(self.endpoint)
        self._push = push

    def close(self) -> None:
        if self._push is not None:
            self._push.close(0)
            self._push = None

    def put(self, item: Any, droppable: bool = False) -> bool:
        """Queue an item; a droppable one (realtime) waits while the queue is long, is refused when full."""
        if droppable and len(self._items) >= self.pause_above:
            if self.shedding:
                self.shed += 1
                return self._drop(item)
            if self.consuming:
                self._pause()
            if len(self._items) >= self.max_items:
                return self._drop(item)
        with self._lock:
            self._items.append(item)
            ring = self._armed
            self._armed = False
        if ring and self._push is not None:
            self.rings += 1
            try:
                self._push.send(b"", zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # the doorbell is full: a ring is already pending
        return True

    def _drop(self, item: Any) -> bool:
        self.dropped += 1
        topic = item[1] if isinstance(item, tuple) and len(item) > 1 and isinstance(item[1], str) else None
        if topic is not None:
            with self._lock:
                self._dropped_topics[topic] = self._dropped_topics.get(topic, 0) + 1
        return False

    def take_dropped(self) -> Dict[str, int]:
        """Items dropped per topic since the last call (consumer thread)."""
        if not self._dropped_topics:
            return {}
        with self._lock:
            dropped, self._dropped_topics = self._dropped_topics, {}
        return dropped

    def _pause(self) -> None:
        with self._lock:
            if len(self._items) <= self.pause_above // 2:  # worked down meanwhile
                return
            self._resume.clear()
            self._paused = True
        self.pauses += 1
        self._resume.wait(self.pause_max_s)
        self._paused = False

    def drain(self, limit: int = 0) -> List[Any]:
        """Take up to `limit` (default `batch`) queued items (I/O thread).

        Re-arms the doorbell when it leaves the deque empty; releases a paused producer once the
        backlog is down to half the pause mark (the previous batch is done when this is called).
        """
        limit = limit or self.batch
        if self._paused and len(self._items) <= self.pause_above // 2:
            with self._lock:
                self._paused = False
                self._resume.set()
        out: List[Any] = []
        items = self._items
        while True:
            while items and len(out) < limit:
                out.append(items.popleft())
            if len(out) >= limit:
                return out
            with self._lock:
                if not items:
                    self._armed = True
                    return out

    def __len__(self) -> int:
        return len(self._items)


class _Waker(QObject):
    wake = pyqtSignal()


class Inbox:
    """I/O thread -> Qt thread. Create on the Qt thread; `post` from the I/O thread."""

    def __init__(self, handler: Callable[[Any], None]):
        self._items: Deque[Any] = deque()
        self._lock = threading.Lock()
        self._armed = True
        self._handler = handler
        self._waker = _Waker()
        self._waker.wake.connect(self._drain, Qt.QueuedConnection)

    def post(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            ring = self._armed
            self._armed = False
        if ring:
            self._waker.wake.emit()

    def _drain(self) -> None:
        items = self._items
        while True:
            while items:
                self._handler(items.popleft())
            with self._lock:
                if not items:
                    self._armed = True
                    return

    def __len__(self) -> int:
        return len(self._items)
