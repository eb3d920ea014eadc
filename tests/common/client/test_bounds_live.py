"""The SDK against a REAL broker subprocess (issue 9): its connection identity cannot be taken over, and a
stream whose own buffer overflows tells the application (a gap event or StreamOverflow), never silently.
"""
from __future__ import annotations

import signal
import time

import pytest

from koabus.common.client import Client, ClientOptions, StreamOverflow
from tests.services.broker.broker_proc import BrokerProc
from tests.services.broker.test_e2e_identity import RawDealer

CODES = ["005930", "000660", "035420", "051910"]
RATE_EPS = 2_000


def _ready(broker: BrokerProc, options: ClientOptions) -> Client:
    deadline = time.monotonic() + 60
    while True:
        try:
            client = Client(broker.router, broker.pub, options=options)
        except Exception:
            if time.monotonic() > deadline or not broker.alive():
                raise
            time.sleep(0.2)
            continue
        assert client.EnsureConnected() == 0
        return client


@pytest.fixture
def broker(tmp_path):
    process = BrokerProc(tmp_path, log_level="WARNING",
                         sim={"speed": 1.0, "config": {"synthetic_rate_eps": RATE_EPS}}).start()
    try:
        yield process
    finally:
        if process.proc is not None and process.alive():
            process.proc.send_signal(signal.SIGCONT)
        process.stop()


def _replies_to(dealer: RawDealer, wait_s: float):
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        dealer.read()
        time.sleep(0.05)
    return dealer.read()


def test_nobody_can_take_the_sdks_identity_while_connected_nor_after_it_reconnects(broker):
    options = ClientOptions(connect_timeout_s=30, timeout_s=10, hello_timeout_s=1.0, reconnect_max_s=0.5)
    with _ready(broker, options) as victim:
        conn = victim.async_client.connection
        first = conn.routing_id
        assert len(first) == 16 and first[0] != 0

        hostile = RawDealer(broker.router, first)
        try:
            hostile.rid = 1000
            hostile.hello("hostile")
            hostile.request("status")
            time.sleep(0.3)
            assert victim.request("status")["connected"] is True
            assert victim.GetMasterCodeName("005930") == "삼성전자"
            assert _replies_to(hostile, 0.5) == []
        finally:
            hostile.close()

        # the broker goes quiet for longer than the client's liveness: the client gives up on that
        # connection, says BYE on it and comes back with a new identity
        broker.proc.send_signal(signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 10
            while conn.reconnects == 0 and conn.routing_id == first and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
        finally:
            broker.proc.send_signal(signal.SIGCONT)
        assert victim.request("status", timeout_s=20)["connected"] is True
        assert conn.routing_id != first

        late = RawDealer(broker.router, first)  # connects with the identity the client had
        try:
            rid = late.request("status")
            answers = [m for m in _replies_to(late, 2.0) if m.request_id == rid]
            assert [(m.TYPE, m.kind) for m in answers] == [("ERROR", "ProtocolError")], answers
        finally:
            late.close()
        assert victim.request("status")["connected"] is True


def _overflowing_stream(client: Client):
    stream = client.realtime(CODES, "trade", snapshot=False)
    stream.start()
    assert stream.next(20) is not None, "no realtime event"
    time.sleep(1.5)  # reads nothing while ~3,000 events arrive for a buffer of 50
    return stream


def test_an_overflowing_stream_reports_the_gap_before_the_next_event(broker):
    options = ClientOptions(connect_timeout_s=30, timeout_s=20, max_stream_queue=50)
    with _ready(broker, options) as client:
        gaps = []
        client.on_gap(gaps.append)
        stream = _overflowing_stream(client)
        try:
            assert stream.dropped > 0
            event = stream.next(5)
            assert event is not None
            overflow = [g for g in gaps if g.detail.get("reason") == "overflow"]
            assert overflow, gaps
            assert 0 < sum(g.missing for g in overflow) <= stream.dropped
            assert sum(overflow[0].detail["topics"].values()) == overflow[0].missing
            assert stream.overflows == len(overflow)
        finally:
            stream.close()


def test_an_overflowing_stream_can_raise_instead(broker):
    options = ClientOptions(connect_timeout_s=30, timeout_s=20, max_stream_queue=50, stream_overflow="raise")
    with _ready(broker, options) as client:
        stream = _overflowing_stream(client)
        try:
            with pytest.raises(StreamOverflow) as caught:
                stream.next(5)
            assert 0 < caught.value.details["dropped"] <= stream.dropped
            for _ in range(5):  # the stream goes on (another overflow may come first, reported too)
                try:
                    event = stream.next(5)
                except StreamOverflow:
                    continue
                assert event is not None
                break
            else:
                pytest.fail("the stream did not go on after StreamOverflow")
        finally:
            stream.close()
