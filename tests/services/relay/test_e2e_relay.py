"""End to end: a real broker on the simulated control, real relays on loopback, real consumers.

A consumer behind two chained relays must see exactly what a direct consumer sees: the same
publications with the broker's epoch, seq and topic_seq, the same snapshot, its own session.
"""
from __future__ import annotations

import threading

import pytest
import zmq

from koabus.common.protocol import Publication
from koabus.services.relay.config import SettingsError
from tests.services.broker.bus import BusClient
from tests.services.broker.conftest import start_stack
from tests.services.relay.conftest import make_relay

CODES = ["005930", "000660"]


@pytest.fixture
def quiet_stack(qapp):
    """A broker whose own heartbeat is rare, so nothing but the test's market moves `seq`."""
    stack = start_stack(qapp, heartbeat_ms=60_000, client_lease_ms=120_000)
    try:
        yield stack
    finally:
        stack.close()


def _behind(stack, relay, name):
    client = BusClient(stack.app, relay.router_endpoint, relay.pub_endpoint, name)
    stack.clients.append(client)  # closed by the stack; pumped by stack.advance
    return client


def _chain(stack, relays):
    first = relays(stack.broker.router_endpoint, stack.broker.pub_endpoint)
    second = relays(first.router_endpoint, first.pub_endpoint)
    return first, second


def _run_market(stack, watcher, steps: int) -> None:
    for _ in range(steps):
        stack.advance(5.0, pump_s=0.02)
    _settle(stack, watcher)


def _settle(stack, *clients) -> None:
    """Pump until no client has received anything for a while (bounded)."""
    for _ in range(50):
        before = [len(c.pubs) for c in clients]
        for c in stack.clients:
            c.pump(0.02)
        if [len(c.pubs) for c in clients] == before:
            return


def _key(p):
    return (p.topic, p.type, p.epoch, p.seq, p.topic_seq, p.event_ns, p.recv_ns, p.body)


def test_a_consumer_behind_two_relays_sees_what_a_direct_consumer_sees(quiet_stack, relays):
    stack = quiet_stack
    _, second = _chain(stack, relays)
    direct = stack.client("direct")
    behind = _behind(stack, second, "behind")
    for c in (direct, behind):
        c.subscribe_pub("rt.")
    # the request travels through both relays; the broker's answer comes back with our request id
    welcome = behind.hello()
    assert welcome.TYPE == "WELCOME" and welcome.epoch == stack.broker.epoch
    assert behind.result("subscribe", {"codes": CODES, "types": ["trade", "quote"]})["registered"] is True
    # subscriptions take a moment to climb two hops: wait until the market reaches the far consumer
    for _ in range(60):
        stack.advance(1.0, pump_s=0.02)
        if behind.pubs:
            break
    assert behind.pubs, "no publication reached the consumer behind two relays"
    _settle(stack, direct, behind)
    mark = max(p.seq for p in direct.pubs + behind.pubs)

    _run_market(stack, behind, 30)
    _settle(stack, direct, behind)
    seen_direct = [_key(p) for p in direct.pubs if p.seq > mark]
    seen_behind = [_key(p) for p in behind.pubs if p.seq > mark]
    assert len(seen_direct) >= 30, f"the market published too little to compare: {len(seen_direct)}"
    assert seen_behind == seen_direct
    assert {p.epoch for p in behind.pubs} == {stack.broker.epoch}
    topic_seqs = {}
    assert [k[3] for k in seen_behind] == sorted({k[3] for k in seen_behind})  # seq rises, no repeats
    for topic, _, _, _, topic_seq, *_ in seen_behind:  # the broker's numbers, not gaps or renumbering
        assert topic_seq == topic_seqs.get(topic, topic_seq - 1) + 1
        topic_seqs[topic] = topic_seq

    # a snapshot (also the gap repair of §6) through the relays equals a direct one, sequence included
    for prefix in ("rt.", "rt.trade.005930"):
        final_direct, parts_direct = direct.call("snapshot", {"prefix": prefix})
        final_behind, parts_behind = behind.call("snapshot", {"prefix": prefix})
        assert final_direct.TYPE == final_behind.TYPE == "END"
        assert parts_behind and [p.data for p in parts_behind] == [p.data for p in parts_direct]
        assert final_behind.result == final_direct.result
        assert final_behind.result["epoch"] == stack.broker.epoch


