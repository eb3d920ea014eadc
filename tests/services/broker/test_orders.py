"""Unit tests of the order tracker: dedup, chejan before the order number, lifecycle, journal, risk."""
from __future__ import annotations

import json
import os

import pytest

from koabus.common.errors import (
    DuplicateOrder,
    InvalidRequest,
    JournalUnavailable,
    OrderInDoubt,
    RiskRejected,
)
from koabus.services.broker.config import RiskSettings
from koabus.services.broker.journal import OrderJournal
from koabus.services.broker.orders import (
    ACCEPTED,
    CANCELLED,
    FILLED,
    PARTIAL,
    REJECTED,
    SENT,
    OrderRequest,
    OrderTracker,
    check_risk,
    order_request_from_args,
)

ACCOUNT = "8000000011"


def _req(cid="c1", **kw):
    base = dict(account=ACCOUNT, code="005930", qty=10, side="buy", price=70000, hoga="00", client_order_id=cid)
    base.update(kw)
    return OrderRequest(**base)


def _chejan(order_no, status, unfilled, screen="0001", fill_qty="", fill_price="", orig="0000000"):
    return {9201: ACCOUNT, 9203: order_no, 9001: "A005930", 913: status, 900: "10", 901: "70000",
            902: str(unfilled), 903: "0", 904: orig, 907: "2", 908: "100001", 909: "", 915: fill_qty,
            914: fill_price, 920: screen}


def _names(events):
    return [e["event"] for _, e in events]


def test_same_client_order_id_is_a_retry_not_a_new_order():
    t = OrderTracker()
    order, new = t.create(_req())
    again, new2 = t.create(_req())
    assert new and not new2 and again is order
    with pytest.raises(DuplicateOrder):
        t.create(_req(qty=11))


def test_lifecycle_with_partial_fills():
    t = OrderTracker()
    order, _ = t.create(_req())
    assert _names(t.on_send_result(order, 0)) == ["sent"]
    assert order.state == SENT
    assert _names(t.on_message(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "[100000] 매수주문완료")) == ["message"]
    assert _names(t.on_trdata(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "0163911")) == ["order_no"]
    assert _names(t.on_order_chejan(_chejan("0163911", "접수", 10))) == ["accepted"]
    assert order.state == ACCEPTED
    events = t.on_order_chejan(_chejan("0163911", "체결", 6, fill_qty="4", fill_price="70000"))
    assert _names(events) == ["fill"] and events[0][1]["fill_qty"] == 4
    assert order.state == PARTIAL and order.remaining_qty == 6
    t.on_order_chejan(_chejan("0163911", "체결", 0, fill_qty="6", fill_price="69900"))
    assert order.state == FILLED and order.done
    assert order.summary()["avg_fill_price"] == (4 * 70000 + 6 * 69900) // 10
    balance = t.on_balance(ACCOUNT, "A005930", {"holding_qty": 10})
    assert _names(balance) == ["balance"]


def test_chejan_before_the_order_number_is_held_then_replayed():
    t = OrderTracker()
    order, _ = t.create(_req())
    t.on_send_result(order, 0)
    order.screen = "0001"
    other, _ = t.create(_req("c2"))
    t.on_send_result(other, 0)
    other.screen = "0001"  # two orders wait on the same screen and code: no guessing
    assert t.on_order_chejan(_chejan("0000042", "접수", 10)) == []
    assert t.orphan_count == 1
    events = t.on_trdata(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "0000042")
    assert _names(events) == ["order_no", "accepted"]
    assert order.state == ACCEPTED and other.state == SENT


def test_chejan_before_the_order_number_bound_by_screen_and_code():
    t = OrderTracker()
    order, _ = t.create(_req())
    t.on_send_result(order, 0)
    order.screen = "0007"
    events = t.on_order_chejan(_chejan("0000043", "접수", 10, screen="0007"))
    assert _names(events) == ["order_no", "accepted"]
    assert order.order_no == "0000043"
    assert _names(t.on_trdata(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "0000043")) == []


def test_empty_order_number_is_a_rejection_with_the_server_message():
    t = OrderTracker()
    order, _ = t.create(_req())
    t.on_send_result(order, 0)
    t.on_message(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "[00Z218] 모의투자 장종료 상태입니다")
    events = t.on_trdata(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "")
    assert _names(events) == ["rejected"]
    assert order.state == REJECTED and "장종료" in events[0][1]["message"]


