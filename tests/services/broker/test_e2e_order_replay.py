"""End to end: a retry of a finished order's id replays exactly what its live stream delivered (§7
"Retries and replayed events"), and a retried cancel is compared with the request as first received.

Issue 14 (protocol.md §11 rows 2 and 3): a cancelled order's retry replayed `cancelled, confirmed, done`
where the live stream had delivered `cancelled, done` (the original's 확인 chejan arrives after its stream
ended), and a retried `cancel_order` with `qty` 0 ("all remaining") got DuplicateOrder once the
remaining quantity had become 0.
"""
from __future__ import annotations

from tests.services.broker.conftest import start_stack
from tests.services.broker.test_e2e_order_safety import _restart

ACCOUNT = "8000000011"


def _order(cid, **kw):
    args = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 3, "price": 0, "hoga": "00",
            "client_order_id": cid}
    args.update(kw)
    return args


def _cancel(cid, new_cid, **kw):
    args = {"account": ACCOUNT, "client_order_id": cid, "client_order_id_new": new_cid}
    args.update(kw)
    return args


def _low_limit(client):
    """A limit price on the tick grid well below the market (inside the daily limit): stays open."""
    last = int(client.result("call", {"method": "GetMasterLastPrice", "args": ["005930"]}))
    return (last * 8 // 10 // 100) * 100


def _events(parts):
    return [p.data["event"] for p in parts]


def _open_then_cancel(c, cid, **cancel_args):
    """Place a resting limit order under `cid`, cancel it; returns (order parts, cancel parts, cancel END)."""
    rid = c.send("order", _order(cid, price=_low_limit(c)))
    assert c.wait_for(lambda: "accepted" in _events(m for m in c.messages_for(rid) if m.TYPE == "PART"), 5)
    final, cancel_parts = c.call("cancel_order", _cancel(cid, cid + "-x", **cancel_args), timeout_s=8)
    assert final.TYPE == "END" and final.result["state"] == "confirmed", final
    original = c.wait_final(rid, 5)
    assert original[-1].TYPE == "END" and original[-1].result["state"] == "cancelled"
    return [m for m in original if m.TYPE == "PART"], cancel_parts, final


def _settle(stack, cid, event, timeout_s=5.0):
    """Wait until the order's history holds `event` (the late 확인 of the original, for instance)."""
    c = stack.client("status")
    return c.wait_for(lambda: event in [e["event"] for e in
                                        c.result("order_status", {"client_order_id": cid})["events"]],
                      timeout_s)


def test_retry_of_a_cancelled_order_replays_what_its_live_stream_delivered(stack):
    c = stack.client()
    live, _, _ = _open_then_cancel(c, "rp-1")
    assert _events(live)[-2:] == ["cancelled", "done"]
    # the original's own 확인 chejan comes after its stream ended: kept as state, marked late
    assert _settle(stack, "rp-1", "confirmed")
    status = c.result("order_status", {"client_order_id": "rp-1"})
    late = [e for e in status["events"] if e.get("late")]
    assert [e["event"] for e in late] == ["confirmed"]
    assert [e["event"] for e in status["events"] if not e.get("late")] == _events(live)[:-1]
    sent = stack.broker.core.adapter.calls["SendOrder"]
    final, replay = c.call("order", _order("rp-1", price=_low_limit(c)), timeout_s=5)
    assert final.TYPE == "END" and final.result["state"] == "cancelled"
    assert _events(replay) == _events(live)
    assert [p.data.get("replayed") for p in replay] == [True] * (len(live) - 1) + [None]
    assert [p.data.get("fill_no") for p in replay] == [p.data.get("fill_no") for p in live]
    assert stack.broker.core.adapter.calls["SendOrder"] == sent


def test_retry_of_a_finished_cancel_with_the_same_arguments_replays_it(stack):
    c = stack.client()
    _, cancel_live, cancel_end = _open_then_cancel(c, "rp-2")  # qty absent: 0 = all remaining
    sent = stack.broker.core.adapter.calls["SendOrder"]
    final, replay = c.call("cancel_order", _cancel("rp-2", "rp-2-x"), timeout_s=5)
    assert final.TYPE == "END", final
    assert final.result["state"] == "confirmed" and final.result["order_no"] == cancel_end.result["order_no"]
    assert _events(replay) == _events(cancel_live)
    assert all(p.data.get("replayed") for p in replay[:-1])
    final, _ = c.call("cancel_order", _cancel("rp-2", "rp-2-x", qty=0), timeout_s=5)  # 0 given explicitly
    assert final.TYPE == "END", final
    assert stack.broker.core.adapter.calls["SendOrder"] == sent
    final, _ = c.call("cancel_order", _cancel("rp-2", "rp-2-x", qty=1), timeout_s=5)  # another request
    assert final.TYPE == "ERROR" and final.kind == "DuplicateOrder"
    assert stack.broker.core.adapter.calls["SendOrder"] == sent


def test_replays_and_cancel_retries_are_the_same_after_a_restart(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    first = start_stack(qapp, state_dir=state_dir)
    try:
        c = first.client()
        live, cancel_live, _ = _open_then_cancel(c, "rp-3", qty=0)
        assert _settle(first, "rp-3", "confirmed")
        before = c.result("order_status", {"client_order_id": "rp-3"})
    finally:
        first.close()
    second = start_stack(qapp, state_dir=state_dir)
    try:
        c = second.client()
        assert c.result("order_status", {"client_order_id": "rp-3"}) == before
        final, replay = c.call("order", _order("rp-3", price=_low_limit(c)), timeout_s=5)
        assert final.TYPE == "END" and _events(replay) == _events(live)
        final, replay = c.call("cancel_order", _cancel("rp-3", "rp-3-x", qty=0), timeout_s=5)
        assert final.TYPE == "END" and _events(replay) == _events(cancel_live)
        assert second.broker.core.adapter.calls["SendOrder"] == 0
    finally:
        second.close()



def test_an_order_restored_open_and_cancelled_without_a_stream_replays_no_late_event(qapp, tmp_path):
    first = start_stack(qapp, state_dir=str(tmp_path / "state"))
    c = first.client()
    price = _low_limit(c)
    rid = c.send("order", _order("rp-4", price=price))
    assert c.wait_for(lambda: "accepted" in _events(m for m in c.messages_for(rid) if m.TYPE == "PART"), 5)
    second = _restart(first)  # the same simulated server: the order is still open there
    try:
        c = second.client()
        final, _ = c.call("cancel_order", _cancel("rp-4", "rp-4-x"), timeout_s=8)
        assert final.TYPE == "END", final  # nobody streams the original in this run
        assert _settle(second, "rp-4", "confirmed")
        status = c.result("order_status", {"client_order_id": "rp-4"})
        assert status["state"] == "cancelled"
        assert [e["event"] for e in status["events"] if e.get("late")] == ["confirmed"]
        final, replay = c.call("order", _order("rp-4", price=price), timeout_s=5)
        assert final.TYPE == "END" and final.result["state"] == "cancelled"
        assert _events(replay)[-2:] == ["cancelled", "done"]
        assert _events(replay) == [e["event"] for e in status["events"] if not e.get("late")] + ["done"]
        assert second.broker.core.adapter.calls["SendOrder"] == 1  # the cancel only
    finally:
        second.close()
