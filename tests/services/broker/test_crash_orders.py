"""A real broker process killed with `kill -9` (from outside, or by itself at a `faults.crash_at` point)
and started again on the same state directory: the journal is on by default, an order is never sent
twice, `order_status` answers as before, an order the broker never sent is sent by the retry, once.

Brokers are forked from a warm zygote (zygote.py) so a restart takes about a second.
"""
from __future__ import annotations

import pytest

from tests.services.broker.bus import BusClient
from tests.services.broker.zygote import ports, wait_ready

ACCOUNT = "8000000011"
SIM_START = "2025-06-02T09:05:00+09:00"


def _order(cid, **kw):
    args = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
            "client_order_id": cid}
    args.update(kw)
    return args


class Runs:
    """Broker processes one after the other on the same ports and state dir."""

    def __init__(self, app, zygote, state_dir):
        self.app = app
        self.zygote = zygote
        self.base = {**ports(), "state_dir": str(state_dir), "sim": {"speed": 10.0, "start": SIM_START}}
        self.child = None
        self.clients = []

    def start(self, **settings):
        self.child = self.zygote.spawn({**self.base, **settings})
        wait_ready(self.app, self.base["router"], 30, self.child)
        client = BusClient(self.app, self.base["router"], None, "crash-test")
        self.clients.append(client)
        return client

    def sends(self, client) -> int:
        """SendOrder calls this process made (from `status`, pushed every 250 ms)."""
        client.pump(0.4)
        return client.result("status")["counters"]["control_calls"].get("SendOrder", 0)

    def close(self):
        for c in self.clients:
            c.close()
        if self.child is not None:
            self.child.kill()


@pytest.fixture
def runs(qapp, broker_zygote, tmp_path):
    r = Runs(qapp, broker_zygote, tmp_path / "state")
    try:
        yield r
    finally:
        r.close()


def test_kill_9_after_a_fill_then_restart_answers_the_same_and_never_resends(runs):
    c = runs.start()
    final, _ = c.call("order", _order("kill-1", qty=2), timeout_s=10)
    assert final.TYPE == "END" and final.result["state"] == "filled", final
    before = c.result("order_status", {"client_order_id": "kill-1"})
    runs.child.kill()  # kill -9, no goodbye
    c = runs.start()
    assert c.result("order_status", {"client_order_id": "kill-1"}) == before
    final, parts = c.call("order", _order("kill-1", qty=2), timeout_s=10)
    assert final.TYPE == "END" and final.result["order_no"] == before["order_no"]
    assert [p.data["event"] for p in parts][:-1] == [e["event"] for e in before["events"]]
    assert runs.sends(c) == 0


def test_crash_before_the_journal_write_loses_nothing_a_retry_sends_once(runs):
    c = runs.start(faults={"crash_at": "before_journal"})
    rid = c.send("order", _order("bj-1"))
    assert runs.child.wait_gone(10), "the broker did not kill itself"
    assert c.messages_for(rid) == []
    c = runs.start()
    final, _ = c.call("order_status", {"client_order_id": "bj-1"})
    assert final.TYPE == "ERROR" and final.kind == "NotFound"
    final, _ = c.call("order", _order("bj-1"), timeout_s=10)
    assert final.TYPE == "END" and final.result["state"] == "filled", final
    assert runs.sends(c) == 1


def test_crash_after_the_journal_write_before_send_order_a_retry_sends_once(runs):
    c = runs.start(faults={"crash_at": "after_journal"})
    c.send("order", _order("aj-1"))
    assert runs.child.wait_gone(10), "the broker did not kill itself"
    c = runs.start()
    status = c.result("order_status", {"client_order_id": "aj-1"})
    assert status["state"] == "failed" and status["message"] == "not sent: the broker stopped before sending"
    final, _ = c.call("order", _order("aj-1"), timeout_s=10)
    assert final.TYPE == "END" and final.result["state"] == "filled", final
    again, _ = c.call("order", _order("aj-1"), timeout_s=10)
    assert again.TYPE == "END" and again.result["order_no"] == final.result["order_no"]
    assert runs.sends(c) == 1
