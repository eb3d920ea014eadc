"""Registering and releasing thousands of codes runs in bounded chunks interleaved with other work, in order
(issue 9: "Releasing a 20,000-code subscription froze the broker for 170 s").

What the control ends up with is read from the simulated control itself (its realtime registrations).
"""
from __future__ import annotations

import time

import pytest

from tests.services.broker.conftest import start_stack
from tests.services.broker.wide_listing import synthetic_codes, wide_default

CODES = 5_000


@pytest.fixture
def wide(qapp, monkeypatch):
    from koabus.services.sim.market.listing import Listing

    monkeypatch.setattr(Listing, "default", wide_default(CODES))
    stack = start_stack(qapp, spy=True)
    try:
        yield stack
    finally:
        stack.close()


def _control_codes(stack):
    """Codes the simulated control streams now (its own view of SetRealReg/SetRealRemove)."""
    return set(stack.control._realtime.active_codes)


def _order_of_finals(c, *rids):
    return [m.request_id for m in c.inbox if m.TYPE in ("REPLY", "END", "ERROR") and m.request_id in rids]


def test_other_requests_are_served_while_a_long_release_runs(wide):
    c = wide.client()
    codes = synthetic_codes(CODES)
    c.result("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=60)
    assert _control_codes(wide) == set(codes)
    rid_release = c.send("unsubscribe", {"codes": codes})
    rid_call = c.send("call", {"method": "GetMasterCodeName", "args": ["005930"]})
    c.wait_final(rid_release, 60.0)
    c.wait_final(rid_call, 5.0)
    assert _order_of_finals(c, rid_release, rid_call) == [rid_call, rid_release]
    assert c.messages_for(rid_release)[-1].result == {"released": CODES}
    assert _control_codes(wide) == set()  # the reply came when the control had let go of every code


def test_a_subscribe_right_after_an_unsubscribe_is_not_undone_by_a_later_chunk(wide):
    c = wide.client()
    codes = synthetic_codes(CODES)
    c.result("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=60)
    last = codes[-1]  # released in the last chunk
    rid_release = c.send("unsubscribe", {"codes": codes})
    rid_again = c.send("subscribe", {"codes": [last, "005930"], "types": ["trade"]})
    assert c.wait_final(rid_release, 60.0)[-1].TYPE == "REPLY"
    assert c.wait_final(rid_again, 60.0)[-1].TYPE == "REPLY"
    assert _order_of_finals(c, rid_release, rid_again) == [rid_release, rid_again]
    assert _control_codes(wide) == {last, "005930"}
    assert set(wide.broker.core.registry.registered_codes()) == {last, "005930"}
    calls = [call for call in wide.spy.calls if call.name in ("SetRealReg", "SetRealRemove")
             and last in str(call.args[1]).split(";")]
    assert [call.name for call in calls] == ["SetRealReg", "SetRealRemove", "SetRealReg"]


def test_a_client_gone_in_the_middle_of_its_registration_leaves_nothing_registered(wide):
    a, b = wide.client("a"), wide.client("b")
    b.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    a.send("subscribe", {"codes": synthetic_codes(CODES), "types": ["trade"]})
    a.pump(0.01)
    a.bye()
    assert b.wait_for(lambda: _control_codes(wide) == {"005930"}
                      and not wide.broker.core.realtime_work.pending(), 60.0), len(_control_codes(wide))
    assert set(wide.broker.core.registry.registered_codes()) == {"005930"}
    assert len(wide.broker.core.screens) == 1


def test_a_release_slower_than_its_deadline_is_answered_before_it_and_still_completes(wide):
    c = wide.client()
    codes = synthetic_codes(1000)
    c.result("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=60)
    wide.spy.before["SetRealRemove"] = lambda signature, args: time.sleep(0.002)  # a slow control: 2 s in all
    started = time.monotonic()
    rid = c.send("unsubscribe", {"codes": codes}, deadline_ms=1000)
    final = c.wait_final(rid, 5.0)[-1]
    answered_s = time.monotonic() - started
    assert final.TYPE == "REPLY" and final.result == {"released": 1000, "pending": True}, final
    assert answered_s < 1.0  # before the request's deadline
    assert wide.broker.core.realtime_work.pending() > 0
    assert c.wait_for(lambda: not _control_codes(wide), 10.0)  # the release went on to the end
    assert wide.broker.core.realtime_work.pending() == 0


def test_a_loss_in_the_middle_of_a_registration_is_replayed_whole_after_relogin(wide):
    c = wide.client()
    codes = synthetic_codes(CODES)
    rid = c.send("subscribe", {"codes": codes, "types": ["trade"]})
    assert c.wait_for(lambda: 0 < wide.broker.core.realtime_work.pending() < CODES, 10.0)
    wide.sim.drop_connection()  # the control forgets what it had; the queued calls are pointless now
    reply = c.wait_final(rid, 10.0)[-1]
    assert reply.TYPE == "REPLY" and reply.result["registered"] is False, reply
    assert wide.broker.core.realtime_work.pending() == 0
    for _ in range(20):  # re-login after the backoff (virtual seconds)
        wide.advance(0.6)
        if wide.broker.core.connected:
            break
    assert wide.broker.core.connected
    later = c.send("subscribe", {"codes": ["005930"], "types": ["trade"]})  # queued behind the replay
    assert c.wait_final(later, 60.0)[-1].TYPE == "REPLY"
    assert _control_codes(wide) == set(codes) | {"005930"}
