"""Chaos: 20 orders, each followed by a real `kill -9` of the broker at a random point, a restart on the
same state directory and a client retry with the same id. Proves exactly once, whatever crashes:
0 duplicates (SendOrders reaching the simulated exchange per order fingerprint, read from the
simulated server's own store), 0 lost orders, every id resolved or answered `OrderInDoubt`.

Crash points, each used four times in a shuffled order: the broker kills itself (`faults.crash_at`)
before the journal write, after it (before SendOrder), right after SendOrder, after the order number
is journaled; or the test sends SIGKILL after a random delay. The simulated server (accounts, orders,
fills) lives in `state_dir/sim` and outlives the broker, as Kiwoom's does. Brokers are forked from a
warm zygote (zygote.py) so the whole run takes well under 90 s.
"""
from __future__ import annotations

import random
import time
from typing import Any, Dict, List

import pytest

from koabus.metadata.ticks import grid_around, tick_size
from tests.services.broker.bus import BusClient
from tests.services.broker.zygote import log_tail, ports, wait_ready

ACCOUNT = "8000000011"
CODE = "005930"
SIM_START = "2025-06-02T09:05:00+09:00"
ITERATIONS = 20
POINTS = ("before_journal", "after_journal", "after_send", "after_ack", "external")
FINAL_OR_KNOWN = ("accepted", "partially_filled", "filled", "cancelled", "modified", "confirmed")


class Chaos:
    def __init__(self, app, zygote, tmp_path, seed: int):
        self.app = app
        self.zygote = zygote
        self.rng = random.Random(seed)
        self.state_dir = tmp_path / "state"
        self.base = {**ports(), "state_dir": str(self.state_dir), "sim": {"speed": 10.0, "start": SIM_START}}
        self.child = None
        self.client = None
        self.notes: List[str] = [f"seed {seed}"]

    def start(self, faults: Dict[str, Any]) -> BusClient:
        self.child = self.zygote.spawn({**self.base, "faults": faults})
        wait_ready(self.app, self.base["router"], 30, self.child)
        if self.client is not None:
            self.client.close()
        self.client = BusClient(self.app, self.base["router"], None, "chaos")
        return self.client

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.child is not None:
            self.child.kill()

    def retry(self, order: Dict[str, Any]) -> Dict[str, Any]:
        """Send the order again with its id; wait for the broker to settle what it knows of it."""
        c = self.client
        rid = c.send("order", order)
        assert c.wait_for(lambda: bool(c.messages_for(rid)), 15), f"no answer to the retry of {order}"
        first = c.messages_for(rid)[0]
        if first.TYPE == "ERROR":
            assert first.kind == "OrderInDoubt", f"retry of {order['client_order_id']}: {first}"
            return {"outcome": "in_doubt", "details": first.details}
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = c.result("order_status", {"client_order_id": order["client_order_id"]})
            if status["order_no"] or status["state"] in ("failed", "rejected", "in_doubt"):
                return {"outcome": "known", "status": status}
            c.pump(0.05)
        raise AssertionError(f"{order['client_order_id']} never got an order number: {status}")


@pytest.fixture
def chaos(qapp, broker_zygote, tmp_path):
    c = Chaos(qapp, broker_zygote, tmp_path, seed=random.SystemRandom().randrange(1 << 30))
    try:
        yield c
    finally:
        c.close()


def _current_price(client) -> int:
    final, parts = client.call("tr", {"code": "opt10001", "inputs": {"종목코드": CODE}}, timeout_s=15)
    assert final.TYPE == "END", final
    return abs(int(parts[0].data["single"]["현재가"]))


def _exchange_fills(client) -> Dict[str, int]:
    """The account's filled quantity per order number today (opw00007, the simulated server's own books)."""
    inputs = {"계좌번호": ACCOUNT, "비밀번호": "", "비밀번호입력매체구분": "00", "조회구분": "1", "매도수구분": "0",
              "종목코드": "", "주문일자": "", "시작주문번호": ""}
    final, parts = client.call("tr", {"code": "opw00007", "inputs": inputs, "all_pages": True}, timeout_s=30)
    assert final.TYPE == "END", final
    return {row["주문번호"]: int(row["체결수량"]) for part in parts for row in part.data["multi"]}


