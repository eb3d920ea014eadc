"""account.default: orders that name no account use it; a default the login lacks is a clear error."""
from __future__ import annotations

from tests.services.broker.conftest import start_stack

ORDER = {"side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03"}


def test_an_order_without_account_uses_the_default(qapp):
    stack = start_stack(qapp, account={"default": "8000000031"})
    try:
        c = stack.client()
        c.subscribe_pub("ch.")
        c.pump(0.2)
        final, parts = c.call("order", {**ORDER, "client_order_id": "acct-1"}, timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled", final
        assert c.wait_for(lambda: bool(c.pubs_on("ch.8000000031.order")), 2.0)
        assert not c.pubs_on("ch.8000000011.")
        status = c.result("status")
        assert status["account"] == {"default": "8000000031", "error": None}
    finally:
        stack.close()


def test_a_default_account_the_login_lacks_is_refused_clearly(qapp):
    stack = start_stack(qapp, account={"default": "1234567890"})
    try:
        c = stack.client()
        final, _ = c.call("order", {**ORDER, "client_order_id": "acct-2"})
        assert final.TYPE == "ERROR" and final.kind == "InvalidRequest", final
        assert "1234567890" in final.message and "8000000011" in final.message
        assert final.details["accounts"] == ["8000000011", "8000000031"]
        assert stack.broker.core.adapter.calls["SendOrder"] == 0
        # naming a real account still works
        final, _ = c.call("order", {**ORDER, "account": "8000000011", "client_order_id": "acct-3"}, timeout_s=8)
        assert final.TYPE == "END", final
        c.pump(0.3)
        assert "1234567890" in c.result("status")["account"]["error"]
    finally:
        stack.close()


def test_without_a_default_an_order_must_name_its_account(stack):
    c = stack.client()
    final, _ = c.call("order", {**ORDER, "client_order_id": "acct-4"})
    assert final.TYPE == "ERROR" and final.kind == "InvalidRequest" and "account" in final.message
