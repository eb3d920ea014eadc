"""The simulated server's state outlives the REAL broker process: `kill -9`, restart on the same state dir,
and the account TRs answer the same; `koabus sim reset` clears it, and refuses while a broker runs."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from koabus.common.client import Client, ClientOptions
from koabus.services.sim.store import SimStore
from tests.common.client.live import REPO, BrokerProcess

OPTIONS = ClientOptions(timeout_s=20.0, connect_timeout_s=10.0)
CODE = "005930"


@pytest.fixture
def broker(tmp_path):
    process = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log")
    try:
        yield process
    finally:
        process.stop()
        process.remove_state()


def _account(client: Client, account: str) -> dict:
    """What opw00001, opw00018 and opt10075 say, without the fields that move with the market."""
    cash = client.deposit(account)
    _, holdings = client.balance(account)
    orders = client.open_orders(account)
    return {
        "opw00001": {k: cash[k] for k in ("예수금", "d+2추정예수금", "주문가능금액")},
        "opw00018": sorted(zip(holdings["종목번호"].astype(str), holdings["보유수량"], holdings["매입가"])),
        "opt10075": sorted(zip(orders["주문번호"].astype(str).str.zfill(7), orders["주문수량"], orders["주문가격"],
                               orders["미체결수량"])),
    }


def _until(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def _koabus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "koabus.common.cli.main", *args], cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)


def test_orders_fills_cash_and_positions_survive_kill_9_and_reset_clears_them(broker):
    broker.start()
    with Client(broker.router, broker.pub, options=OPTIONS) as client:
        account = client.GetAccountList()[0]
        fresh = _account(client, account)
        bought = client.buy(account, CODE, 3, market=True)
        assert bought.wait(15.0)["state"] == "filled"
        info = client.basic_info(CODE)
        low, high = info["하한가"], info["상한가"]  # at the lower limit a buy rests
        keep = client.order(account, "buy", CODE, 2, low)
        drop = client.order(account, "buy", CODE, 1, low)
        assert _until(lambda: keep.order_no and drop.order_no, 10.0)
        before = _account(client, account)
    assert before != fresh and [h[1] for h in before["opw00018"]] == [3]
    assert [o[0] for o in before["opt10075"]] == sorted([keep.order_no, drop.order_no])  # 미체결 only
    stored = SimStore(broker.sim_state_dir).orders()
    assert [(r.action, r.code, r.qty, r.order_no) for r in stored] == [
        ("new", CODE, 3, bought.order_no), ("new", CODE, 2, keep.order_no), ("new", CODE, 1, drop.order_no)]

    broker.kill9()
    broker.start()  # the same state dir
    with Client(broker.router, broker.pub, options=OPTIONS) as client:
        assert _account(client, account) == before
        running = _koabus("sim", "reset", "--state-dir", str(broker.sim_state_dir))
        assert running.returncode == 1, running
        assert running.stderr.strip().count("\n") == 0 and "stop the broker first: make stop" in running.stderr
        # The orders placed before the crash are live on the server: one is cancelled, one fills.
        cancelled = client.cancel_order(account, order_no=drop.order_no, qty=0, code=CODE, side="buy")
        assert cancelled.get("state") not in ("rejected", "failed"), cancelled
        modified = client.modify_order(account, order_no=keep.order_no, price=high, qty=2, code=CODE, side="buy")
        assert modified.get("state") not in ("rejected", "failed"), modified
        assert _until(lambda: [h[1] for h in _account(client, account)["opw00018"]] == [5], 20.0)
        after = _account(client, account)
    assert after["opt10075"] == [], after  # nothing left unfilled
    inputs = SimStore(broker.sim_state_dir).inputs()
    assert [(r.action, r.org_order_no, r.accepted) for r in inputs[3:]] == [
        ("cancel", drop.order_no, True), ("modify", keep.order_no, True)]

    broker.stop()
    reset = _koabus("sim", "reset", "--state-dir", str(broker.sim_state_dir))
    assert reset.returncode == 0 and "5 order inputs" in reset.stdout, reset
    broker.start()
    with Client(broker.router, broker.pub, options=OPTIONS) as client:
        assert _account(client, account) == fresh