def test_only_topics_someone_asks_for_are_forwarded(quiet_stack, relays):
    stack = quiet_stack
    first, second = _chain(stack, relays)
    everything = stack.client("everything")
    everything.subscribe_pub("")
    everything.result("subscribe", {"codes": CODES, "types": ["trade", "quote"]})
    behind = _behind(stack, second, "behind")
    behind.subscribe_pub("rt.trade.005930")
    for _ in range(60):
        stack.advance(1.0, pump_s=0.02)
        if behind.pubs:
            break
    _run_market(stack, behind, 20)
    _settle(stack, everything, behind)
    assert {p.topic for p in behind.pubs} == {"rt.trade.005930"}
    others = [p for p in everything.pubs if p.topic != "rt.trade.005930"]
    assert len(others) > 10, "the broker published other topics too"
    # what reached each relay from upstream is exactly what its consumer asked for: nothing else climbed
    # (libzmq counts frames; a publication is three)
    for relay in (first, second):
        assert behind.wait_for(
            lambda relay=relay: relay.server.proxy_stats.get("upstream_frames_in") == 3 * len(behind.pubs), 3.0), \
            (relay.server.proxy_stats, len(behind.pubs))


def test_clients_behind_a_relay_keep_separate_sessions(quiet_stack, relays):
    stack = quiet_stack
    relay = relays(stack.broker.router_endpoint, stack.broker.pub_endpoint)
    a, b = _behind(stack, relay, "a"), _behind(stack, relay, "b")
    for c in (a, b):
        assert c.hello().TYPE == "WELCOME"
    # the broker sees two connections with their own names, not one relay
    assert {"a", "b"} <= {c["name"] for c in a.result("status")["clients"]}
    a.bye()
    final, _ = a.call("status")
    # exactly what the broker answers a direct client after BYE (docs/protocol.md §1.1)
    assert final.TYPE == "ERROR" and final.kind == "ProtocolError", final
    assert b.result("status")["connected"] is True  # b's session is its own
    assert relay.status()["clients"] == 2


def test_the_relay_beats_on_its_own_status_pub(relays):
    # no broker needed: the relay's own heartbeat does not depend on its upstream
    relay = relays("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", name="edge-1")
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, b"sys.")
        sub.connect(relay.status_endpoint)
        seen = {}
        for _ in range(100):  # heartbeat_ms is 50: bounded at ~5 s
            if sub.poll(50):
                pub = Publication.from_frames(sub.recv_multipart())
                seen.setdefault(pub.topic, pub)
            if len(seen) == 2:
                break
        assert set(seen) == {"sys.hb.relay", "sys.status.relay"}, seen
        hb, status = seen["sys.hb.relay"], seen["sys.status.relay"]
        assert hb.body["service"] == "relay" and hb.body["name"] == "edge-1" and hb.body["state"] == "running"
        assert status.body["downstream"]["router"] == relay.router_endpoint
        assert status.body["downstream"]["pub"] == relay.pub_endpoint
    finally:
        sub.close(0)


def test_a_busy_port_is_one_clear_error_and_nothing_is_left_running(relays):
    first = relays("tcp://127.0.0.1:9", "tcp://127.0.0.1:9")
    for taken in ({"router": first.router_endpoint}, {"pub": first.pub_endpoint}):
        with pytest.raises(SettingsError) as info:
            make_relay("tcp://127.0.0.1:9", "tcp://127.0.0.1:9", downstream=taken)
        assert "cannot bind" in str(info.value)
    # only the first relay's two threads are alive: the failed starts stopped what they had started
    names = sorted(t.name for t in threading.enumerate() if t.name.startswith("koabus-relay"))
    assert names == ["koabus-relay-io", "koabus-relay-pub"], names
