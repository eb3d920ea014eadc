"""TR and kwfid END results carry how long they waited for pacing and used the control; status totals."""
from __future__ import annotations

from tests.services.broker.conftest import start_stack

QUERY = {"code": "opt10001", "inputs": {"종목코드": "005930"}}


def test_a_tr_reports_its_control_time_and_no_wait_when_a_slot_is_free(stack):
    c = stack.client()
    final, _ = c.call("tr", QUERY)
    assert final.TYPE == "END", final
    assert final.result["paced_wait_s"] == 0.0
    assert 0.0 < final.result["control_s"] < 5.0
    final, parts = c.call("kwfid", {"codes": ["005930", "000660"]})
    assert final.TYPE == "END" and parts, final
    assert final.result["paced_wait_s"] >= 0.0 and final.result["control_s"] > 0.0


def test_a_tr_queued_behind_the_window_reports_its_wait(qapp):
    stack = start_stack(qapp, pacing={"tr_windows": [[5, 1.0]]})
    try:
        c = stack.client()
        rids = [c.send("tr", QUERY) for _ in range(6)]
        assert c.wait_for(lambda: all(c.messages_for(r) for r in rids[:5]), 5.0)
        assert not any(m.TYPE == "END" for m in c.messages_for(rids[5]))  # the clock is frozen: it waits
        stack.advance(1.1)
        ends = [c.wait_final(r, 5.0)[-1] for r in rids]
        assert all(e.TYPE == "END" for e in ends), ends
        waits = [e.result["paced_wait_s"] for e in ends]
        assert waits[:5] == [0.0] * 5
        assert 1.0 <= waits[5] <= 1.1 + 1e-6, waits  # one window (plus its margin), in clock seconds
        stack.broker.core.push_state()  # status is the Qt side's last pushed state
        timing = c.result("status")["timing"]
        assert abs(timing["tr_paced_wait_s"] - sum(waits)) < 1e-3
        assert timing["tr_control_s"] >= sum(e.result["control_s"] for e in ends) - 1e-3
        assert timing["control_s"] > 0 and timing["control_call_s"]["CommRqData"] > 0
    finally:
        stack.close()
