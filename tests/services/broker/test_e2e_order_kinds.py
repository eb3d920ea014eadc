"""End to end: SendOrderCredit/SendOrderFO argument mapping at the control, modify and cancel events,
and the order summary carried by every lifecycle event."""
from __future__ import annotations

import pytest

from tests.services.broker.conftest import start_stack

ACCOUNT = "8000000011"
CREDIT_SIGNATURE = ("SendOrderCredit(QString, QString, QString, int, QString, int, int, QString, QString, "
                    "QString, QString)")
FO_SIGNATURE = "SendOrderFO(QString, QString, QString, QString, int, QString, QString, int, QString, QString)"
SUMMARY_KEYS = {"client_order_id", "order_no", "state", "account", "code", "side", "qty", "price", "done"}
FO_CODE = "101V3000"


@pytest.fixture
def spied(qapp):
    stack = start_stack(qapp, spy=True)
    # the simulated market lists no derivatives; the broker's master list learns a futures code by name
    # (GetMasterCodeName), as it does for options on the real control
    original = stack.spy.original
    stack.spy.overrides["GetMasterCodeName"] = (
        lambda signature, args: "코스피200 F 202403" if args[0] == FO_CODE else original(signature, *args))
    try:
        yield stack
    finally:
        stack.close()


def _events(parts):
    return [p.data["event"] for p in parts]


def _limit_below_market(c, code="005930"):
    last = int(c.result("call", {"method": "GetMasterLastPrice", "args": [code]}))
    return (last * 8 // 10 // 100) * 100  # inside the daily limit, far below the market: stays open


def test_credit_order_arguments_at_the_control(spied):
    c = spied.client()
    final, parts = c.call("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 2, "price": 0,
                                    "hoga": "03", "kind": "credit", "credit_gb": "03",
                                    "client_order_id": "cr-1"}, timeout_s=8)
    assert final.TYPE == "END", final
    (sent,) = spied.spy.of("SendOrderCredit")
    assert sent.signature == CREDIT_SIGNATURE
    rqname, screen, *rest = sent.args
    assert rqname.startswith("ord") and len(screen) == 4 and screen.isdigit()
    assert rest == [ACCOUNT, 1, "005930", 2, 0, "03", "03", "", ""]
    assert not spied.spy.of("SendOrder")
    # a credit sell repaying combined loans: order type 2, loan date 99991231
    c.call("order", {"account": ACCOUNT, "side": "sell", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
                     "kind": "credit", "credit_gb": "99", "loan_date": "99991231", "client_order_id": "cr-2"},
           timeout_s=8)
    assert list(spied.spy.of("SendOrderCredit")[-1].args[2:]) == [ACCOUNT, 2, "005930", 1, 0, "03", "99",
                                                                  "99991231", ""]


@pytest.mark.parametrize("hoga, side, price, fo_hoga, fo_side, fo_price", [
    ("00", "buy", 350, "1", "2", "350"),
    ("03", "sell", 0, "3", "1", "0"),
    ("06", "buy", 0, "4", "2", "0"),
    ("05", "sell", 340, "2", "1", "340"),
    ("10", "buy", 350, "5", "2", "350"),
    ("20", "buy", 350, "6", "2", "350"),
    ("13", "sell", 0, "7", "1", "0"),
    ("23", "sell", 0, "8", "1", "0"),
    ("16", "buy", 0, "9", "2", "0"),
    ("26", "buy", 0, "A", "2", "0"),
])
def test_fo_order_arguments_at_the_control(spied, hoga, side, price, fo_hoga, fo_side, fo_price):
    c = spied.client()
    final, parts = c.call("order", {"account": ACCOUNT, "side": side, "code": "101V3000", "qty": 1,
                                    "price": price, "hoga": hoga, "kind": "fo",
                                    "client_order_id": f"fo-{hoga}"}, timeout_s=8)
    assert final.TYPE == "END", final
    (sent,) = spied.spy.of("SendOrderFO")
    assert sent.signature == FO_SIGNATURE
    rqname, screen, *rest = sent.args
    assert rqname.startswith("ord") and len(screen) == 4
    # SendOrderFO: code before the order kind, side as "1" sell / "2" buy, KRX hoga -> FO 거래구분, price as text
    assert rest == [ACCOUNT, "101V3000", 1, fo_side, fo_hoga, 1, fo_price, ""]
    # the simulated accounts are stock accounts: the server rejects it with a message
    assert final.result["state"] == "rejected" and "rejected" in _events(parts)


