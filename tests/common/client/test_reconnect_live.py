"""Against the real broker on the simulated control: a broker restart (new epoch) and a gap in a stream."""
from __future__ import annotations

import time

import pytest

from koabus.common.client import Client, ClientOptions
from koabus.common.errors import Unavailable
from tests.common.client.live import TcpProxy

OPTIONS = ClientOptions(timeout_s=10.0, connect_timeout_s=10.0, hello_timeout_s=0.5, heartbeat_ms=200,
                        liveness=3, reconnect_min_s=0.05, reconnect_max_s=0.5)


def wait_until(predicate, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_gap_during_a_stream_is_reported(broker):
    port = int(broker.pub.rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    try:
        with Client(broker.router, proxy.endpoint, options=OPTIONS) as client:
            gaps = []
            client.on_gap(gaps.append)
            with client.realtime(["005930", "000660"], ["trade"], snapshot=False) as stream:
                first = stream.next(10.0)
                assert first is not None and first.code in ("005930", "000660")
                proxy.cut(hold_s=0.8)  # the SUB reconnects through the proxy after the hold
                assert wait_until(lambda: gaps, 15.0), "no gap reported after losing publications"
                gap = gaps[0]
                assert gap.topic in ("rt.trade.005930", "rt.trade.000660")
                assert gap.missing >= 1
                assert stream.gaps >= 1 and stream.lost >= gap.missing
                assert stream.next(5.0) is not None  # and the stream goes on
    finally:
        proxy.close()


def test_broker_restart_fails_pending_reconnects_and_resubscribes(broker):
    with Client(broker.router, broker.pub, options=OPTIONS) as client:
        epochs = []
        client.on_epoch_change(epochs.append)
        old_epoch = client.epoch
        stream = client.realtime(["005930"], ["trade"])
        stream.start()
        assert stream.next(10.0) is not None
        broker.kill()
        # The client presumes the broker dead after liveness x max(broker's 1000 ms, our 200 ms) = 3 s of
        # silence. The request's own timeout is far longer, so only that detection can end it, as
        # Unavailable, and well before the timeout.
        window_s = OPTIONS.liveness * max(client.connection.welcome.heartbeat_ms, OPTIONS.heartbeat_ms) / 1000
        started = time.monotonic()
        with pytest.raises(Unavailable):
            client.request("status", timeout_s=window_s + 12.0)  # the broker is gone: fails, never hangs
        assert time.monotonic() - started < window_s + 6.0
        assert wait_until(lambda: client.state == "reconnecting", 5.0)
        broker.start()
        assert wait_until(lambda: epochs, 20.0), "no epoch change after the restart"
        assert epochs[0].old_epoch == old_epoch and epochs[0].new_epoch == client.epoch != old_epoch
        assert client.status()["epoch"] == client.epoch
        event = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            event = stream.next(1.0)
            if event is not None and event.epoch == client.epoch:
                break
        assert event is not None and event.epoch == client.epoch, "the stream did not resume on the new broker"
        assert client.connection.reconnects >= 1
        stream.close()
