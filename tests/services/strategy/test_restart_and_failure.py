"""Strategy processes killed, restarted and failing on a replayed day: no order sent twice, an unsent
journaled order never sent late, a raising strategy's resting order cancelled and the error on the bus,
limits refusing orders before they reach the broker."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.services.strategy.conftest import ReplayBroker, StrategyProcess

STRATEGIES = Path(__file__).with_name("strategies.py")
OTHER_ACCOUNT = "8000000031"  # the simulator's second account: kept apart from the restart test's orders


@pytest.fixture(scope="module")
def broker(qapp, lake, tmp_path_factory):
    # 10 s bars at speed 10: a bar a wall second, the recorded ten minutes last the module ~60 s
    b = ReplayBroker(qapp, lake, tmp_path_factory.mktemp("broker"), speed=10)
    try:
        yield b
    finally:
        b.close()


def _start(qapp, broker, tmp_path, cls, **settings):
    return StrategyProcess(qapp, broker, tmp_path, STRATEGIES, {"class_name": cls, **settings})


def _keys(journal, rec):
    return Counter(r["key"] for r in journal if r["rec"] == rec)


def test_a_killed_strategy_restarts_without_doubling_an_order(qapp, broker, tmp_path):
    settings = {"name": "buyonce", "account": "8000000011"}
    runs = []
    try:
        # 1: killed (SIGKILL) with its first order's id on disk but not sent
        runs.append(_start(qapp, broker, tmp_path, "BuyOnce", faults={"crash_at": "after_journal"}, **settings))
        assert runs[-1].wait_exit(20.0) == -9, runs[-1].log()[-2000:]
        # 2: the id is not sent late (abandoned); a new one is journaled, taken by the broker, then killed
        runs.append(_start(qapp, broker, tmp_path, "BuyOnce", faults={"crash_at": "after_send"}, **settings))
        assert runs[-1].wait_exit(20.0) == -9, runs[-1].log()[-2000:]
        # 3: re-attaches to the order the broker has, sees the position, buys nothing more
        runs.append(_start(qapp, broker, tmp_path, "BuyOnce", **settings))
        third = runs[-1]
        assert third.wait(lambda: any(b.get("orders", {}).get("bars", 0) >= 2 for b in third.beats()), 20.0), third.log()[-2000:]
    finally:
        for run in runs:
            run.close()
    assert runs[-1].proc.returncode == 0

    ours = runs[0].journal()
    orders = [r["id"] for r in ours if r["rec"] == "order"]
    assert orders == ["buyonce-20240306-000001", "buyonce-20240306-000002"], ours
    assert [r["id"] for r in ours if r["rec"] == "abandoned"] == ["buyonce-20240306-000001"]
    journal = [r for r in broker.journal() if r["key"].startswith("buyonce-")]
    assert _keys(journal, "request") == {"buyonce-20240306-000002": 1}  # each id once; id 1 never sent
    assert _keys(journal, "sending") == {"buyonce-20240306-000002": 1}
    fills = [r["event"] for r in journal if r["rec"] == "event" and r["event"].get("event") == "fill"]
    assert sum(f["fill_qty"] for f in fills) == 10
    last = third.beats()[-1]
    assert last["positions"]["005930"]["qty"] == 10  # reconciled from the account TRs
    # it sent nothing itself: it followed the order of run 2 (the abandoned id is settled, not looked up)
    assert last["orders"]["sent"] == 0 and last["orders"]["known"] == 1 and last["orders"]["open"] == 0
    assert broker.order_status("buyonce-20240306-000002")["state"] == "filled"


def test_a_restarted_strategy_follows_its_open_order_instead_of_sending_again(qapp, broker, tmp_path):
    settings = {"name": "resting", "account": OTHER_ACCOUNT}
    runs = [_start(qapp, broker, tmp_path, "RestingBuy", faults={"crash_at": "after_send"}, **settings)]
    try:
        assert runs[0].wait_exit(20.0) == -9, runs[0].log()[-2000:]
        runs.append(_start(qapp, broker, tmp_path, "RestingBuy", **settings))
        second = runs[1]
        assert second.wait(lambda: any(b.get("orders", {}).get("bars", 0) >= 2 for b in second.beats()), 20.0), second.log()[-2000:]
    finally:
        for run in runs:
            run.close()
    assert runs[1].proc.returncode == 0
    order_id = "resting-20240306-000001"
    last = runs[1].beats()[-1]
    assert last["orders"]["sent"] == 0 and last["orders"]["known"] == 1 and last["orders"]["open"] == 1
    journal = [r for r in broker.journal() if r["key"].startswith("resting-")]
    assert _keys(journal, "request") == {order_id: 1} and _keys(journal, "sending") == {order_id: 1}
    assert f"re-attaching to order {order_id}" in runs[1].log()
    assert broker.order_status(order_id)["state"] == "accepted"  # still resting: the stop leaves it working
    final, _ = broker.client.call("cancel_order", {"account": OTHER_ACCOUNT, "client_order_id": order_id, "qty": 0})
    assert final.TYPE == "END" and final.result["state"] == "confirmed", final


def test_a_strategy_that_raises_cancels_its_open_orders_and_reports(qapp, broker, tmp_path):
    run = _start(qapp, broker, tmp_path, "RaiseAfterRestingOrder", name="raiser", account=OTHER_ACCOUNT,
                 on_error="cancel")
    try:
        code = run.wait_exit(25.0)
    finally:
        run.close()
    assert code == 1, run.log()[-3000:]
    [error] = run.events("error")
    assert error["hook"] == "on_bar" and error["error"] == "RuntimeError" and "boom" in error["message"]
    [stopped] = run.events("stopped")
    [order] = run.events("order")
    assert stopped["state"] == "failed" and stopped["open_orders"] == 1 and stopped["cancelled"] == 1
    assert stopped["left_open"] == []
    assert run.beats()[-1]["state"] == "failed"
    status = broker.order_status(order["order_id"])
    assert status["state"] == "cancelled" and status["filled_qty"] == 0, status


def test_limits_refuse_before_the_broker_sees_the_order(qapp, broker, tmp_path):
    run = _start(qapp, broker, tmp_path, "OverLimit", name="overlimit", account=OTHER_ACCOUNT,
                 limits={"max_position": 50})
    try:
        assert run.wait(lambda: len(run.events("refused")) >= 2, 20.0), run.log()[-2000:]
    finally:
        run.close()
    assert run.proc.returncode == 0
    refused = run.events("refused")
    assert [(r["limit"], r["side"], r["qty"]) for r in refused] == [("max_position", "buy", 100),
                                                                    ("no_position", "sell", 1)]
    assert not run.events("order")
    assert not [r for r in broker.journal() if r["key"].startswith("overlimit-")]


def test_a_broker_on_another_day_than_the_replay_date_is_refused(qapp, broker, tmp_path):
    run = _start(qapp, broker, tmp_path, "BuyOnce", name="wrongday", replay_date="2024-03-07")
    try:
        code = run.wait_exit(20.0)
    finally:
        run.close()
    assert code == 2, run.log()[-2000:]
    assert "the broker's clock is on 2024-03-06, not the replay date 2024-03-07" in run.log()
    assert run.beats()[-1]["state"] == "not_started" and not run.events("order")
