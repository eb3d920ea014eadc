"""EventStream.cancel() from another thread while the owner is blocked reading: the owner's loop
raises grpc.RpcError (CANCELLED), as KOAPY's gRPC stream did, within a bounded time."""
from __future__ import annotations

import queue
import threading

import pytest

from koabus.common.koapy import ListenResponse, grpc
from koabus.common.koapy.streams import EventStream

BOUND_S = 10.0
_END = object()


class BlockingSource:
    """An iterator that blocks until fed; close() (any thread) ends it, like the SDK's streams."""

    def __init__(self):
        self.items: queue.Queue = queue.Queue()
        self.closed = 0

    def __iter__(self):
        return self

    def __next__(self):
        item = self.items.get(timeout=BOUND_S * 2)
        if item is _END:
            self.items.put(_END)
            raise StopIteration
        return item

    def close(self):
        self.closed += 1
        self.items.put(_END)


def convert(item):
    return [ListenResponse.make("OnReceiveRealData", [item])]


def test_cancel_from_another_thread_raises_rpc_error_in_the_reader():
    source = BlockingSource()
    stream = EventStream(source, convert)
    seen, outcome = [], {}
    got_one = threading.Event()

    def reader():
        try:
            for event in stream:
                seen.append(event.arguments[0].string_value)
                got_one.set()
        except grpc.RpcError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    source.items.put("005930")
    assert got_one.wait(BOUND_S)
    timer = threading.Timer(0.05, stream.cancel)  # as the README does, from a timer thread
    timer.start()
    thread.join(BOUND_S)
    timer.join(BOUND_S)
    assert not thread.is_alive() and seen == ["005930"]
    error = outcome["error"]
    assert error.code() == grpc.StatusCode.CANCELLED and "Locally cancelled" in str(error)
    assert source.closed == 1 and stream.cancelled() and stream.code() == grpc.StatusCode.CANCELLED
    assert stream.cancel() is False  # once only


def test_natural_end_and_close():
    source = BlockingSource()
    stream = EventStream(source, convert)
    source.items.put("a")
    source.close()
    assert [e.arguments[0].string_value for e in stream] == ["a"]
    assert stream.done() and stream.code() == grpc.StatusCode.OK and stream.cancel() is False
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
