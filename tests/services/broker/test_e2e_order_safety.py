"""End to end (in-process broker, real sockets, simulated control): the order journal is always on and
written ahead, a restart on the same state restores every order and its history, reconciliation
with the account settles what the journal left open, in-doubt orders are refused with OrderInDoubt,
a journal that cannot be written is a typed JournalUnavailable and nothing is sent.

A restart here stops the first broker and starts a second one on the same state directory; for the
server side to outlive the broker it keeps the same simulated control (the subprocess tests with a
real `kill -9` are in test_crash_orders.py and test_chaos_orders.py).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.services.broker.conftest import SESSION_START, Stack, make_broker, start_stack

ACCOUNT = "8000000011"
DAY = SESSION_START.strftime("%Y%m%d")


def _order(cid, **kw):
    args = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03",
            "client_order_id": cid}
    args.update(kw)
    return args


def _records(state_dir, key=None):
    path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in records if key is None or r["key"] == key]


def _accepted(client, rid):
    """The `accepted` part of an order stream (None before it arrived)."""
    parts = [m.data for m in client.messages_for(rid) if m.TYPE == "PART" and m.data["event"] == "accepted"]
    return parts[0] if parts else None


def _low_limit(client):
    """A limit price on the tick grid well below the market (inside the daily limit): stays open."""
    last = int(client.result("call", {"method": "GetMasterLastPrice", "args": ["005930"]}))
    return (last * 8 // 10 // 100) * 100


def _stop(stack: Stack) -> None:
    """Stop `stack`'s broker; its login ends with it (the simulated server lives on)."""
    for c in stack.clients:
        c.close()
    stack.broker.stop()
    stack.control.sim.drop_connection()
    deadline = time.monotonic() + 2.0
    while stack.control.sim.pending_events and time.monotonic() < deadline:
        stack.app.processEvents()


def _start_again(stack: Stack, **overrides) -> Stack:
    """Another broker on the control and state dir of the stopped `stack`."""
    broker = make_broker(stack.control, stack.control.sim.clock, state_dir=stack.broker.settings.state_dir,
                         **overrides)
    broker.start()
    again = Stack(stack.app, stack.control, broker)
    probe = again.client("probe")
    assert probe.wait_for(lambda: broker.core.connected, 5.0), "the second broker did not log in"
    return again


def _restart(stack: Stack, **overrides) -> Stack:
    _stop(stack)
    return _start_again(stack, **overrides)


