"""End to end: realtime subscriptions, refcounts across clients, leases, snapshots (Clone), heartbeats."""
from __future__ import annotations

from koabus.common.protocol import Publication


def _registered(stack):
    return stack.broker.core.registry.registered_codes()


def test_subscribe_publishes_typed_realtime(stack):
    c = stack.client()
    c.subscribe_pub("rt.trade.")
    c.pump(0.2)  # let the SUB filter reach the PUB
    result = c.result("subscribe", {"codes": ["005930", "000660"], "types": ["trade"]})
    assert result["topics"] == ["rt.trade.005930", "rt.trade.000660"]
    stack.advance(60.0)
    assert c.wait_for(lambda: len(c.pubs_on("rt.trade.005930")) >= 3, 3.0)
    pub = c.pubs_on("rt.trade.005930")[-1]
    assert pub.type == "RT" and pub.epoch == stack.broker.epoch
    assert pub.body["type"] == "주식체결" and pub.body["code"] == "005930"
    values = pub.body["values"]
    assert isinstance(values["current_price"], int) and values["current_price"] > 0
    assert isinstance(values["change"], int) and isinstance(values["change_rate"], float)
    assert len(values["trade_time"]) == 8  # "HH:MM:SS"
    assert pub.event_ns is not None and pub.recv_ns > 0
    seqs = [p.topic_seq for p in c.pubs_on("rt.trade.005930")]
    assert seqs == list(range(1, len(seqs) + 1))
    # only subscribed types are published
    assert not [p for p in c.pubs if p.topic.startswith("rt.") and not p.topic.startswith("rt.trade.")]


def test_refcount_across_clients_and_release(stack):
    a, b = stack.client("a"), stack.client("b")
    calls = stack.broker.core.adapter.calls
    a.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    assert calls["SetRealReg"] == 1
    b.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    assert calls["SetRealReg"] == 1  # second subscriber: no new registration
    assert a.result("unsubscribe", {"codes": ["005930"]}) == {"released": 1}
    assert "005930" in _registered(stack) and calls["SetRealRemove"] == 0
    b.result("unsubscribe", {"codes": ["005930"], "types": ["trade"]})
    assert "005930" not in _registered(stack) and calls["SetRealRemove"] == 1


def test_first_registration_on_a_screen_uses_opt_0_then_1(stack):
    seen = []
    adapter = stack.broker.core.adapter
    original = adapter.set_real_reg

    def spy(screen, codes, fids, opt):
        seen.append((screen, tuple(codes), opt))
        return original(screen, codes, fids, opt)

    adapter.set_real_reg = spy
    c = stack.client()
    c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    c.result("subscribe", {"codes": ["000660"], "types": ["trade"]})
    assert [s[2] for s in seen] == ["0", "1"]
    assert seen[0][0] == seen[1][0]


def test_bye_and_lease_expiry_release_subscriptions(qapp):
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, client_lease_ms=300, heartbeat_ms=100)  # the lease spans >= 2 heartbeats
    try:
        quitter, silent, alive = stack.client("q"), stack.client("s"), stack.client("a")
        quitter.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
        silent.result("subscribe", {"codes": ["000660"], "types": ["trade"]})
        alive.result("subscribe", {"codes": ["035420"], "types": ["trade"]})
        quitter.bye()
        assert alive.wait_for(lambda: "005930" not in _registered(stack), 2.0)
        # 'silent' sends nothing; 'alive' pings: only the silent one loses its subscription
        ok = alive.wait_for(lambda: (alive.ping() and False) or "000660" not in _registered(stack), 3.0)
        assert ok
        assert "035420" in _registered(stack)
        assert stack.broker.server.counters["leases_expired"] >= 1
    finally:
        stack.close()


def test_snapshot_is_consistent_with_sequence(stack):
    c = stack.client()
    c.result("subscribe", {"codes": ["005930", "000660"], "types": ["trade"]})
    stack.advance(60.0)
    c.pump(0.2)
    late = stack.client("late")
    late.subscribe_pub("rt.")
    late.pump(0.2)
    final, parts = late.call("snapshot", {"prefix": "rt.trade."})
    assert final.TYPE == "END" and final.result["epoch"] == stack.broker.epoch
    snap = [Publication.from_dict(p.data) for p in parts]
    assert {p.topic for p in snap} == {"rt.trade.005930", "rt.trade.000660"}
    assert all(p.seq <= final.result["seq"] for p in snap)
    stack.advance(60.0)
    late.pump(0.3)
    newer = [p for p in late.pubs if p.seq > final.result["seq"]]
    assert newer, "updates after the snapshot arrive live"
    # per topic, the first live update continues the snapshot's topic sequence without a gap
    for topic in ("rt.trade.005930",):
        cached = [p for p in snap if p.topic == topic][0]
        live = [p for p in late.pubs if p.topic == topic]
        following = [p for p in live if p.topic_seq == cached.topic_seq + 1]
        assert following, (cached.topic_seq, [p.topic_seq for p in live])


def test_heartbeat_every_second(stack):
    c = stack.client()
    c.subscribe_pub("sys.hb")
    assert c.wait_for(lambda: len(c.pubs_on("sys.hb")) >= 2, 3.5)
    hb = c.pubs_on("sys.hb")[-1]
    assert hb.type == "HB" and hb.body["epoch"] == stack.broker.epoch and hb.body["state"] == "connected"


def test_market_status_stream_uses_empty_code(stack):
    c = stack.client()
    result = c.result("subscribe", {"codes": ["_"], "types": ["market_status"]})
    assert result["topics"] == ["rt.market_status._"]
    assert "" in _registered(stack)
