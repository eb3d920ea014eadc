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
