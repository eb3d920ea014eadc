"""End to end: connection loss (-106, failed idle probe), re-login with backoff, restore, pending work."""
from __future__ import annotations


def _states(client):
    return [p.body["state"] for p in client.pubs_on("sys.conn")]


def test_loss_relogin_and_restore_realtime(stack):
    c = stack.client()
    c.subscribe_pub("sys.conn")
    c.subscribe_pub("rt.trade.005930")
    c.pump(0.2)
    c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    stack.advance(60.0)
    assert c.wait_for(lambda: len(c.pubs_on("rt.trade.005930")) >= 1, 2.0)
    regs = stack.broker.core.adapter.calls["SetRealReg"]
    stack.sim.fail_next_login(-101)  # the first re-login fails too
    stack.sim.drop_connection()
    assert c.wait_for(lambda: "disconnected" in _states(c), 2.0)
    assert not stack.broker.core.connected
    final, _ = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    assert final.TYPE == "ERROR" and final.kind == "Unavailable"
    # backoff waits run on the (frozen) virtual clock: step it until the broker is back
    for _ in range(20):
        stack.advance(0.6)
        if "restored" in _states(c):
            break
    states = _states(c)
    assert "login_failed" in states and states[-1] == "restored", states
    assert states.index("disconnected") < states.index("reconnecting") < states.index("restored")
    assert stack.broker.core.adapter.calls["SetRealReg"] > regs  # registrations replayed
    before = len(c.pubs_on("rt.trade.005930"))
    stack.advance(60.0)
    assert c.wait_for(lambda: len(c.pubs_on("rt.trade.005930")) > before, 2.0), "realtime resumed"
    status = c.result("status")
    assert status["connected"] and status["supervision"]["losses"] == 1


def test_pending_tr_fails_with_unavailable_on_loss(stack):
    c = stack.client()
    stack.sim.delay_events(300)
    rid = c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    c.pump(0.05)
    stack.sim.drop_connection()
    msgs = c.wait_final(rid, 3.0)
    assert msgs[-1].TYPE == "ERROR" and msgs[-1].kind == "Unavailable"
    stack.sim.delay_events(0)


def test_failed_idle_probe_counts_as_loss(stack):
    c = stack.client()
    c.subscribe_pub("sys.conn")
    c.pump(0.2)
    adapter = stack.broker.core.adapter
    adapter.get_connect_state = lambda: 0  # the link died without telling anyone
    assert c.wait_for(lambda: "disconnected" in _states(c), 3.0)
    msg = [p.body for p in c.pubs_on("sys.conn") if p.body["state"] == "disconnected"][0]
    assert "probe" in msg["message"]


def test_silence_while_realtime_is_registered_counts_as_loss(qapp):
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, supervision={"probe_interval_s": 0.1, "silence_s": 0.4})
    try:
        c = stack.client()
        c.subscribe_pub("sys.conn")
        c.pump(0.2)
        assert not c.wait_for(lambda: "disconnected" in _states(c), 0.8), "no realtime: silence is normal"
        c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
        # the virtual clock is frozen: no event arrives at all while realtime is registered
        assert c.wait_for(lambda: "disconnected" in _states(c), 3.0)
        msg = [p.body for p in c.pubs_on("sys.conn") if p.body["state"] == "disconnected"][0]
        assert "no event" in msg["message"]
        assert stack.broker.core.supervisor.losses == 1 and not stack.broker.core.connected
    finally:
        stack.close()


def test_idle_probe_of_the_control_detects_a_silent_loss(qapp):
    """The control reports GetConnectState() == 0 without any OnEventConnect: the probe notices."""
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, spy=True, supervision={"probe_interval_s": 0.1})
    try:
        c = stack.client()
        c.subscribe_pub("sys.conn")
        c.pump(0.3)
        assert stack.spy.of("GetConnectState") and "disconnected" not in _states(c)
        stack.spy.overrides["GetConnectState"] = lambda signature, args: 0
        assert c.wait_for(lambda: "disconnected" in _states(c), 3.0)
        assert c.wait_for(lambda: "reconnecting" in _states(c), 1.0)
        final, _ = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
        assert final.TYPE == "ERROR" and final.kind == "Unavailable"
    finally:
        stack.close()


def test_queued_orders_fail_at_a_loss_and_are_never_sent_later(stack):
    c = stack.client()
    c.subscribe_pub("sys.conn")
    c.pump(0.2)
    calls = stack.broker.core.adapter.calls
    rids = [c.send("order", {"account": "8000000011", "side": "buy", "code": "005930", "qty": 1, "price": 0,
                             "hoga": "03", "client_order_id": f"q-{i}"}) for i in range(8)]
    # the clock is frozen: 5 orders use this second's budget, 3 wait for their pacing slot
    assert c.wait_for(lambda: calls["SendOrder"] == 5 and stack.broker.core.pacer.depth()["order"] == 3, 3.0)
    stack.sim.drop_connection()
    queued = rids[5:]
    assert c.wait_for(lambda: all(any(m.TYPE == "ERROR" for m in c.messages_for(r)) for r in queued), 3.0)
    for rid in queued:
        msgs = c.messages_for(rid)
        error = msgs[-1]
        assert error.TYPE == "ERROR" and error.kind == "Unavailable", msgs
        assert error.details["state"] == "failed" and error.details["order_no"] == ""
        events = [m.data["event"] for m in msgs if m.TYPE == "PART"]
        assert events == ["rejected"]
    # back online: nothing queued before the loss is ever sent
    for _ in range(20):
        stack.advance(0.6)
        if "restored" in _states(c):
            break
    assert "restored" in _states(c)
    for _ in range(5):
        stack.advance(1.0)
    assert calls["SendOrder"] == 5
    assert stack.broker.core.pacer.depth()["order"] == 0
    status = c.result("order_status", {"client_order_id": "q-7"})
    assert status["state"] == "failed" and "not sent" in status["message"]
    # a retry with the same id replays the failure and still sends nothing
    final, parts = c.call("order", {"account": "8000000011", "side": "buy", "code": "005930", "qty": 1,
                                    "price": 0, "hoga": "03", "client_order_id": "q-7"})
    assert final.TYPE == "END" and final.result["state"] == "failed"
    assert all(p.data.get("replayed") for p in parts[:-1])
    assert calls["SendOrder"] == 5
