"""End to end: order lifecycle streams, duplicate protection, chejan before the order number, cancel, risk."""
from __future__ import annotations

from tests.services.broker.conftest import start_stack

ACCOUNT = "8000000011"


def _order(cid, **kw):
    args = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
            "client_order_id": cid}
    args.update(kw)
    return args


def _events(parts):
    return [p.data["event"] for p in parts]


def test_market_order_streams_its_lifecycle_and_publishes_chejan(stack):
    c = stack.client()
    c.subscribe_pub("ch.")
    c.pump(0.2)
    final, parts = c.call("order", _order("buy-1"), timeout_s=8)
    assert final.TYPE == "END", final
    events = _events(parts)
    assert events[0] == "sent" and events[-1] == "done"
    assert events.index("accepted") < events.index("fill") < events.index("balance")
    fill = [p.data for p in parts if p.data["event"] == "fill"][0]
    assert fill["fill_qty"] == 1 and fill["fill_price"] > 0 and fill["remaining_qty"] == 0
    assert final.result["state"] == "filled" and final.result["order_no"]
    assert [p.n for p in parts] == list(range(len(parts))) and final.parts == len(parts)
    assert c.wait_for(lambda: len(c.pubs_on(f"ch.{ACCOUNT}.")) >= 3, 2.0)
    order_pubs = c.pubs_on(f"ch.{ACCOUNT}.order")
    assert order_pubs and all(p.body["client_order_id"] == "buy-1" for p in order_pubs)
    assert order_pubs[0].body["raw"]["9203"].strip() == final.result["order_no"]
    assert c.pubs_on(f"ch.{ACCOUNT}.balance")[0].body["code"] == "005930"
    status = c.result("order_status", {"client_order_id": "buy-1"})
    assert status["state"] == "filled" and [e["event"] for e in status["events"]][:1] == ["sent"]


def test_same_client_order_id_is_sent_once(stack):
    a, b = stack.client("a"), stack.client("b")
    rid1 = a.send("order", _order("dup-1"))
    rid2 = b.send("order", _order("dup-1"))  # a retry from another connection
    m1 = a.wait_final(rid1, 8)
    m2 = b.wait_final(rid2, 8)
    assert stack.broker.core.adapter.calls["SendOrder"] == 1
    assert m1[-1].TYPE == "END" and m2[-1].TYPE == "END"
    assert m1[-1].result["order_no"] == m2[-1].result["order_no"]
    # after completion, a third retry replays the history and ends at once, still without sending
    final, parts = a.call("order", _order("dup-1"))
    assert final.TYPE == "END" and final.result["state"] == "filled"
    assert any(p.data.get("replayed") for p in parts)
    assert stack.broker.core.adapter.calls["SendOrder"] == 1
    final, _ = a.call("order", _order("dup-1", qty=2))
    assert final.TYPE == "ERROR" and final.kind == "DuplicateOrder"


def test_chejan_before_trdata_is_still_correlated(stack):
    stack.sim.chejan_before_tr(True)
    c = stack.client()
    final, parts = c.call("order", _order("early-1"), timeout_s=8)
    assert final.TYPE == "END", final
    events = _events(parts)
    assert "accepted" in events and "fill" in events
    assert final.result["state"] == "filled" and final.result["order_no"]


def test_limit_order_then_cancel_by_client_order_id(stack):
    c = stack.client()
    info = c.result("call", {"method": "GetMasterLastPrice", "args": ["005930"]})
    low = (int(info) * 8 // 10 // 100) * 100  # well below the market, inside the daily limit: stays open
    rid = c.send("order", _order("lim-1", hoga="00", price=low, qty=3))
    assert c.wait_for(lambda: "accepted" in [m.data["event"] for m in c.messages_for(rid) if m.TYPE == "PART"], 5)
    final, parts = c.call("cancel_order", {"account": ACCOUNT, "client_order_id": "lim-1",
                                           "client_order_id_new": "lim-1-cancel"}, timeout_s=8)
    assert final.TYPE == "END", final
    assert "confirmed" in _events(parts)
    original = c.wait_final(rid, 5)
    assert original[-1].TYPE == "END" and original[-1].result["state"] == "cancelled"
    sent = stack.broker.core.adapter.calls["SendOrder"]
    assert sent == 2


def test_risk_limits_refuse_before_sending(qapp):
    stack = start_stack(qapp, risk={"max_qty": 5, "allowed_codes": ["005930"]})
    try:
        c = stack.client()
        final, _ = c.call("order", _order("r1", qty=6))
        assert final.TYPE == "ERROR" and final.kind == "RiskRejected"
        final, _ = c.call("order", _order("r2", code="000660"))
        assert final.TYPE == "ERROR" and final.kind == "RiskRejected"
        assert stack.broker.core.adapter.calls["SendOrder"] == 0
        final, _ = c.call("order", _order("r3", side="short"))
        assert final.TYPE == "ERROR" and final.kind == "InvalidRequest"
    finally:
        stack.close()


def test_client_order_id_survives_a_broker_restart(qapp, tmp_path):
    journal = str(tmp_path / "orders-{date}.jsonl")
    first = start_stack(qapp, order_journal=journal)
    try:
        final, _ = first.client().call("order", _order("keep-1"), timeout_s=8)
        assert final.TYPE == "END" and final.result["order_no"]
        order_no = final.result["order_no"]
    finally:
        first.close()
    assert len(list(tmp_path.glob("orders-2024030*.jsonl"))) == 1
    second = start_stack(qapp, order_journal=journal)
    try:
        final, parts = second.client().call("order", _order("keep-1"), timeout_s=5)
        assert final.TYPE == "END" and final.result["order_no"] == order_no
        assert second.broker.core.adapter.calls["SendOrder"] == 0  # never sent twice
    finally:
        second.close()