def test_cancel_confirmation_cancels_the_original():
    t = OrderTracker()
    order, _ = t.create(_req())
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000050")
    t.on_order_chejan(_chejan("0000050", "접수", 10))
    cancel, _ = t.create(_req("", action="cancel", orig_order_no="0000050", qty=10, price=0))
    t.on_send_result(cancel, 0)
    t.on_trdata(cancel.rqname, "x", "0000051")
    events = t.on_order_chejan(_chejan("0000051", "확인", 0, orig="0000050"))
    assert _names(events) == ["confirmed", "cancelled"]
    assert cancel.done and order.state == CANCELLED and order.done


def test_journal_survives_a_restart(tmp_path):
    path = str(tmp_path / "orders.jsonl")
    t = OrderTracker(OrderJournal(path))
    order, _ = t.create(_req())
    t.mark_sending(order, "0001")
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000077")
    lines = [json.loads(x) for x in open(path, encoding="utf-8")]
    assert [x["rec"] for x in lines[:2]] == ["request", "sending"]  # written before the send
    restarted = OrderTracker(OrderJournal(path))
    restarted.restore(restarted.today())
    again, new = restarted.create(_req())
    assert not new and again.order_no == "0000077" and again.historical
    with pytest.raises(DuplicateOrder):
        restarted.create(_req(price=1))


def test_risk_limits():
    check_risk(_req(), RiskSettings(), None)
    with pytest.raises(RiskRejected):
        check_risk(_req(), RiskSettings(trading_disabled=True), None)
    with pytest.raises(RiskRejected):
        check_risk(_req(qty=11), RiskSettings(max_qty=10), None)
    with pytest.raises(RiskRejected):
        check_risk(_req(), RiskSettings(max_notional=699_999), None)
    with pytest.raises(RiskRejected):
        check_risk(_req(code="000660"), RiskSettings(allowed_codes=("005930",)), None)
    # market order: the price hint stands in for the notional check
    check_risk(_req(price=0, hoga="03"), RiskSettings(max_notional=700_000), 70_000)
    with pytest.raises(RiskRejected):
        check_risk(_req(price=0, hoga="03"), RiskSettings(max_notional=700_000), 70_001)
    # cancels always pass
    check_risk(_req(action="cancel"), RiskSettings(trading_disabled=True), None)


def test_order_args_validation():
    with pytest.raises(InvalidRequest):
        order_request_from_args({"account": ACCOUNT, "code": "005930", "qty": 1, "side": "long"})
    with pytest.raises(InvalidRequest):
        order_request_from_args({"account": ACCOUNT, "code": "005930", "qty": 0, "side": "buy"})


def test_recorded_trace_order_flow(shared_reference):
    """The mock-server trace of a market buy, with the chejan delivered before OnReceiveTrData."""
    trace = json.loads((shared_reference / "recorded-traces" / "mock-server-2022-01-18.json")
                       .read_text(encoding="utf-8"))["traces"]["order_market_buy_1_share"]
    msg, trdata, accepted, filled, balance = trace
    t = OrderTracker()
    order, _ = t.create(OrderRequest(account="8014526011", code="005930", qty=1, side="buy", price=0, hoga="03",
                                     client_order_id="rec"))
    t.on_send_result(order, 0)
    order.screen = "9999"  # not the recorded screen: binding must wait for the order number
    events = []
    for ev in (accepted, filled):
        fids = [int(f) for f in ev["args"][2].split(";") if f]
        events += t.on_order_chejan(dict(zip(fids, ev["single"].values())))
    assert events == []
    events += t.on_message(order.rqname, msg["args"][2], msg["args"][3])
    events += t.on_trdata(order.rqname, trdata["args"][2], trdata["single"]["주문번호"])
    assert _names(events) == ["message", "order_no", "accepted", "fill"]
    assert order.state == FILLED and order.filled_qty == 1 and order.summary()["avg_fill_price"] == 77000
    fids = [int(f) for f in balance["args"][2].split(";") if f]
    raw = dict(zip(fids, balance["single"].values()))
    assert _names(t.on_balance(raw[9201], raw[9001], {"holding_qty": 2})) == ["balance"]