def test_fo_modify_and_cancel_of_an_unknown_order(spied):
    c = spied.client()
    c.call("modify_order", {"account": ACCOUNT, "order_no": "0000123", "code": "101V3000", "side": "buy",
                            "kind": "fo", "qty": 2, "price": 355, "hoga": "00"}, timeout_s=8)
    c.call("cancel_order", {"account": ACCOUNT, "order_no": "0000124", "code": "101V3000", "side": "sell",
                            "kind": "fo", "qty": 1}, timeout_s=8)
    modify, cancel = spied.spy.of("SendOrderFO")
    assert list(modify.args[2:]) == [ACCOUNT, "101V3000", 2, "2", "1", 2, "355", "0000123"]
    assert list(cancel.args[2:]) == [ACCOUNT, "101V3000", 3, "1", "1", 1, "0", "0000124"]


def test_modify_marks_the_original_and_the_new_order_carries_the_new_price(spied):
    c = spied.client()
    low = _limit_below_market(c)
    rid = c.send("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 3, "price": low,
                           "hoga": "00", "client_order_id": "mod-1"})
    assert c.wait_for(lambda: "accepted" in [m.data["event"] for m in c.messages_for(rid) if m.TYPE == "PART"], 5)
    new_price = low + 100
    mid = c.send("modify_order", {"account": ACCOUNT, "client_order_id": "mod-1", "qty": 3, "price": new_price,
                                  "client_order_id_new": "mod-1-b"})
    # the modify order lives on under its own number (open at the new price) after it is confirmed
    assert c.wait_for(lambda: "confirmed" in [m.data["event"] for m in c.messages_for(mid) if m.TYPE == "PART"], 5)
    confirmed = [m.data for m in c.messages_for(mid) if m.TYPE == "PART" and m.data["event"] == "confirmed"][0]
    (modify,) = [x for x in spied.spy.of("SendOrder") if x.args[3] == 5]  # 5: modify buy
    original = c.wait_final(rid, 5)
    original_parts = [m.data for m in original if m.TYPE == "PART"]
    modified = [p for p in original_parts if p["event"] == "modified"]
    assert modified and modified[0]["new_order_no"] == confirmed["order_no"]
    assert original[-1].TYPE == "END" and original[-1].result["state"] == "modified"
    assert modify.args[6] == new_price and modify.args[8] == original[-1].result["order_no"]
    assert confirmed["price"] == new_price and confirmed["orig_order_no"] == original[-1].result["order_no"]
    status = c.result("order_status", {"order_no": confirmed["order_no"]})
    assert status["price"] == new_price and status["client_order_id"] == "mod-1-b"
    assert status["state"] == "accepted" and status["remaining_qty"] == 3 and not status["done"]


def test_cancel_reports_the_cancelled_quantity_and_events_carry_the_summary(spied):
    c = spied.client()
    low = _limit_below_market(c)
    rid = c.send("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 4, "price": low,
                           "hoga": "00", "client_order_id": "can-1"})
    assert c.wait_for(lambda: "accepted" in [m.data["event"] for m in c.messages_for(rid) if m.TYPE == "PART"], 5)
    final, _ = c.call("cancel_order", {"account": ACCOUNT, "client_order_id": "can-1"}, timeout_s=8)
    assert final.TYPE == "END", final
    original = c.wait_final(rid, 5)
    events = [m.data for m in original if m.TYPE == "PART"]
    cancelled = [e for e in events if e["event"] == "cancelled"]
    assert cancelled and cancelled[0]["cancelled_qty"] == 4 and cancelled[0]["by_order_no"] == final.result["order_no"]
    assert original[-1].result["state"] == "cancelled" and original[-1].result["remaining_qty"] == 0
    (cancel,) = [x for x in spied.spy.of("SendOrder") if x.args[3] == 3]  # 3: cancel buy
    assert cancel.args[5] == 4 and cancel.args[6] == 0
    # every event carries the order summary, the message event included
    for event in events:
        assert SUMMARY_KEYS <= set(event), event
        assert event["client_order_id"] == "can-1" and event["code"] == "005930"
    assert "message" in [e["event"] for e in events]


def test_balance_and_rejected_events_keep_the_stock_code(spied):
    c = spied.client()
    final, parts = c.call("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0,
                                    "hoga": "03", "client_order_id": "bal-1"}, timeout_s=8)
    balance = [p.data for p in parts if p.data["event"] == "balance"]
    assert balance and SUMMARY_KEYS <= set(balance[0]) and balance[0]["code"] == "005930"
    assert balance[0]["order_no"] == final.result["order_no"] and balance[0]["values"]
    # a send error: the control's return code is `error_code`, `code` stays the stock code (the broker
    # refuses an account the login lacks before sending, so the control is made to answer -302 here)
    spied.spy.overrides["SendOrder"] = lambda signature, args: -302
    final, parts = c.call("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1,
                                    "price": 0, "hoga": "03", "client_order_id": "bad-acc"}, timeout_s=8)
    rejected = [p.data for p in parts if p.data["event"] == "rejected"][0]
    assert rejected["code"] == "005930" and rejected["error_code"] == -302
    assert final.result["error_code"] == -302