def test_journal_is_on_by_default_and_written_before_send_order(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    stack = start_stack(qapp, spy=True, state_dir=state_dir)
    try:
        seen_at_send = []
        stack.spy.before["SendOrder"] = lambda sig, args: seen_at_send.append(
            [r["rec"] for r in _records(state_dir, "wa-1")])
        final, parts = stack.client().call("order", _order("wa-1"), timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled", final
        assert seen_at_send == [["request", "sending"]]  # both on disk when SendOrder ran
        events = [r["event"] for r in _records(state_dir, "wa-1") if r["rec"] == "event"]
        assert [e["event"] for e in events] == [p.data["event"] for p in parts if p.data["event"] != "done"]
        fill = [e for e in events if e["event"] == "fill"][0]
        assert fill["fill_qty"] == 1 and fill["fill_price"] > 0 and fill["filled_qty"] == 1
        # an order without a client id gets a journal key and is journaled and queryable too
        final, _ = stack.client().call("order", _order(""), timeout_s=8)
        key = final.result["journal_key"]
        assert key.startswith("auto-") and final.result["client_order_id"] == ""
        assert [r["rec"] for r in _records(state_dir, key)][:2] == ["request", "sending"]
        status = stack.client().result("order_status", {"client_order_id": key})
        assert status["state"] == "filled" and status["order_no"] == final.result["order_no"]
    finally:
        stack.close()


def test_restart_restores_history_and_never_resends(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    first = start_stack(qapp, state_dir=state_dir)
    try:
        c = first.client()
        final, parts = c.call("order", _order("keep-1", qty=3), timeout_s=8)
        assert final.TYPE == "END" and final.result["filled_qty"] == 3
        before = c.result("order_status", {"client_order_id": "keep-1"})
    finally:
        first.close()
    second = start_stack(qapp, state_dir=state_dir)  # a fresh simulated server: nothing to reconcile
    try:
        c = second.client()
        after = c.result("order_status", {"client_order_id": "keep-1"})
        assert after == before  # state, quantities and the whole event history
        final, replay = c.call("order", _order("keep-1", qty=3), timeout_s=5)
        assert final.TYPE == "END" and final.result["filled_qty"] == 3
        assert [p.data["event"] for p in replay] == [e["event"] for e in before["events"]] + ["done"]
        assert all(p.data.get("replayed") for p in replay[:-1])
        assert second.broker.core.adapter.calls["SendOrder"] == 0
        final, _ = c.call("order", _order("keep-1", qty=4))
        assert final.TYPE == "ERROR" and final.kind == "DuplicateOrder"
    finally:
        second.close()


def test_request_without_sending_record_fails_as_not_sent_and_a_retry_sends_once(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
    path.parent.mkdir(parents=True)
    request = {"account": ACCOUNT, "code": "005930", "qty": 2, "side": "buy", "price": 0, "hoga": "03",
               "kind": "stock", "action": "new", "orig_order_no": "", "client_order_id": "half-1",
               "credit_gb": "", "loan_date": ""}
    # what a broker killed right after the write-ahead `request` record leaves behind (torn tail too)
    path.write_text(json.dumps({"rec": "request", "key": "half-1", "t": SESSION_START.timestamp(),
                                "request": request}) + "\n" + '{"rec": "sen', encoding="utf-8")
    stack = start_stack(qapp, state_dir=state_dir)
    try:
        c = stack.client()
        status = c.result("order_status", {"client_order_id": "half-1"})
        assert status["state"] == "failed" and "stopped before sending" in status["message"]
        assert stack.broker.core.adapter.calls["SendOrder"] == 0
        final, parts = c.call("order", _order("half-1", qty=2), timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled", final
        again, _ = c.call("order", _order("half-1", qty=2), timeout_s=5)
        assert again.TYPE == "END" and again.result["order_no"] == final.result["order_no"]
        assert stack.broker.core.adapter.calls["SendOrder"] == 1  # exactly once
    finally:
        stack.close()


def test_open_order_is_reconciled_after_a_restart_and_chejan_updates_it(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    first = start_stack(qapp, state_dir=state_dir)
    c = first.client()
    price = _low_limit(c)
    rid = c.send("order", _order("open-1", hoga="00", price=price, qty=3))
    assert c.wait_for(lambda: "accepted" in [m.data["event"] for m in c.messages_for(rid)
                                             if m.TYPE == "PART"], 5)
    order_no = c.result("order_status", {"client_order_id": "open-1"})["order_no"]
    second = _restart(first)
    try:
        c = second.client()
        status = c.result("order_status", {"client_order_id": "open-1"})
        assert status["state"] == "accepted" and status["order_no"] == order_no
        assert status["events"][-1]["event"] == "accepted"  # confirmed: nothing new to record
        assert second.broker.core.state()["orders"]["reconcile"]["last"]["matched"] == 1
        # chejan for the restored order: the cancel confirms and the original is cancelled
        final, _ = c.call("cancel_order", {"account": ACCOUNT, "client_order_id": "open-1",
                                           "client_order_id_new": "open-1-x"}, timeout_s=8)
        assert final.TYPE == "END", final
        assert c.wait_for(lambda: c.result("order_status", {"client_order_id": "open-1"})["state"]
                          == "cancelled", 5)
        assert second.broker.core.adapter.calls["SendOrder"] == 1  # the cancel only
    finally:
        second.close()


def test_order_sent_without_acknowledgement_is_matched_by_content_and_time(qapp, tmp_path):
    """The journal of a broker killed right after SendOrder: `sending` but no order number."""
    state_dir = str(tmp_path / "state")
    first = start_stack(qapp, state_dir=state_dir)
    c = first.client()
    price = _low_limit(c)
    # an identical order sent earlier by someone else: sent before ours, it must not be taken for it
    rid = c.send("order", _order("", hoga="00", price=price, qty=2))
    assert c.wait_for(lambda: _accepted(c, rid), 5)
    other = _accepted(c, rid)
    first.advance(2)
    rid = c.send("order", _order("ack-1", hoga="00", price=price, qty=2))
    assert c.wait_for(lambda: _accepted(c, rid), 5)
    mine = c.result("order_status", {"client_order_id": "ack-1"})["order_no"]
    _stop(first)
    records = _records(state_dir)
    cut = max(i for i, r in enumerate(records) if r["key"] == "ack-1" and r["rec"] == "sending")
    kept = [r for i, r in enumerate(records) if r["key"] != "ack-1" or i <= cut]
    kept = [r for r in kept if r["key"] != other["journal_key"]]  # "someone else's" order
    path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    second = _start_again(first)
    try:
        status = second.client().result("order_status", {"client_order_id": "ack-1"})
        assert status["order_no"] == mine != other["order_no"]
        assert status["state"] == "accepted"
        assert [e["event"] for e in status["events"]][-2:] == ["order_no", "reconciled"]
    finally:
        second.close()


def test_sent_order_missing_on_the_server_is_in_doubt_and_never_resent(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
    path.parent.mkdir(parents=True)
    request = {"account": ACCOUNT, "code": "005930", "qty": 5, "side": "buy", "price": 0, "hoga": "03",
               "kind": "stock", "action": "new", "orig_order_no": "", "client_order_id": "doubt-1",
               "credit_gb": "", "loan_date": ""}
    t = SESSION_START.timestamp() - 60
    path.write_text(json.dumps({"rec": "request", "key": "doubt-1", "t": t, "request": request}) + "\n"
                    + json.dumps({"rec": "sending", "key": "doubt-1", "t": t, "screen": "0001",
                                  "rqname": "ord1"}) + "\n", encoding="utf-8")
    stack = start_stack(qapp, state_dir=state_dir)
    try:
        c = stack.client()
        status = c.result("order_status", {"client_order_id": "doubt-1"})
        assert status["state"] == "in_doubt" and status["events"][-1]["event"] == "in_doubt"
        final, _ = c.call("order", _order("doubt-1", qty=5), timeout_s=5)
        assert final.TYPE == "ERROR" and final.kind == "OrderInDoubt", final
        assert final.details["request"]["qty"] == 5
        assert [r["rec"] for r in final.details["records"]][:2] == ["request", "sending"]
        assert final.details["sending_t"] == t
        assert stack.broker.core.adapter.calls["SendOrder"] == 0
        assert stack.broker.core.state()["orders"]["in_doubt"] == 1
    finally:
        stack.close()


def test_unwritable_journal_is_journal_unavailable_and_nothing_is_sent(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    stack = start_stack(qapp, state_dir=state_dir)
    try:
        c = stack.client()
        final, _ = c.call("order", _order("ok-1"), timeout_s=8)
        assert final.TYPE == "END"
        path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
        saved = path.read_bytes()
        os.remove(path)
        os.mkdir(path)  # opening the journal now fails, for root too
        first, _ = c.call("order", _order("bad-1"), timeout_s=5)
        retry, _ = c.call("order", _order("bad-1"), timeout_s=5)
        for answer in (first, retry):
            assert answer.TYPE == "ERROR" and answer.kind == "JournalUnavailable", answer
        assert stack.broker.core.adapter.calls["SendOrder"] == 1
        assert c.result("order_status", {"client_order_id": "ok-1"})["state"] == "filled"
        os.rmdir(path)
        path.write_bytes(saved)
        final, _ = c.call("order", _order("bad-1"), timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled"
        assert stack.broker.core.adapter.calls["SendOrder"] == 2
    finally:
        stack.close()


def test_order_ops_wait_for_reconciliation_and_time_out_as_unavailable(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    first = start_stack(qapp, state_dir=state_dir)
    c = first.client()
    price = _low_limit(c)
    rid = c.send("order", _order("slow-1", hoga="00", price=price, qty=1))
    assert c.wait_for(lambda: "accepted" in [m.data["event"] for m in c.messages_for(rid)
                                             if m.TYPE == "PART"], 5)
    _stop(first)
    # the account query is refused for overload: the broker backs off 17 s on its (frozen) clock
    first.control.sim.overflow_next(1)
    second = _start_again(first, reconcile_timeout_s=0.5)
    try:
        c = second.client()
        assert second.broker.core.orders.reconciling
        started = time.monotonic()
        rid = c.send("order", _order("new-1"))
        final, _ = c.call("order_status", {"client_order_id": "slow-1"}, timeout_s=5)
        assert final.TYPE == "ERROR" and final.kind == "Unavailable" and "reconciling" in final.message
        assert time.monotonic() - started < 3.0
        held = c.wait_final(rid, 3)[-1]
        assert held.TYPE == "ERROR" and held.kind == "Unavailable" and "reconciling" in held.message
        assert second.broker.core.adapter.calls["SendOrder"] == 0
        second.advance(20)
        assert c.wait_for(lambda: not second.broker.core.orders.reconciling, 5)
        assert c.result("order_status", {"client_order_id": "slow-1"})["state"] == "accepted"
    finally:
        second.close()


def test_journal_failing_before_send_order_fails_the_queued_order_and_a_retry_sends_it_once(qapp, tmp_path):
    state_dir = str(tmp_path / "state")
    stack = start_stack(qapp, state_dir=state_dir)
    try:
        c = stack.client()
        calls = stack.broker.core.adapter.calls
        rids = [c.send("order", _order(f"q-{i}")) for i in range(6)]
        # the clock is frozen: 5 orders use this second's budget; the 6th is journaled and waits
        assert c.wait_for(lambda: calls["SendOrder"] == 5 and stack.broker.core.pacer.depth()["order"] == 1, 5)
        path = Path(state_dir) / "orders" / f"{DAY}.jsonl"
        saved = path.read_bytes()
        os.remove(path)
        os.mkdir(path)
        stack.advance(1.1)  # its slot comes: the `sending` record cannot be written
        msgs = c.wait_final(rids[5], 5)
        assert msgs[-1].TYPE == "ERROR" and msgs[-1].kind == "JournalUnavailable", msgs
        assert [m.data["event"] for m in msgs if m.TYPE == "PART"] == ["rejected"]
        assert calls["SendOrder"] == 5 and stack.broker.core.state()["counters"]["journal_errors"] >= 1
        os.rmdir(path)
        path.write_bytes(saved)
        final, _ = c.call("order", _order("q-5"), timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled", final
        assert calls["SendOrder"] == 6
    finally:
        stack.close()


def test_orders_queued_at_shutdown_are_sent_by_a_retry_after_the_restart(qapp, tmp_path):
    first = start_stack(qapp, state_dir=str(tmp_path / "state"))
    c = first.client()
    calls = first.broker.core.adapter.calls
    rids = [c.send("order", _order(f"s-{i}")) for i in range(6)]
    assert c.wait_for(lambda: calls["SendOrder"] == 5 and first.broker.core.pacer.depth()["order"] == 1, 5)
    first.broker.stop()  # ordered shutdown: the queued order fails as not sent
    msgs = c.wait_final(rids[5], 5)
    assert msgs[-1].TYPE == "ERROR" and msgs[-1].kind == "Unavailable" and "shutting down" in msgs[-1].message
    second = _restart(first)
    try:
        c = second.client()
        second.advance(1.1)  # the simulated server's 5 orders/s of the frozen second are used up
        final, _ = c.call("order", _order("s-5"), timeout_s=8)
        assert final.TYPE == "END" and final.result["state"] == "filled", final
        numbers = set()
        for i in range(5):  # sent before the shutdown, settled by reconciliation: replayed, never re-sent
            final, _ = c.call("order", _order(f"s-{i}"), timeout_s=8)
            assert final.TYPE == "END" and final.result["state"] == "filled", final
            numbers.add(final.result["order_no"])
        assert len(numbers) == 5
        assert second.broker.core.adapter.calls["SendOrder"] == 1
    finally:
        second.close()