def test_every_event_carries_the_summary_and_send_errors_use_error_code():
    t = OrderTracker()
    order, _ = t.create(_req())
    t.on_send_result(order, 0)
    (_, message), = t.on_message(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "[100000] 매수주문완료")
    assert message["event"] == "message" and message["message"] == "[100000] 매수주문완료"
    assert message["client_order_id"] == "c1" and message["state"] == SENT and message["code"] == "005930"
    t.on_trdata(order.rqname, "KOA_NORMAL_BUY_KP_ORD", "0163911")
    t.on_order_chejan(_chejan("0163911", "체결", 0, fill_qty="10", fill_price="70000"))
    (_, balance), = t.on_balance(ACCOUNT, "A005930", {"holding_qty": 10})
    assert balance["event"] == "balance" and balance["values"] == {"holding_qty": 10}
    assert balance["order_no"] == "0163911" and balance["state"] == FILLED and balance["code"] == "005930"
    assert balance["filled_qty"] == 10 and balance["client_order_id"] == "c1"
    failed, _ = t.create(_req("c2"))
    (_, rejected), = t.on_send_result(failed, -308, "order send overload")
    assert rejected["code"] == "005930" and rejected["error_code"] == -308
    assert rejected["client_order_id"] == "c2" and rejected["state"] == "failed"


# -- journal, restart, forward-only state ------------------------------------------------------------
def _journaled(tmp_path):
    return OrderTracker(OrderJournal(str(tmp_path / "{date}.jsonl")))


def _restarted(tmp_path):
    t = _journaled(tmp_path)
    t.restore(t.today())
    return t


def test_fills_and_history_survive_a_restart_and_a_lower_refresh_is_a_conflict(tmp_path):
    t = _journaled(tmp_path)
    order, _ = t.create(_req(qty=10))
    t.mark_sending(order, "0001")
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000077")
    t.on_order_chejan({**_chejan("0000077", "체결", 7, fill_qty="3", fill_price="70000"), 909: "f1"})
    assert order.filled_qty == 3 and order.state == PARTIAL
    again = _restarted(tmp_path).find("c1")
    assert again.historical and again.state == PARTIAL and again.filled_qty == 3
    assert again.remaining_qty == 7 and again.summary()["avg_fill_price"] == 70000
    assert again.history == order.history and again.summary() == order.summary()
    t2 = _restarted(tmp_path)
    restored = t2.find("c1")
    events = t2.refresh(restored, {"order_no": "0000077", "state": ACCEPTED, "filled_qty": 0,
                                   "remaining_qty": 10, "fill_amount": 0}, "opw00007")
    assert restored.filled_qty == 3 and restored.remaining_qty == 7 and restored.state == PARTIAL
    conflicts = [e for _, e in events if e["event"] == "conflict"]
    assert {c["field"] for c in conflicts} == {"filled_qty", "remaining_qty", "state"}
    assert t2.conflicts == 3 and _names(events) == ["conflict"] * 3  # nothing applied
    # the conflicts are journaled too: a third run sees them in the history
    assert [e["event"] for e in _restarted(tmp_path).find("c1").history].count("conflict") == 3


def test_a_terminal_state_never_reopens_and_filled_qty_never_drops():
    t = OrderTracker()
    order, _ = t.create(_req(qty=10))
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000080")
    t.on_order_chejan(_chejan("0000080", "체결", 0, fill_qty="10", fill_price="70000"))
    assert order.state == FILLED
    events = t.on_order_chejan(_chejan("0000080", "접수", 10))  # a stale acceptance after the fill
    assert order.state == FILLED and order.remaining_qty == 0 and order.filled_qty == 10
    assert _names(events) == ["conflict", "update"] and t.conflicts == 1
    t.refresh(order, {"state": ACCEPTED, "filled_qty": 10, "remaining_qty": 0}, "opw00007")
    assert order.state == FILLED and t.conflicts == 2


def test_the_same_fill_is_counted_once():
    t = OrderTracker()
    order, _ = t.create(_req(qty=10))
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000081")
    fill = {**_chejan("0000081", "체결", 6, fill_qty="4", fill_price="70000"), 909: "77"}
    assert _names(t.on_order_chejan(fill)) == ["fill"]
    assert t.on_order_chejan(fill) == []
    assert order.filled_qty == 4
    # a reconciliation counted the next fill already; its chejan arriving late adds nothing
    t.refresh(order, {"state": PARTIAL, "filled_qty": 6, "remaining_qty": 4, "fill_amount": 420000}, "opw00007")
    (_, late), = t.on_order_chejan({**_chejan("0000081", "체결", 4, fill_qty="2", fill_price="70000"), 909: "78"})
    assert late["counted_qty"] == 0 and order.filled_qty == 6 and order.remaining_qty == 4


