"""KOAPY's event streams over the koabus SDK: iterate `ListenResponse`s; `cancel()` from any thread.

KOAPY returned gRPC response iterators; scripts stop one with `threading.Timer(10, stream.cancel)`
and catch `grpc.RpcError` around the loop. `EventStream` does the same over an SDK stream: cancel()
closes the SDK stream (safe from another thread: the reader wakes up), and the reader's next
`next()` raises `grpc.CancelledError` (status CANCELLED) as KOAPY's did. Koabus errors raised by
the SDK stream pass through unchanged.
"""
from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Deque, Iterable, Iterator, List, Optional

from . import grpc
from .messages import ListenResponse

Converter = Callable[[Any], Iterable[ListenResponse]]


class EventStream(Iterator[ListenResponse]):
    """Events of one KOAPY call. `cancel()` (any thread) ends it with grpc.CancelledError."""

    def __init__(self, source: Any, convert: Converter, head: Iterable[ListenResponse] = ()):
        self._source = source
        self._convert = convert
        self._pending: Deque[ListenResponse] = deque(head)
        self._cancelled = threading.Event()
        self._finished = False
        self._lock = threading.Lock()
        self._released = threading.Event()

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> ListenResponse:
        while True:
            if self._cancelled.is_set():
                raise grpc.CancelledError()
            if self._pending:
                return self._pending.popleft()
            if self._finished:
                raise StopIteration
            try:
                item = next(self._source)
            except StopIteration:
                if self._cancelled.is_set():
                    raise grpc.CancelledError() from None
                self._finished = True
                raise
            self._pending.extend(self._convert(item))

    def cancel(self) -> bool:
        """Stop the stream; True the first time. Safe from any thread, also while another thread is
        blocked reading it (that reader then raises grpc.CancelledError)."""
        with self._lock:
            if self._cancelled.is_set() or self._finished:
                return False
            self._cancelled.set()
        self._close_source()
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Release the stream without raising in a reader (the end of a `with`, or a script's end);
        when a cancel() from another thread is still releasing it, wait for that (at most `timeout_s`)
        so the client is not closed under it."""
        with self._lock:
            cancelling = self._cancelled.is_set()
            self._finished = True
        if cancelling:
            self._released.wait(timeout_s)
        else:
            self._close_source()

    def _close_source(self) -> None:
        close = getattr(self._source, "close", None)
        try:
            if close is not None:
                close()
        except RuntimeError:  # the client was closed first: its streams ended with it
            pass
        finally:
            self._released.set()

    # the grpc.Call look-ups KOAPY scripts use
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def is_active(self) -> bool:
        return not (self._cancelled.is_set() or self._finished)

    def done(self) -> bool:
        return not self.is_active()

    def code(self) -> Optional[grpc.StatusCode]:
        if self._cancelled.is_set():
            return grpc.StatusCode.CANCELLED
        return grpc.StatusCode.OK if self._finished else None

    def details(self) -> str:
        return "Locally cancelled by application!" if self._cancelled.is_set() else ""

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def from_list(events: List[ListenResponse]) -> EventStream:
    return EventStream(iter(()), lambda item: (), events)
