"""The last-value cache forgets a realtime topic once nobody subscribes to it, and only then."""
from __future__ import annotations


def _snapshot_topics(client, prefix="rt."):
    final, parts = client.call("snapshot", {"prefix": prefix})
    assert final.TYPE == "END", final
    return {p.data["topic"] for p in parts}


def test_unsubscribing_the_last_holder_drops_the_cached_values(stack):
    a, b = stack.client("a"), stack.client("b")
    a.result("subscribe", {"codes": ["005930", "000660"], "types": ["trade"]})
    b.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    stack.advance(60.0)
    assert a.wait_for(lambda: _snapshot_topics(a) == {"rt.trade.005930", "rt.trade.000660"}, 3.0)
    a.result("unsubscribe", {"codes": ["005930", "000660"], "types": ["trade"]})
    # 000660 had no other holder: gone; 005930 is still b's and keeps its last value
    assert a.wait_for(lambda: _snapshot_topics(a) == {"rt.trade.005930"}, 3.0), _snapshot_topics(a)
    b.result("unsubscribe", {})
    assert b.wait_for(lambda: _snapshot_topics(b) == set(), 3.0), _snapshot_topics(b)
    stack.advance(60.0)  # nothing refills it: the codes are no longer registered
    b.pump(0.2)
    assert _snapshot_topics(b) == set()
    assert b.result("status")["counters"]["lvc_forgotten"] == 2


def test_a_client_leaving_drops_what_only_it_held(stack):
    a = stack.client("a")
    a.result("subscribe", {"codes": ["005930"], "types": ["trade", "quote"]})
    stack.advance(60.0)
    assert a.wait_for(lambda: "rt.trade.005930" in _snapshot_topics(a), 3.0)
    a.bye()
    watcher = stack.client("watcher")
    assert watcher.wait_for(lambda: not any(t.endswith(".005930") for t in _snapshot_topics(watcher)), 3.0)