def test_request_without_sending_record_was_never_sent_and_a_retry_is_a_new_attempt(tmp_path):
    t = _journaled(tmp_path)
    t.create(_req())  # the broker dies before the `sending` record
    t2 = _restarted(tmp_path)
    old = t2.find("c1")
    assert old.state == "failed" and old.message == "not sent: the broker stopped before sending"
    assert old.resendable
    again, new = t2.create(_req())
    assert new and again is not old and t2.find("c1") is again
    t2.mark_sending(again, "0002")
    t2.on_send_result(again, 0)
    retry, new = t2.create(_req())
    assert not new and retry is again  # sent now: never again
    t3 = _restarted(tmp_path)
    assert t3.find("c1").dispatched and t3.find("c1").state == SENT  # the new attempt replaced the old


def test_sent_order_in_doubt_refuses_a_retry_with_what_is_known(tmp_path):
    t = _journaled(tmp_path)
    order, _ = t.create(_req())
    t.mark_sending(order, "0003")
    t2 = _restarted(tmp_path)
    restored = t2.find("c1")
    assert restored.state == SENT and t2.to_reconcile(t2.today()) == [restored]
    assert _names(t2.mark_in_doubt(restored, "not on the server")) == ["in_doubt"]
    with pytest.raises(OrderInDoubt) as info:
        t2.create(_req())
    details = info.value.details
    assert details["reason"] == "not on the server" and details["request"]["qty"] == 10
    assert [r["rec"] for r in details["records"]] == ["request", "sending", "event"]
    assert details["sending_t"] == restored.sending_t and details["sending_time"]
    assert _restarted(tmp_path).find("c1").state == "in_doubt"  # journaled
    with pytest.raises(DuplicateOrder):
        t2.create(_req(qty=11))


def test_orders_without_client_id_get_a_journal_key(tmp_path):
    t = _journaled(tmp_path)
    order, new = t.create(_req(""))
    assert new and order.key.startswith("auto-") and order.summary()["journal_key"] == order.key
    assert t.find(order.key) is order
    assert _restarted(tmp_path).find(order.key).request == order.request


def test_failed_request_record_keeps_nothing_and_the_retry_can_go(tmp_path):
    (tmp_path / "d").mkdir()
    t = OrderTracker(OrderJournal(str(tmp_path / "d" / "x.jsonl")))
    os.rename(tmp_path / "d", tmp_path / "e")
    (tmp_path / "d").write_text("not a directory")  # the journal's directory cannot be made
    with pytest.raises(JournalUnavailable):
        t.create(_req())
    assert t.find("c1") is None and not t.by_rq
    (tmp_path / "d").unlink()
    order, new = t.create(_req())
    assert new and order.state == "queued"


def test_a_fill_whose_chejan_was_lost_is_counted_from_the_cumulative_quantity():
    """Fill 4 of 10 reached the exchange but not the broker (link down, or a broker killed with the chejan
    queued); the next fill's 체결량 (911) is the order's fills so far: the order ends with all 10."""
    t = OrderTracker()
    order, _ = t.create(_req(qty=10))
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000082")
    t.on_order_chejan(_chejan("0000082", "접수", 10))
    (_, event), = t.on_order_chejan({**_chejan("0000082", "체결", 0, fill_qty="6", fill_price="70100"),
                                     909: "f2", 911: "10", 903: str(4 * 70000 + 6 * 70100)})
    assert order.state == FILLED and order.filled_qty == 10 and order.remaining_qty == 0
    assert event["fill_qty"] == 6 and event["counted_qty"] == 10
    # the average price counts the lost fill at its own price (체결누계금액, 903), not at this fill's
    assert order.summary()["avg_fill_price"] == (4 * 70000 + 6 * 70100) // 10
    # a per-fill 911 (the field's meaning is not certain on the real control) counts what it did before
    t2 = OrderTracker()
    other, _ = t2.create(_req(cid="c2", qty=10))
    t2.on_send_result(other, 0)
    t2.on_trdata(other.rqname, "x", "0000083")
    t2.on_order_chejan({**_chejan("0000083", "체결", 6, fill_qty="4", fill_price="70000"), 909: "g1", 911: "4"})
    t2.on_order_chejan({**_chejan("0000083", "체결", 0, fill_qty="6", fill_price="70000"), 909: "g2", 911: "6"})
    assert other.filled_qty == 10 and other.state == FILLED
