"""Closing a stream from another thread while its owner is blocked reading it: the owner's loop ends
(no exception, no hang) and the broker hears the unsubscribe. This is how KOAPY scripts stop a
stream (`threading.Timer(10, stream.cancel)`)."""
from __future__ import annotations

import threading

import pytest

from koabus.common.client import Client
from tests.common.client.fake_broker import FakeBroker
from tests.common.client.test_streams import FAST, trade
from tests.helpers import free_tcp_port

BOUND_S = 10.0


@pytest.fixture
def broker():
    fake = FakeBroker(free_tcp_port(), free_tcp_port()).start()
    yield fake
    fake.stop()


def read_in_thread(stream):
    """(thread, outcome): the thread iterates `stream` to its end; outcome gets the items, then "end"
    or the exception it raised; `reading` is set once the first item arrived."""
    outcome = {"items": [], "end": None, "reading": threading.Event()}

    def reader():
        try:
            for item in stream:
                outcome["items"].append(item)
                outcome["reading"].set()
            outcome["end"] = "end"
        except BaseException as exc:  # the outcome under test
            outcome["end"] = exc

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("how", ["close", "cancel"])
def test_realtime_stream_closed_from_another_thread(broker, how):
    with Client(broker.router, broker.pub, options=FAST) as client:
        stream = client.realtime("005930", "trade", snapshot=False)
        thread, outcome = read_in_thread(stream)
        for price in range(1, 50):  # until the reader has one event (it is blocked on the next)
            trade(broker, "005930", price)
            if outcome["reading"].wait(0.2):
                break
        assert outcome["items"], "the reader got an event"
        getattr(stream, how)()
        thread.join(BOUND_S)
        assert not thread.is_alive() and outcome["end"] == "end"
        for _ in range(50):  # cancel() releases in the background: the unsubscribe follows
            if broker.calls_of("unsubscribe"):
                break
            threading.Event().wait(0.1)
        assert broker.calls_of("unsubscribe") == [{"codes": ["005930"], "types": ["trade"]}]


def test_generator_stream_closed_from_another_thread(broker):
    """The KOAPY-style condition stream is an async generator: closing it while it is being read
    used to raise RuntimeError (aclose of a running generator) and leave the reader hanging."""
    with Client(broker.router, broker.pub, options=FAST) as client:
        stream = client.GetCodeListByConditionAsStream("cheap", 3)
        thread, outcome = read_in_thread(stream)
        assert outcome["reading"].wait(BOUND_S), "the initial result arrived"
        stream.close()  # raised RuntimeError before the fix
        thread.join(BOUND_S)
        assert not thread.is_alive() and outcome["end"] == "end"
        assert broker.calls_of("condition_stop")


def test_a_stream_cancelled_before_its_first_read_never_subscribes(broker):
    with Client(broker.router, broker.pub, options=FAST) as client:
        stream = client.realtime("005930", "trade", snapshot=False)
        stream.cancel()
        assert list(stream) == []
        assert broker.calls_of("subscribe") == []


def test_async_stream_cancel_called_from_a_foreign_thread(broker):
    """TopicStream.cancel() itself (AsyncClient users): called outside the stream's event loop, it
    hands the close over to that loop and returns at once."""
    with Client(broker.router, broker.pub, options=FAST) as client:
        stream = client.realtime("005930", "trade", snapshot=False)
        thread, outcome = read_in_thread(stream)
        for price in range(1, 50):
            trade(broker, "005930", price)
            if outcome["reading"].wait(0.2):
                break
        stream._target.cancel()  # the async stream itself, from this (non-loop) thread
        thread.join(BOUND_S)
        assert not thread.is_alive() and outcome["end"] == "end"
