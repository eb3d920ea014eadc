"""Unit tests of the order tracker: dedup, chejan before the order number, lifecycle, journal, risk."""
from __future__ import annotations

import json

import pytest

from koabus.common.errors import DuplicateOrder, InvalidRequest, RiskRejected
from koabus.services.broker.config import RiskSettings
from koabus.services.broker.orders import (
    ACCEPTED,
    CANCELLED,
    FILLED,
    PARTIAL,
    REJECTED,
    SENT,
    OrderJournal,
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
    t.on_send_result(order, 0)
    t.on_trdata(order.rqname, "x", "0000077")
    lines = [json.loads(x) for x in open(path, encoding="utf-8")]
    assert lines[0]["state"] == "queued"  # written before the send
    restarted = OrderTracker(OrderJournal(path))
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
