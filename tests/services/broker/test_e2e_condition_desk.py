"""End to end: condition search robustness — the 60 s rule at the control, budget refusals retried,
load timeouts, CANCEL of a queued search, and a realtime watch restored after a re-login."""
from __future__ import annotations

from tests.services.broker.conftest import start_stack


def _stack(qapp, **overrides):
    """These tests step virtual minutes while the client pumps only between steps: on a loaded machine that
    can outlast the default 10 s lease (wall time), and the broker would drop the client as gone."""
    return start_stack(qapp, spy=True, client_lease_ms=120_000, **overrides)


def _conditions(c):
    assert c.result("condition_load")["loaded"] is True
    return c.result("condition_list")


def _final(c, rid):
    return [m for m in c.messages_for(rid) if m.TYPE in ("END", "REPLY", "ERROR")]


def _step_until(stack, c, predicate, step_s=10.0, rounds=30):
    for _ in range(rounds):
        if c.wait_for(predicate, 0.1):
            return True
        stack.advance(step_s)
    return c.wait_for(predicate, 1.0)


def test_repeat_is_spaced_from_when_the_control_ran_it(qapp):
    """The first SendCondition runs 2 s after the pacer released it (a busy Qt thread): the repeat
    must still reach the control >= 60 s after that, or the control refuses it (-13)."""
    stack = _stack(qapp)
    try:
        c = stack.client()
        first = _conditions(c)[0]
        late = {"done": False}

        def run_late(signature, args):
            if not late["done"]:
                late["done"] = True
                stack.sim.clock.advance(2.0)

        stack.spy.before["SendCondition"] = run_late
        assert isinstance(c.result("condition_search", {"name": first["name"], "index": first["index"]})["codes"],
                          list)
        rid = c.send("condition_search", {"name": first["name"], "index": first["index"]})
        c.pump(0.1)
        for _ in range(10):  # step the clock exactly to each moment the pacer releases something
            if c.wait_for(lambda: _final(c, rid), 0.2):
                break
            wait = stack.broker.core.pacer.next_wakeup_s()
            if wait is not None:
                stack.advance(wait)
        assert _final(c, rid) and _final(c, rid)[0].TYPE == "REPLY", _final(c, rid)
        calls = stack.spy.of("SendCondition")
        assert [x.result for x in calls] == [1, 1]
        assert calls[1].at - calls[0].at >= 60.0
    finally:
        stack.close()


def test_refusal_by_the_shared_budget_is_retried_not_failed(qapp):
    stack = _stack(qapp, pacing={"tr_backoff_s": 2.0})
    try:
        c = stack.client()
        first = _conditions(c)[0]
        stack.sim.overflow_next(1)  # the shared query budget refuses: SendCondition returns 0
        rid = c.send("condition_search", {"name": first["name"], "index": first["index"]})
        assert _step_until(stack, c, lambda: _final(c, rid), step_s=0.5, rounds=20)
        final = _final(c, rid)[0]
        assert final.TYPE == "REPLY", final
        assert [x.result for x in stack.spy.of("SendCondition")] == [0, 1]
        assert stack.broker.core.counters["overload.0"] == 1
    finally:
        stack.close()


def test_refusals_are_retried_a_bounded_number_of_times(qapp):
    stack = _stack(qapp, pacing={"tr_backoff_s": 1.0})
    try:
        c = stack.client()
        first = _conditions(c)[0]
        stack.spy.overrides["SendCondition"] = lambda signature, args: 0
        rid = c.send("condition_search", {"name": first["name"], "index": first["index"]})
        assert _step_until(stack, c, lambda: _final(c, rid), step_s=0.5, rounds=40)
        final = _final(c, rid)[0]
        assert final.TYPE == "ERROR" and final.kind == "KiwoomError" and final.code == -200, final
        assert len(stack.spy.of("SendCondition")) == 4
        assert stack.broker.core.pacer.depth()["quote"] == 0
    finally:
        stack.close()


def test_a_missing_condition_ver_event_fails_with_timeout(qapp):
    stack = _stack(qapp)
    try:
        c = stack.client()
        stack.broker.core.conditions.load_timeout_s = 0.3
        stack.spy.overrides["GetConditionLoad"] = lambda signature, args: 1  # accepted, never answered
        final, _ = c.call("condition_search", {"name": "x", "index": 0}, timeout_s=3.0)
        assert final.TYPE == "ERROR" and final.kind == "Timeout", final
        final, _ = c.call("condition_list", timeout_s=3.0)
        assert final.TYPE == "ERROR" and final.kind == "Timeout", final
        assert stack.broker.core.counters["condition_load_timeouts"] == 2
        del stack.spy.overrides["GetConditionLoad"]  # the next request loads again and works
        assert c.result("condition_list", timeout_s=3.0)
    finally:
        stack.close()


