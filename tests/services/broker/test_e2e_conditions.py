"""End to end: condition load/list, one-off search, realtime watch with I/D publications, the 1/min pacing."""
from __future__ import annotations


def test_condition_list_search_and_watch(stack):
    c = stack.client()
    assert c.result("condition_load")["loaded"] is True
    conditions = c.result("condition_list")
    assert conditions and all(isinstance(x["index"], int) and x["name"] for x in conditions)
    first = conditions[0]
    codes = c.result("condition_search", {"name": first["name"], "index": first["index"]})["codes"]
    assert isinstance(codes, list) and all(len(code) == 6 for code in codes)
    final, _ = c.call("condition_search", {"name": "no such", "index": 999})
    assert final.TYPE == "ERROR" and final.kind == "NotFound"

    # the same condition again within a minute waits in the pacer instead of failing
    second = conditions[1] if len(conditions) > 1 else first
    c.subscribe_pub(f"cond.{second['index']}")
    c.pump(0.2)
    watch = c.result("condition_watch", {"name": second["name"], "index": second["index"]}, timeout_s=5)
    assert watch["topic"] == f"cond.{second['index']}"
    rid = c.send("condition_search", {"name": first["name"], "index": first["index"]})
    c.pump(0.2)
    assert not [m for m in c.messages_for(rid)], "a repeat within 60 s must wait"
    for _ in range(8):
        stack.advance(10.0)
    msgs = c.wait_final(rid, 3.0)
    assert msgs[-1].TYPE == "REPLY"
    assert stack.broker.core.adapter.calls["SendCondition"] == 3
    # membership changes of the watched condition arrive on cond.<index>
    for _ in range(30):
        stack.advance(10.0)
        if c.pubs_on("cond."):
            break
    pubs = c.pubs_on("cond.")
    assert pubs, "the simulated market changes membership within five minutes"
    assert pubs[0].body["kind"] in ("I", "D") and pubs[0].body["index"] == second["index"]
    assert pubs[0].body["name"] == second["name"] and len(pubs[0].body["code"]) == 6
    assert c.result("condition_stop", {"name": second["name"], "index": second["index"]}) == {"stopped": True}
    assert stack.broker.core.adapter.calls["SendConditionStop"] == 1
