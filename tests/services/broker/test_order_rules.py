"""validate_order (services/broker/order_rules.py) without I/O: each field's rule and the details a refusal
carries. The master list comes from the fake adapter of test_master.py."""
from __future__ import annotations

import pytest

from koabus.common.errors import InvalidRequest, NotFound, Unavailable
from koabus.services.broker.master import MasterList
from koabus.services.broker.order_rules import validate_order
from koabus.services.broker.orders import OrderRequest
from tests.services.broker.test_master import FakeAdapter

ACCOUNTS = ["8000000011", "8000000031"]


@pytest.fixture(scope="module")
def master():
    m = MasterList()
    m.load(FakeAdapter())
    return m


def _req(**kw):
    base = dict(account="8000000011", code="005930", qty=1, side="buy", price=70_000, hoga="00")
    base.update(kw)
    return OrderRequest(**base)


def _refusal(master, **kw):
    with pytest.raises(InvalidRequest) as err:
        validate_order(_req(**kw), master, ACCOUNTS)
    return err.value


def test_a_valid_order_passes_with_its_code_normalized(master):
    request = _req(code="A005930")
    assert validate_order(request, master, ACCOUNTS) == _req()
    plain = _req()
    assert validate_order(plain, master, ACCOUNTS) is plain


@pytest.mark.parametrize("hoga", ["00", "05", "10", "20", "62"])
def test_priced_types_need_a_positive_price(master, hoga):
    assert validate_order(_req(hoga=hoga), master, ACCOUNTS)
    err = _refusal(master, hoga=hoga, price=0)
    assert err.details["field"] == "price" and err.details["hoga"] == hoga
    assert "03" in str(err)  # says how to send a market order instead


@pytest.mark.parametrize("hoga", ["03", "06", "07", "13", "16", "23", "26", "61", "81"])
def test_types_without_a_price_need_price_0(master, hoga):
    assert validate_order(_req(hoga=hoga, price=0), master, ACCOUNTS)
    err = _refusal(master, hoga=hoga, price=70_000)
    assert err.details == {"field": "price", "price": 70_000, "hoga": hoga}


@pytest.mark.parametrize("code, price, tick, below, above", [
    ("005930", 70_050, 100, 70_000, 70_100),
    ("005930", 1_999_999, 1_000, 1_999_000, 2_000_000),
    ("005930", 250_100, 500, 250_000, 250_500),
    ("069500", 30_002, 5, 30_000, 30_005),  # an ETF
    ("580001", 10_001, 5, 10_000, 10_005),  # an ETN (listed in "0")
])
def test_limit_prices_are_on_the_grid_of_the_codes_market(master, code, price, tick, below, above):
    err = _refusal(master, code=code, price=price)
    assert err.details["field"] == "price"
    assert (err.details["tick"], err.details["below"], err.details["above"]) == (tick, below, above)
    assert validate_order(_req(code=code, price=below), master, ACCOUNTS)
    assert validate_order(_req(code=code, price=above), master, ACCOUNTS)


def test_etf_and_etn_prices_in_5_won_steps_pass(master):
    assert validate_order(_req(code="069500", price=30_005), master, ACCOUNTS)
    assert validate_order(_req(code="580001", price=10_005), master, ACCOUNTS)


@pytest.mark.parametrize("qty, action", [(0, "new"), (-1, "new"), (2 ** 31, "new"), (-1, "cancel"), (0, "modify")])
def test_quantities(master, qty, action):
    err = _refusal(master, qty=qty, action=action, price=0 if action == "cancel" else 70_000)
    assert err.details["field"] == "qty"


def test_cancel_takes_price_0_and_any_quantity(master):
    assert validate_order(_req(action="cancel", qty=0, price=0), master, ACCOUNTS)
    assert validate_order(_req(action="cancel", qty=5, price=0, hoga="99"), master, ACCOUNTS)  # hoga unused
    assert _refusal(master, action="cancel", qty=0, price=70_000).details["field"] == "price"


def test_modify_is_checked_like_a_new_order(master):
    assert validate_order(_req(action="modify", price=70_100, orig_order_no="0000001"), master, ACCOUNTS)
    assert _refusal(master, action="modify", price=70_150).details["tick"] == 100


def test_code_and_account_and_hoga(master):
    with pytest.raises(NotFound) as err:
        validate_order(_req(code="999999"), master, ACCOUNTS)
    assert err.value.details["field"] == "code" and err.value.details["unknown"] == ["999999"]
    for code in ("ALL", "005930;000660", "", "0" * 20):
        assert _refusal(master, code=code).details["field"] == "code"
    assert _refusal(master, code="001").details["code_kind"] == "index"
    assert _refusal(master, code="101V3000").details["code_kind"] == "future"  # stock order, futures code
    err = _refusal(master, account="9999999999")
    assert err.details["field"] == "account" and err.details["accounts"] == ACCOUNTS
    assert _refusal(master, hoga="99").details["field"] == "hoga"
    assert _refusal(master, hoga="3").details["field"] == "hoga"  # an FO code on a stock order


def test_fo_orders(master):
    assert validate_order(_req(kind="fo", code="101V3000", price=350, hoga="00"), master, ACCOUNTS)
    assert validate_order(_req(kind="fo", code="101V3000", price=0, hoga="03"), master, ACCOUNTS)
    assert validate_order(_req(kind="fo", code="101V3000", price=0, hoga="3"), master, ACCOUNTS)  # raw 거래구분
    assert validate_order(_req(kind="fo", code="201V3350", price=3, hoga="1"), master, ACCOUNTS)  # by name
    assert _refusal(master, kind="fo", code="101V3000", price=0, hoga="00").details["field"] == "price"
    assert _refusal(master, kind="fo", code="101V3000", price=350, hoga="61").details["field"] == "hoga"
    assert _refusal(master, kind="fo", code="005930").details["code_kind"] == "stock"


def test_credit_orders_follow_the_stock_rules(master):
    assert validate_order(_req(kind="credit", credit_gb="03"), master, ACCOUNTS)
    assert _refusal(master, kind="credit", price=0).details["field"] == "price"


def test_before_the_first_login_orders_are_unavailable():
    with pytest.raises(Unavailable):
        validate_order(_req(), MasterList(), ACCOUNTS)