def test_cancel_of_a_queued_search_withdraws_its_send(qapp):
    stack = _stack(qapp)
    try:
        c = stack.client()
        first = _conditions(c)[0]
        args = {"name": first["name"], "index": first["index"]}
        c.result("condition_search", args)
        rid = c.send("condition_search", args)  # waits a minute for the same condition
        c.pump(0.2)
        assert not _final(c, rid) and stack.broker.core.pacer.depth()["quote"] == 1
        c.cancel(rid)
        final = c.wait_final(rid, 3.0)[-1]
        assert final.TYPE == "END" and final.result["cancelled"] is True
        for _ in range(8):
            stack.advance(10.0)
        c.pump(0.2)
        assert len(stack.spy.of("SendCondition")) == 1  # no budget burnt, no new 60 s lockout
        assert stack.broker.core.pacer.depth()["quote"] == 0
        assert "condition" not in stack.broker.core.screens.in_use().values()
        # the condition is free again at once
        final, _ = c.call("condition_search", args, timeout_s=3.0)
        assert final.TYPE == "REPLY"
    finally:
        stack.close()


def test_watch_is_restored_after_a_connection_loss(qapp):
    stack = _stack(qapp)
    try:
        c = stack.client()
        conditions = _conditions(c)
        target = conditions[1] if len(conditions) > 1 else conditions[0]
        topic = f"cond.{target['index']}"
        c.subscribe_pub(topic)
        c.subscribe_pub("sys.conn")
        c.pump(0.2)
        c.result("condition_watch", {"name": target["name"], "index": target["index"]})
        assert _step_until(stack, c, lambda: c.pubs_on(topic)), "membership changes within five minutes"
        sends = len(stack.spy.of("SendCondition"))
        stack.sim.drop_connection()
        assert c.wait_for(lambda: any(p.body["state"] == "disconnected" for p in c.pubs_on("sys.conn")), 2.0)
        assert _step_until(stack, c, lambda: any(p.body["state"] == "restored" for p in c.pubs_on("sys.conn")),
                           step_s=0.6, rounds=20)
        # the list is loaded again and the watch re-issued (SendCondition nSearch=1 on the same screen)
        assert _step_until(stack, c, lambda: len(stack.spy.of("SendCondition")) > sends)
        again = stack.spy.of("SendCondition")[-1]
        assert again.args[1:] == (target["name"], target["index"], 1) and again.result == 1
        assert len(stack.spy.of("GetConditionLoad")) == 2
        seen = len(c.pubs_on(topic))
        assert _step_until(stack, c, lambda: len(c.pubs_on(topic)) > seen), "publications flow again"
        watches = stack.broker.core.conditions.state()["watches"]  # status is a snapshot pushed 4x a second
        assert watches and watches[0]["active"] is True
    finally:
        stack.close()


def test_restore_retries_a_list_load_that_never_answers(qapp):
    stack = _stack(qapp)
    try:
        c = stack.client()
        conditions = _conditions(c)
        target = conditions[0]
        c.subscribe_pub("sys.conn")
        c.pump(0.2)
        c.result("condition_watch", {"name": target["name"], "index": target["index"]})
        sends = len(stack.spy.of("SendCondition"))
        stack.broker.core.conditions.load_timeout_s = 0.3
        stack.spy.overrides["GetConditionLoad"] = lambda signature, args: 1  # accepted, never answered
        stack.sim.drop_connection()
        assert _step_until(stack, c, lambda: any(p.body["state"] == "restored" for p in c.pubs_on("sys.conn")),
                           step_s=0.6, rounds=20)
        counters = stack.broker.core.counters
        assert c.wait_for(lambda: counters["condition_load_timeouts"] == 1, 3.0), "the restore's load timed out"
        assert counters["condition_restore_failures"] == 1
        assert stack.broker.core.conditions.state()["loading"] is False
        del stack.spy.overrides["GetConditionLoad"]  # the list answers again: the retry restores the watch
        assert _step_until(stack, c, lambda: len(stack.spy.of("SendCondition")) > sends, step_s=5.0, rounds=20)
        assert stack.spy.of("SendCondition")[-1].args[1:] == (target["name"], target["index"], 1)
        assert _step_until(stack, c, lambda: stack.broker.core.conditions.state()["watches"][0]["active"], 5.0, 10)
    finally:
        stack.close()
