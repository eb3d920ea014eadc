"""An order the simulated server refuses (no order number, only its message) is published on `sys.reject`,
not only told to the order's own stream: alerting and the recorder see refusals too."""
from __future__ import annotations

import time

import pytest
import zmq

from koabus.common.client import Client, ClientOptions
from koabus.common.errors import KoabusError
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType
from tests.common.client.live import BrokerProcess

OPTIONS = ClientOptions(timeout_s=20.0, connect_timeout_s=10.0)


@pytest.fixture
def broker(tmp_path):
    process = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log").start()
    try:
        yield process
    finally:
        process.stop()
        process.remove_state()


def test_a_server_refusal_is_published_on_sys_reject(broker):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"sys.")
    sub.connect(broker.pub)
    try:
        with Client(broker.router, broker.pub, options=OPTIONS) as client:
            account = client.GetAccountList()[0]
            deadline = time.monotonic() + 10  # the SUB is live once it hears the broker's heartbeat
            while time.monotonic() < deadline and not (sub.poll(200) and sub.recv_multipart()[0] == b"sys.hb"):
                pass
            # ten million shares at market: more than the account's cash ([RC4025] 주문가능금액)
            handle = client.buy(account, "005930", 10_000_000, market=True, client_order_id="too-big-1")
            with pytest.raises(KoabusError):
                handle.wait(15.0)
        reject = None
        deadline = time.monotonic() + 10
        while reject is None and time.monotonic() < deadline:
            if sub.poll(200):
                pub = Publication.from_frames(sub.recv_multipart())
                if pub.topic == "sys.reject":
                    reject = pub
    finally:
        sub.close(0)
    assert reject is not None, broker.log_tail()
    assert reject.type == PubType.SYSTEM
    body = reject.body
    assert {k: body[k] for k in ("account", "code", "side", "qty", "price", "client_order_id", "order_no")} == {
        "account": account, "code": "005930", "side": "buy", "qty": 10_000_000, "price": 0,
        "client_order_id": "too-big-1", "order_no": ""}
    assert body["code_msg"] == "RC4025"
    assert body["message"].startswith("[RC4025]") and "주문가능금액" in body["message"]