def test_orders_exactly_once_across_kill_9_at_random_points(chaos):
    points = list(POINTS) * (ITERATIONS // len(POINTS))
    chaos.rng.shuffle(points)
    c = chaos.start({})
    price = grid_around(_current_price(c))[1]
    orders: List[Dict[str, Any]] = []
    outcomes: Dict[str, Dict[str, Any]] = {}
    for i, point in enumerate(points):
        # a distinct fingerprint per iteration (qty); prices a tick or two around the market: some fill
        limit = max(tick_size(price), price + (i % 3 - 1) * tick_size(price))
        order = {"account": ACCOUNT, "side": "buy", "code": CODE, "qty": i + 1, "price": limit, "hoga": "00",
                 "client_order_id": f"chaos-{i}"}
        orders.append(order)
        faults = {} if point == "external" else {"crash_at": point, "crash_on_order": 2 if i else 1}
        if i:
            c = chaos.start(faults)
            outcomes[orders[i - 1]["client_order_id"]] = chaos.retry(orders[i - 1])
        elif faults:
            chaos.child.kill()  # the first broker had no faults: restart it with them
            c = chaos.start(faults)
        rid = c.send("order", order)
        if point == "external":
            c.pump(chaos.rng.uniform(0.0, 0.08))
            chaos.child.kill()
        else:
            assert chaos.child.wait_gone(10), (f"iteration {i}: the broker did not crash at {point}: "
                                               f"{c.messages_for(rid)}\n{log_tail(chaos.zygote.log_path)}")
        chaos.notes.append(f"{i}:{point}")
    c = chaos.start({})
    outcomes[orders[-1]["client_order_id"]] = chaos.retry(orders[-1])
    statuses = {o["client_order_id"]: c.result("order_status", {"client_order_id": o["client_order_id"]})
                for o in orders}
    # fills go on meanwhile: the broker's count lies between two reads of the account, once its chejan caught up
    before = _exchange_fills(c)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        statuses = {cid: c.result("order_status", {"client_order_id": cid}) for cid in statuses}
        if all(s["filled_qty"] >= before.get(s["order_no"], 0) for s in statuses.values()):
            break
        c.pump(0.1)
    after = _exchange_fills(c)
    chaos.child.kill()

    from koabus.services.sim.store import SimStore

    inputs = SimStore(chaos.state_dir / "sim").inputs()
    context = f"{' '.join(chaos.notes)}\n{log_tail(chaos.zygote.log_path, 2000)}"
    for order in orders:
        cid, qty = order["client_order_id"], order["qty"]
        sent = [r for r in inputs if r.code == CODE and r.action == "new" and r.side == "buy" and r.qty == qty
                and r.price == order["price"]]
        assert len(sent) <= 1, f"{cid} reached the exchange {len(sent)} times\n{context}"
        outcome, status = outcomes[cid], statuses[cid]
        if outcome["outcome"] == "in_doubt":
            assert status["state"] == "in_doubt", f"{cid}: {status}\n{context}"
            continue
        assert len(sent) == 1 and sent[0].accepted, f"{cid} lost: {status}\n{context}"
        assert status["order_no"] == sent[0].order_no, f"{cid}: {status} vs {sent[0]}\n{context}"
        assert status["state"] in FINAL_OR_KNOWN, f"{cid} unresolved: {status}\n{context}"
        assert status["filled_qty"] <= qty
        number = status["order_no"]
        assert before.get(number, 0) <= status["filled_qty"] <= after.get(number, 0), (
            f"{cid}: the broker counts {status['filled_qty']} filled, the exchange {before.get(number)} then "
            f"{after.get(number)}: {status}\n{context}")
        if status["state"] == "filled":
            assert status["filled_qty"] == qty, f"{cid}: {status}\n{context}"
