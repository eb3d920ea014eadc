"""Screens are budgeted: realtime cannot take the screens orders, TRs and condition searches need, and a
screen that cannot be had is a typed error, never silence (issue 9: "With all 200 screens used by
realtime, orders were never answered").

The simulated listing is widened to the size of the real master list (20,000 codes), so realtime can
ask for every screen Kiwoom has.
"""
from __future__ import annotations

import pytest

from koabus.services.broker.session import MAX_SCREENS
from tests.services.broker.conftest import start_stack
from tests.services.broker.wide_listing import fill_realtime, synthetic_codes, wide_default

ACCOUNT = "8000000011"
CODES = 20_000
ORDER = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
         "client_order_id": "screens-1"}
QUERY = {"code": "opt10001", "inputs": {"종목코드": "005930"}}


@pytest.fixture
def wide_listing(monkeypatch):
    from koabus.services.sim.market.listing import Listing

    monkeypatch.setattr(Listing, "default", wide_default(CODES))


def test_realtime_on_every_screen_it_may_take_still_leaves_orders_and_trs_answered(qapp, wide_listing):
    stack = start_stack(qapp)
    try:
        c = stack.client()
        fill_realtime(c, synthetic_codes(CODES))
        rid_order = c.send("order", ORDER, deadline_ms=8000)
        rid_tr = c.send("tr", QUERY, deadline_ms=8000)
        order = c.wait_final(rid_order, 8.0)[-1]
        tr = c.wait_final(rid_tr, 8.0)[-1]
        assert order.TYPE == "END" and order.result["order_no"], order
        assert tr.TYPE == "END", tr
        final, _ = c.call("subscribe", {"codes": ["005930"], "types": ["trade"]}, timeout_s=10)
        assert final.TYPE == "ERROR" and final.kind == "Overloaded", final  # realtime is at its budget
    finally:
        stack.close()


def test_a_subscription_over_the_budget_is_refused_whole_naming_the_free_screens(qapp, wide_listing):
    stack = start_stack(qapp)
    try:
        c = stack.client()
        core = stack.broker.core
        codes = synthetic_codes(CODES)
        final, _ = c.call("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=60)
        assert final.TYPE == "ERROR" and final.kind == "Overloaded", final
        realtime_budget = MAX_SCREENS - 8 - 20  # orders' and requests' reserves (the defaults)
        assert final.details["free_screens"] == realtime_budget
        assert str(realtime_budget) in final.message
        assert core.registry.registered_codes() == {} and len(core.screens) == 0  # nothing changed
        assert core.adapter.calls["SetRealReg"] == 0
        c.result("subscribe", {"codes": codes[:150], "types": ["trade"]})
        final, _ = c.call("subscribe", {"codes": codes[150:], "types": ["trade"]}, timeout_s=60)
        assert final.TYPE == "ERROR" and final.details["free_screens"] == realtime_budget - 2, final
        assert len(core.registry.registered_codes()) == 150  # the refused request changed nothing
    finally:
        stack.close()


def test_without_reserves_a_full_budget_is_a_typed_error_for_every_request(qapp, wide_listing):
    stack = start_stack(qapp, screens={"reserved_for_orders": 0, "reserved_for_requests": 0})
    try:
        c = stack.client()
        fill_realtime(c, synthetic_codes(CODES))
        assert len(stack.broker.core.screens) == MAX_SCREENS
        rid_order = c.send("order", ORDER, deadline_ms=8000)
        rid_tr = c.send("tr", QUERY, deadline_ms=8000)
        rid_cond = c.send("condition_search", {"name": "", "index": 0}, deadline_ms=8000)
        order_msgs = c.wait_final(rid_order, 8.0)
        tr = c.wait_final(rid_tr, 8.0)[-1]
        cond = c.wait_final(rid_cond, 8.0)[-1]
        order = order_msgs[-1]
        # failed as not sent (the kind a lost link gives an unsent order), saying why
        assert order.TYPE == "ERROR" and order.kind == "Unavailable", order
        assert "not sent" in order.message and "screen" in order.message
        assert order.details["state"] == "failed"
        assert [m.data["event"] for m in order_msgs if m.TYPE == "PART"] == ["rejected"]
        assert stack.broker.core.adapter.calls["SendOrder"] == 0
        status = c.result("order_status", {"client_order_id": "screens-1"})
        assert status["state"] == "failed"
        assert tr.TYPE == "ERROR" and tr.kind == "Overloaded", tr
        assert cond.TYPE == "ERROR", cond  # no such condition or no screen: answered either way
    finally:
        stack.close()


def test_the_order_desk_reuses_its_screens_when_it_cannot_get_more(qapp, wide_listing):
    stack = start_stack(qapp, screens={"reserved_for_orders": 1})  # fewer than the desk's rotation of 8
    try:
        c = stack.client()
        first = c.call("order", ORDER, timeout_s=8)[0]
        assert first.TYPE == "END", first
        fill_realtime(c, synthetic_codes(CODES))
        assert stack.broker.core.screens.available("order") == 0
        second = c.call("order", {**ORDER, "client_order_id": "screens-2"}, timeout_s=8)[0]
        assert second.TYPE == "END" and second.result["order_no"], second
        assert stack.broker.core.adapter.calls["SendOrder"] == 2
    finally:
        stack.close()
