"""Unit tests of the screen allocator and the refcounted realtime registry."""
from __future__ import annotations

import pytest

from koabus.common.errors import Overloaded
from koabus.services.broker.session import RealReg, RealRemove, RealtimeRegistry, ScreenAllocator

FIDS = {"주식체결": frozenset({228}), "주식호가잔량": frozenset({41}), "장시작시간": frozenset({214})}


def _registry(limit=200):
    return RealtimeRegistry(ScreenAllocator(limit), FIDS.__getitem__)


def test_screens_are_limited_and_reused_late():
    screens = ScreenAllocator(limit=3)
    got = [screens.allocate("x") for _ in range(3)]
    assert got == ["0001", "0002", "0003"]
    with pytest.raises(Overloaded):
        screens.allocate("x")
    screens.release("0002")
    assert screens.allocate("x") == "0004"  # released numbers go to the back


def test_hundred_codes_per_screen_and_opt_types():
    reg = _registry()
    codes = [f"{i:06d}" for i in range(250)]
    actions = reg.subscribe("a", codes, ["주식체결"])
    assert all(isinstance(a, RealReg) for a in actions)
    assert [len(a.codes) for a in actions] == [100, 100, 50]
    assert [a.opt for a in actions] == ["0", "0", "0"]
    assert len({a.screen for a in actions}) == 3
    more = reg.subscribe("a", ["999999"], ["주식체결"])
    assert more == [RealReg(actions[2].screen, ("999999",), (228,), "1")]


def test_refcount_first_registers_last_releases():
    reg = _registry()
    assert len(reg.subscribe("a", ["005930"], ["주식체결"])) == 1
    assert reg.subscribe("b", ["005930"], ["주식체결"]) == []
    assert reg.holders("005930", "주식체결") == {"a", "b"}
    assert reg.unsubscribe("a", ["005930"]) == []
    assert reg.wanted("005930", "주식체결")
    actions = reg.unsubscribe("b", ["005930"], ["주식체결"])
    assert actions == [RealRemove("0001", "005930")]
    assert not reg.wanted("005930", "주식체결")
    assert len(reg.screens) == 0  # the empty screen is released


def test_adding_a_type_re_registers_with_the_union_of_fids():
    reg = _registry()
    reg.subscribe("a", ["005930"], ["주식체결"])
    actions = reg.subscribe("b", ["005930"], ["주식호가잔량"])
    assert actions == [RealReg("0001", ("005930",), (41, 228), "1")]
    # b leaving does not remove the code a still wants
    assert reg.release_client("b") == []
    assert reg.wanted("005930", "주식체결") and not reg.wanted("005930", "주식호가잔량")


def test_release_client_and_restore_actions():
    reg = _registry()
    reg.subscribe("a", ["005930", "000660"], ["주식체결"])
    reg.subscribe("b", ["035420"], ["주식호가잔량"])
    restore = reg.restore_actions()
    assert [a.opt for a in restore] == ["0", "1"]  # per screen: replace first, then add
    assert {c for a in restore for c in a.codes} == {"005930", "000660", "035420"}
    removed = reg.release_client("a")
    assert sorted(r.code for r in removed) == ["000660", "005930"]
    assert reg.registered_codes() == {"035420": "0001"}


def test_market_status_code_gets_its_own_screen():
    reg = _registry()
    reg.subscribe("a", ["005930"], ["주식체결"])
    actions = reg.subscribe("a", [""], ["장시작시간"])
    assert actions == [RealReg("0002", ("",), (214,), "0")]
    reg.subscribe("a", ["000660"], ["주식체결"])
    assert reg.registered_codes()["000660"] == "0001"


def test_screen_limit_is_respected():
    reg = _registry(limit=2)
    reg.subscribe("a", [f"{i:06d}" for i in range(200)], ["주식체결"])
    with pytest.raises(Overloaded):
        reg.subscribe("a", ["999999"], ["주식체결"])


def test_refused_subscription_changes_nothing():
    reg = _registry(limit=1)
    reg.subscribe("a", ["005930"], ["주식체결"])
    with pytest.raises(Overloaded):
        reg.subscribe("b", [f"{i:06d}" for i in range(150)], ["주식체결"])
    assert reg.subscriptions_of("b") == []
    assert list(reg.registered_codes()) == ["005930"]
