"""idem_key: single-REPLY answers are replayed, streams release their key when they end, transient
errors are never cached, order ids win over idem keys, and the cache is bounded."""
from __future__ import annotations

import time

from koabus.common.protocol import End, ErrorReply, Reply
from koabus.services.broker.server import IdempotencyCache

ACCOUNT = "8000000011"
ME = b"client-a"


def _states(client):
    return [p.body["state"] for p in client.pubs_on("sys.conn")]


# -- the cache as a plain class -----------------------------------------------------------------

def test_a_definitive_reply_is_kept_and_a_running_key_is_reported():
    cache = IdempotencyCache()
    assert cache.lookup("k") is None
    cache.begin("k", ME, 1, replayable=True)
    assert cache.lookup("k") is IdempotencyCache.RUNNING
    cache.finish(ME, 1, Reply(1, {"x": 1}))
    assert cache.lookup("k") == Reply(1, {"x": 1}) and cache.running() == 0


def test_transient_errors_and_streams_release_the_key():
    cache = IdempotencyCache()
    for n, kind in enumerate(["Unavailable", "Overloaded", "Timeout", "Cancelled"]):
        cache.begin(kind, ME, n, replayable=True)
        cache.finish(ME, n, ErrorReply(n, kind, None, "not now"))
        assert cache.lookup(kind) is None, kind
    cache.begin("bad", ME, 10, replayable=True)
    cache.finish(ME, 10, ErrorReply(10, "InvalidRequest", None, "no"))
    assert cache.lookup("bad").kind == "InvalidRequest"  # a definitive "no" is an answer
    cache.begin("stream", ME, 11, replayable=False)
    cache.finish(ME, 11, End(11, 3, {"pages": 3}))
    assert cache.lookup("stream") is None
    cache.begin("dropped", ME, 12, replayable=True)
    cache.finish(ME, 12)  # the Qt side ended it without an answer (client gone)
    assert cache.lookup("dropped") is None
    assert cache.running() == 0


def test_cache_is_bounded_and_evicts_the_oldest_in_constant_time():
    cache = IdempotencyCache(limit=1000)
    started = time.perf_counter()
    for n in range(50_000):
        cache.begin(f"k{n}", ME, n, replayable=True)
        cache.finish(ME, n, Reply(n, n))
    elapsed_s = time.perf_counter() - started
    assert len(cache) == 1000
    assert cache.lookup("k49000").result == 49000 and cache.lookup("k49999").result == 49999
    assert cache.lookup("k48999") is None and cache.lookup("k0") is None
    assert elapsed_s < 2.0  # a scan per reply (the old cache) takes far longer at this size


# -- through the broker --------------------------------------------------------------------------

def test_a_tr_with_an_idem_key_runs_again_once_finished(stack):
    c = stack.client()
    args = {"code": "opt10001", "inputs": {"종목코드": "005930"}}
    final, parts = c.call("tr", args, idem_key="tr-1")
    assert final.TYPE == "END" and len(parts) == 1
    sent = stack.broker.core.adapter.calls["CommRqData"]
    final, parts = c.call("tr", args, idem_key="tr-1")
    assert final.TYPE == "END" and len(parts) == 1, final  # not "still in progress" forever
    assert stack.broker.core.adapter.calls["CommRqData"] == sent + 1


def test_a_running_stream_with_the_same_key_is_in_progress(stack):
    c = stack.client()
    stack.sim.delay_events(300)
    try:
        rid = c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}}, idem_key="tr-2")
        c.pump(0.05)
        final, _ = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}}, idem_key="tr-2")
        assert final.TYPE == "ERROR" and final.kind == "InvalidRequest" and "in progress" in final.message
        assert c.wait_final(rid, 3.0)[-1].TYPE == "END"
    finally:
        stack.sim.delay_events(0)


def test_a_transient_error_is_not_replayed(stack):
    c = stack.client()
    c.subscribe_pub("sys.conn")
    c.pump(0.2)
    stack.sim.drop_connection()
    assert c.wait_for(lambda: "disconnected" in _states(c), 2.0)
    final, _ = c.call("condition_list", {}, idem_key="cl-1")
    assert final.TYPE == "ERROR" and final.kind == "Unavailable", final
    for _ in range(20):
        stack.advance(0.6)
        if "restored" in _states(c):
            break
    assert "restored" in _states(c)
    final, _ = c.call("condition_list", {}, idem_key="cl-1")
    assert final.TYPE == "REPLY", final  # the retry ran; the outage was not remembered as the answer


def test_an_order_retry_reattaches_by_client_order_id_even_with_an_idem_key(stack):
    a, b = stack.client("a"), stack.client("b")
    order = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
             "client_order_id": "idem-ord-1"}
    rid1 = a.send("order", order, idem_key="ord-1")
    rid2 = b.send("order", order, idem_key="ord-1")  # the retry while the first still streams
    m1, m2 = a.wait_final(rid1, 8), b.wait_final(rid2, 8)
    assert m1[-1].TYPE == "END" and m2[-1].TYPE == "END", (m1[-1], m2[-1])
    assert m1[-1].result["order_no"] == m2[-1].result["order_no"]
    assert stack.broker.core.adapter.calls["SendOrder"] == 1
    final, parts = a.call("order", order, idem_key="ord-1")  # after the end: replayed by the order book
    assert final.TYPE == "END" and any(p.data.get("replayed") for p in parts)
    assert stack.broker.core.adapter.calls["SendOrder"] == 1
