"""End to end: realtime codes are checked against the master list before anything is registered, and one
client cannot release another's subscription (a code, `ALL`, a separator, or everything it holds)."""
from __future__ import annotations

import pytest


def _trades(client, code="005930"):
    return len(client.pubs_on(f"rt.trade.{code}"))


def _still_streaming(stack, client, code="005930") -> bool:
    before = _trades(client, code)
    stack.advance(60.0)
    return client.wait_for(lambda: _trades(client, code) > before, 3.0)


def _error(client, op, args):
    final, _ = client.call(op, args)
    assert final.TYPE == "ERROR", final
    return final


def test_a_client_releases_only_what_it_subscribed(spied):
    a, b = spied.client("a"), spied.client("b")
    a.subscribe_pub("rt.trade.005930")
    a.pump(0.2)
    a.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    assert _still_streaming(spied, a)
    # b never subscribed 005930: releasing it, everything it holds, or "ALL" leaves a's stream alone
    assert b.result("unsubscribe", {"codes": ["005930"]}) == {"released": 0}
    assert b.result("unsubscribe", {"codes": ["005930"], "types": ["trade"]}) == {"released": 0}
    assert b.result("unsubscribe", {}) == {"released": 0}
    assert _error(b, "unsubscribe", {"codes": ["ALL"]}).kind == "InvalidRequest"
    # "ALL" cannot be subscribed either, so it can never be released onto a's screen (SetRealRemove(scr, "ALL"))
    final = _error(b, "subscribe", {"codes": ["ALL"], "types": ["trade"]})
    assert final.kind == "InvalidRequest" and final.details["invalid"] == ["ALL"]
    assert _error(b, "unsubscribe", {"codes": ["ALL"]}).kind == "InvalidRequest"
    assert not [c for c in spied.spy.of("SetRealRemove")]
    assert _still_streaming(spied, a)
    # b subscribes 005930 as well, then leaves it: a keeps it
    b.result("subscribe", {"codes": ["A005930"], "types": ["trade"]})  # the 'A' prefix is the same code
    assert b.result("unsubscribe", {"codes": ["005930"]}) == {"released": 1}
    assert len(spied.broker.core.registry.holders("005930", "주식체결")) == 1  # a alone
    assert not spied.spy.of("SetRealRemove")
    assert _still_streaming(spied, a)


@pytest.mark.parametrize("codes, field", [
    (["005930;000660"], "invalid"),
    (["005930", "000660;035420"], "invalid"),
    (["ALL"], "invalid"),
    (["all"], "invalid"),
    ([""], "invalid"),
    (["  "], "invalid"),
    (["005 930"], "invalid"),
    (["005930\t"], None),  # surrounding whitespace is stripped: a valid code
    (["0059\x0030"], "invalid"),
    (["005930|000660"], "invalid"),
    (["0" * 13], "invalid"),
    (["999999"], "unknown"),
    (["005930", "999998"], "unknown"),
])
def test_a_refused_subscription_registers_nothing(spied, codes, field):
    c = spied.client()
    registry = spied.broker.core.registry
    before_calls = len(spied.spy.calls)
    final, _ = c.call("subscribe", {"codes": codes, "types": ["trade"]})
    if field is None:
        assert final.TYPE == "REPLY", final
        assert list(registry.registered_codes()) == ["005930"]
        return
    assert final.TYPE == "ERROR", final
    assert final.kind == ("NotFound" if field == "unknown" else "InvalidRequest")
    assert final.details[field], final.details
    # nothing reached the control, nothing is held, nothing leaked into the registry or the screens
    assert not [x for x in spied.spy.calls[before_calls:] if x.name in ("SetRealReg", "SetRealRemove")]
    assert registry.registered_codes() == {} and len(registry) == 0
    assert c.result("status")["realtime"]["codes"] == 0


def test_a_refused_code_names_every_offender(spied):
    c = spied.client()
    final = _error(c, "subscribe", {"codes": ["005930", "ALL", "999999", "1;2"], "types": ["trade"]})
    assert final.kind == "InvalidRequest"
    assert final.details["invalid"] == ["ALL", "1;2"] and final.details["unknown"] == ["999999"]
    final = _error(c, "subscribe", {"codes": ["999999", "999998"], "types": ["trade"]})
    assert final.kind == "NotFound" and final.details["unknown"] == ["999999", "999998"]
    assert not spied.spy.of("SetRealReg")


def test_master_list_kinds_and_market_wide_stream(spied):
    master = spied.broker.core.master
    assert master.loaded and master.has("005930") and master.kind("005930") == "stock"
    etf = [code for code in master.codes() if master.kind(code) == "etf"]
    assert etf and master.has("A" + etf[0])
    # sector indices stream 업종지수 by their code
    c = spied.client()
    assert c.result("subscribe", {"codes": ["001"], "types": ["index"]})["topics"] == ["rt.index.001"]
    # the market-wide stream keeps its empty code, but only for the types that have one
    assert c.result("subscribe", {"codes": ["_"], "types": ["market_status"]})["topics"] == ["rt.market_status._"]
    final = _error(c, "subscribe", {"codes": [""], "types": ["trade"]})
    assert final.kind == "InvalidRequest" and final.details["invalid"] == [""]


@pytest.mark.parametrize("code", ["ALL", "005930;000660", "A005930"])
def test_another_client_cannot_cut_a_stream_through_odd_codes(spied, code):
    a, b = spied.client("a"), spied.client("b")
    a.subscribe_pub("rt.trade.005930")
    a.pump(0.2)
    a.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    b.call("subscribe", {"codes": [code], "types": ["trade"]})  # refused (ALL, ';') or the same code
    b.call("unsubscribe", {"codes": [code]})
    b.call("unsubscribe", {})
    assert _still_streaming(spied, a), [x.args for x in spied.spy.of("SetRealRemove")]
    registered = spied.broker.core.registry.registered_codes()
    assert list(registered) == ["005930"], registered  # nothing leaked into the registry ...
    assert spied.broker.core.counters["realtime_unwanted"] == 0  # ... nor at the control (000660 streaming)
