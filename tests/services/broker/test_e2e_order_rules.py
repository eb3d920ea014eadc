"""End to end: orders are validated before anything is sent (order_rules.py): limit prices positive and on
the KRX tick grid of the code's market, price 0 for the types that take none, listed codes, the login's
accounts. Each refusal is a typed error naming the field, and SendOrder never runs."""
from __future__ import annotations

import pytest

ACCOUNT = "8000000011"
SEND = ("SendOrder", "SendOrderCredit", "SendOrderFO")


def _order(cid, **kw):
    return {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 70000, "hoga": "00",
            "client_order_id": cid, **kw}


def _sent(stack):
    return [c for c in stack.spy.calls if c.name in SEND]


def _refused(stack, client, op, args):
    final, parts = client.call(op, args, timeout_s=8)
    assert final.TYPE == "ERROR" and not parts, final
    assert not _sent(stack), "a refused order reached the control"
    return final


def _below_market(client, code, step):
    last = int(client.result("call", {"method": "GetMasterLastPrice", "args": [code]}))
    return (last * 8 // 10) // step * step  # inside the daily limit, far below the market: stays open


@pytest.mark.parametrize("args, kind, field, details", [
    # a limit order with price 0 must never go out (it was sent as a market order)
    ({"price": 0}, "InvalidRequest", "price", {"hoga": "00", "price": 0}),
    ({"price": 0, "hoga": "05"}, "InvalidRequest", "price", {"hoga": "05"}),
    # off the grid: 005930 trades in 100 KRW steps between 50,000 and 200,000
    ({"price": 70050}, "InvalidRequest", "price", {"tick": 100, "below": 70000, "above": 70100}),
    ({"price": 4999}, "InvalidRequest", "price", {"tick": 5, "below": 4995, "above": 5000}),
    ({"price": 20010}, "InvalidRequest", "price", {"tick": 50, "below": 20000, "above": 20050}),
    # types that take no price need 0
    ({"hoga": "03", "price": 70000}, "InvalidRequest", "price", {"hoga": "03"}),
    ({"hoga": "81", "price": 70000}, "InvalidRequest", "price", {"hoga": "81"}),
    ({"hoga": "99"}, "InvalidRequest", "hoga", {"hoga": "99"}),
    ({"code": "999999"}, "NotFound", "code", {"unknown": ["999999"]}),
    ({"code": "005930;000660"}, "InvalidRequest", "code", {}),
    ({"code": "ALL"}, "InvalidRequest", "code", {}),
    ({"code": "001"}, "InvalidRequest", "code", {"code_kind": "index"}),  # a sector index
    ({"code": "005930", "kind": "fo"}, "InvalidRequest", "code", {"code_kind": "stock"}),
    ({"account": "9999999999"}, "InvalidRequest", "account", {"accounts": [ACCOUNT, "8000000031"]}),
    ({"price": 2 ** 31}, "InvalidRequest", "price", {}),
])
def test_an_invalid_order_is_refused_before_it_is_sent(spied, args, kind, field, details):
    c = spied.client()
    final = _refused(spied, c, "order", _order("bad-1", **args))
    assert final.kind == kind and final.details["field"] == field, final
    for key, value in details.items():
        assert final.details[key] == value, (key, final.details)
    # nothing was kept either: the same id with valid content is a new order, not a DuplicateOrder
    assert c.call("order_status", {"client_order_id": "bad-1"})[0].kind == "NotFound"


def test_valid_limit_and_market_orders_go_out_as_given(spied):
    c = spied.client()
    low = _below_market(c, "005930", 100)
    rid = c.send("order", _order("ok-limit", price=low, code="A005930"))  # the 'A' prefix is dropped
    assert c.wait_for(lambda: any(m.TYPE == "PART" and m.data["event"] == "accepted"
                                  for m in c.messages_for(rid)), 5)
    final, _ = c.call("order", _order("ok-market", hoga="03", price=0), timeout_s=8)
    assert final.TYPE == "END" and final.result["state"] == "filled", final
    limit, market = spied.spy.of("SendOrder")
    assert limit.args[4:8] == ("005930", 1, low, "00")
    assert market.args[4:8] == ("005930", 1, 0, "03")


def test_an_etf_is_priced_on_its_5_won_grid(spied):
    c = spied.client()
    master = spied.broker.core.master
    etf = next(code for code in master.codes() if master.kind(code) == "etf")
    price = _below_market(c, etf, 10) + 5  # on the ETF grid, off the stock grid above 5,000 KRW
    assert price > 5000
    rid = c.send("order", _order("etf-1", code=etf, price=price))
    assert c.wait_for(lambda: any(m.TYPE == "PART" and m.data["event"] == "accepted"
                                  for m in c.messages_for(rid)), 5), c.messages_for(rid)
    assert spied.spy.of("SendOrder")[0].args[4:7] == (etf, 1, price)
    # ETFs have one step at every level: 5 KRW
    final = _refused_after(spied, c, "order", _order("etf-2", code=etf, price=price + 1))
    assert final.details["field"] == "price" and final.details["tick"] == 5


def _refused_after(stack, client, op, args):
    before = len(_sent(stack))
    final, parts = client.call(op, args, timeout_s=8)
    assert final.TYPE == "ERROR" and not parts, final
    assert len(_sent(stack)) == before
    return final


def test_modify_needs_a_grid_price_and_cancel_passes(spied):
    c = spied.client()
    low = _below_market(c, "005930", 100)
    rid = c.send("order", _order("mod-1", price=low, qty=2))
    assert c.wait_for(lambda: any(m.TYPE == "PART" and m.data["event"] == "accepted"
                                  for m in c.messages_for(rid)), 5)
    final = _refused_after(spied, c, "modify_order", {"account": ACCOUNT, "client_order_id": "mod-1", "qty": 2,
                                                     "price": low + 30, "client_order_id_new": "mod-1b"})
    assert final.details["field"] == "price" and final.details["tick"] == 100
    final = _refused_after(spied, c, "modify_order", {"account": ACCOUNT, "client_order_id": "mod-1", "qty": 2,
                                                     "price": 0, "client_order_id_new": "mod-1c"})
    assert final.details["field"] == "price"
    final, _ = c.call("cancel_order", {"account": ACCOUNT, "client_order_id": "mod-1",
                                       "client_order_id_new": "mod-1-x"}, timeout_s=8)
    assert final.TYPE == "END", final
    assert c.wait_final(rid, 5)[-1].result["state"] == "cancelled"
