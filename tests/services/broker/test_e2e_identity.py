"""A live client's connection identity cannot be taken over (issue 9: "Reusing another client's connection
identity takes over its replies"), and an identity cannot be used to crash the broker.

Real sockets on loopback: the broker's ROUTER, a victim DEALER and a hostile DEALER that sets the
victim's routing id.
"""
from __future__ import annotations

import struct
import time

import pytest
import zmq

from koabus.common.protocol import Bye, Hello, Request, decode_broker, encode_client
from tests.helpers import pump_until
from tests.services.broker.broker_proc import BrokerProc


class RawDealer:
    """A DEALER with a chosen routing id; `read()` collects whatever the broker sent it."""

    def __init__(self, endpoint: str, identity=None, ctx=None):
        self.sock = (ctx or zmq.Context.instance()).socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if identity is not None:
            self.sock.setsockopt(zmq.ROUTING_ID, identity)
        self.sock.connect(endpoint)
        self.inbox = []
        self.rid = 0

    def send(self, msg) -> int:
        self.sock.send_multipart(encode_client(msg))
        return msg.request_id

    def request(self, op, args=None) -> int:
        self.rid += 1
        return self.send(Request(self.rid, op, args or {}))

    def hello(self, name: str) -> int:
        self.rid += 1
        return self.send(Hello(self.rid, (1,), name, 1000))

    def read(self):
        while self.sock.poll(0):
            self.inbox.append(decode_broker(self.sock.recv_multipart()))
        return self.inbox

    def answered(self, rid: int) -> bool:
        return any(m.request_id == rid for m in self.read())

    def close(self):
        self.sock.close(0)


@pytest.fixture
def dealers():
    made = []

    def make(*args, **kw):
        d = RawDealer(*args, **kw)
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            d.close()


def test_a_second_connection_with_a_live_clients_identity_gets_none_of_its_replies(stack, dealers):
    endpoint = stack.broker.router_endpoint
    victim = dealers(endpoint, b"victim-0123456789abcdef")
    rid = victim.hello("victim")
    assert pump_until(stack.app, lambda: victim.answered(rid), 5.0)

    hostile = dealers(endpoint, b"victim-0123456789abcdef")
    hostile.rid = 1000  # its request ids cannot be mistaken for the victim's
    hostile_rids = [hostile.hello("hostile"), hostile.request("status")]
    time.sleep(0.2)  # the hostile connection is up (and ignored) before the victim goes on
    mine = [victim.request("status"), victim.request("meta", {"kind": "list_tr"}),
            victim.request("snapshot", {"prefix": "rt."})]
    assert pump_until(stack.app, lambda: all(victim.answered(r) for r in mine), 5.0), victim.inbox
    pump_until(stack.app, lambda: False, 0.5)  # anything on its way to the hostile side arrives
    assert hostile.read() == [], "the hostile connection received replies"
    assert not any(m.request_id in hostile_rids for m in victim.read())  # nor were its requests served
    names = [c["name"] for c in stack.broker.server.status()["clients"]]
    assert "hostile" not in names and "victim" in names


def test_an_identity_that_said_bye_never_gets_a_session_again(stack, dealers):
    endpoint = stack.broker.router_endpoint
    victim = dealers(endpoint, b"leaving-0123456789abcdef")
    rid = victim.hello("victim")
    assert pump_until(stack.app, lambda: victim.answered(rid), 5.0)
    victim.send(Bye(victim.rid + 1))
    pump_until(stack.app, lambda: False, 0.2)
    victim.close()
    time.sleep(0.2)

    later = dealers(endpoint, b"leaving-0123456789abcdef")
    rid = later.request("status")
    assert pump_until(stack.app, lambda: later.answered(rid), 5.0)
    answer = [m for m in later.read() if m.request_id == rid][0]
    assert answer.TYPE == "ERROR" and answer.kind == "ProtocolError", answer
    assert stack.broker.server.counters["identities_refused"] >= 1
    fresh = dealers(endpoint)  # a new socket (a new identity) is welcome
    rid = fresh.request("status")
    assert pump_until(stack.app, lambda: fresh.answered(rid), 5.0)
    assert [m for m in fresh.read() if m.request_id == rid][0].TYPE == "REPLY"


def test_claiming_zeromqs_next_automatic_identities_does_not_crash_the_broker(tmp_path):
    """libzmq numbers the identities of peers that set none from an unseeded `rand()` (the first is
    always 00 6b 8b 45 67) and aborts when a new peer gets a number another peer already claimed."""
    broker = BrokerProc(tmp_path, log_level="WARNING").start()
    ctx = zmq.Context()
    socks = []
    try:
        probe = RawDealer(broker.router, b"probe-0123456789abcdef", ctx)
        socks.append(probe)
        deadline = time.monotonic() + 60
        rid = probe.request("status")
        while not probe.answered(rid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert probe.answered(rid), "the broker did not start"
        first = 0x6B8B4567  # glibc's first rand() value
        for n in range(64):
            claim = RawDealer(broker.router, b"\x00" + struct.pack(">I", first + n), ctx)
            socks.append(claim)
            claim.request("status")
        time.sleep(0.5)
        plain = [RawDealer(broker.router, None, ctx) for _ in range(8)]  # ZeroMQ picks their identities
        socks += plain
        rids = [d.request("status") for d in plain]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(d.answered(r) for d, r in zip(plain, rids)):
            assert broker.alive(), broker.log_text()[-2000:]
            time.sleep(0.05)
        assert broker.alive(), broker.log_text()[-2000:]
        assert all(d.answered(r) for d, r in zip(plain, rids))
    finally:
        for d in socks:
            d.close()
        ctx.term()
        broker.stop()
