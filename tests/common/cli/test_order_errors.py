"""`koabus order` on a failed order: exactly one error line (with the Kiwoom code and its meaning when there
is one) and a non-zero exit, whether the broker refused the order or it ended rejected. Fake broker."""
from __future__ import annotations

import json

import pytest

from koabus.common.cli.main import main
from koabus.metadata import catalog
from tests.common.client.fake_broker import FakeBroker
from tests.helpers import free_tcp_port


@pytest.fixture(scope="module")
def broker():
    fake = FakeBroker(free_tcp_port(), free_tcp_port()).start()
    yield fake
    fake.stop()


@pytest.fixture
def order(broker, capsys):
    def run(cid: str, *extra: str):
        code = main(["order", "buy", "005930", "1", "--price", "70000", "--account", "8000000011",
                     "--client-order-id", cid, "--wait", "5", "--router", broker.router, "--pub", broker.pub,
                     "--timeout", "5", *extra])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def meaning(code: int) -> str:
    entry = catalog().error(code)
    return f"{entry.message_ko} ({entry.message_en})"


@pytest.mark.parametrize("cid, line", [
    ("risk-1", "koabus: RiskRejected: quantity 10 exceeds the limit 5"),
    ("dup-1", "koabus: DuplicateOrder: client_order_id 'dup-1' was already used for a different order"),
    ("busy-1", "koabus: InvalidRequest: a request with this idem_key is still in progress"),
    ("overload-1", f"koabus: Kiwoom error -308: {meaning(-308)}"),
    ("reject-1", f"koabus: Kiwoom error -302: {meaning(-302)}"),
    ("rc4027-1", "koabus: order rejected: [RC4027] 모의투자 상/하한가 오류입니다."),
])
def test_a_failed_order_is_one_error_line_and_exit_1(order, cid, line):
    code, _, err = order(cid)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(line), err


def test_a_failed_order_in_json_carries_the_error(order):
    code, out, err = order("reject-1", "--json")
    docs = [json.loads(line) for line in out.splitlines()]
    assert code == 1 and err.count("\n") == 1
    assert docs[-1]["final"]["state"] == "failed"
    assert docs[-1]["error"]["kind"] == "KiwoomError" and docs[-1]["error"]["code"] == -302
    code, out, _ = order("risk-2", "--json")
    assert code == 1 and json.loads(out)["error"]["kind"] == "RiskRejected"  # refused: no order state


def test_a_filled_order_exits_0(order):
    code, out, err = order("ok-1", "--json")
    assert code == 0 and err == ""
    assert json.loads(out.splitlines()[-1])["final"]["state"] == "filled"


@pytest.mark.parametrize("price", ["0", "-5000", "abc"])
def test_a_limit_price_must_be_positive_and_nothing_is_sent(broker, capsys, price):
    before = len(broker.calls_of("order"))
    with pytest.raises(SystemExit) as exit_:
        main(["order", "buy", "005930", "1", "--price", price, "--account", "8000000011", "--router",
              broker.router, "--pub", broker.pub, "--timeout", "5"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--price" in err and "--market" in err, err
    assert len(broker.calls_of("order")) == before  # never sent, least of all as a market order


def test_market_is_explicit(broker, capsys):
    before = len(broker.calls_of("order"))
    code = main(["order", "sell", "005930", "1", "--market", "--account", "8000000011", "--client-order-id",
                 "mkt-1", "--router", broker.router, "--pub", broker.pub, "--timeout", "5", "--wait", "5"])
    assert code == 0, capsys.readouterr().err
    sent = broker.calls_of("order")[before:]
    assert [(a["hoga"], a["price"]) for a in sent] == [("03", 0)]
    with pytest.raises(SystemExit) as exit_:  # --price and --market together are a usage error
        main(["order", "buy", "005930", "1", "--market", "--price", "70000"])
    assert exit_.value.code == 2
