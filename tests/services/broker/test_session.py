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


# -- screen budget (issue 9: realtime on every screen left orders unanswered) -----------------------
def _budgeted(limit=10, orders=2, requests=3):
    screens = ScreenAllocator(limit, reserved={"orders": orders, "requests": requests})
    return screens, RealtimeRegistry(screens, FIDS.__getitem__)


def test_realtime_cannot_take_the_screens_reserved_for_orders_and_requests():
    screens, reg = _budgeted()
    assert screens.available("realtime") == 5
    reg.subscribe("a", [f"{i:06d}" for i in range(500)], ["주식체결"])  # 5 screens: all realtime may take
    with pytest.raises(Overloaded) as refused:
        reg.subscribe("a", ["999999"], ["주식체결"])
    assert refused.value.details["free_screens"] == 0
    assert "0 free for realtime" in str(refused.value)
    assert [screens.allocate("order") for _ in range(2)] and [screens.allocate("tr") for _ in range(2)]
    screens.allocate("condition")  # TRs and conditions share the requests' reserve
    with pytest.raises(Overloaded) as full:
        screens.allocate("tr")
    assert full.value.details["purpose"] == "tr" and full.value.details["in_use"] == 10


def test_a_group_past_its_reserve_takes_free_screens_but_not_another_groups_reserve():
    screens, _ = _budgeted(limit=10, orders=2, requests=3)
    got = [screens.allocate("tr") for _ in range(8)]  # 3 reserved + the 5 nobody reserved
    assert len(got) == 8 and screens.available("tr") == 0
    assert screens.available("realtime") == 0 and screens.available("order") == 2
    with pytest.raises(Overloaded) as refused:
        screens.allocate("realtime")
    assert "kept for orders" in str(refused.value)
    screens.release(got[0])
    assert screens.available("realtime") == 1  # requests still hold more than their reserve
    for screen in got[1:6]:
        screens.release(screen)
    assert screens.available("realtime") == 5  # 2 tr screens left: 1 of their reserve still owed


def test_a_refusal_names_the_free_screens_and_how_many_codes_fit():
    screens, reg = _budgeted(limit=10, orders=2, requests=3)
    reg.subscribe("a", [f"{i:06d}" for i in range(150)], ["주식체결"])  # 2 screens, room for 50 more
    with pytest.raises(Overloaded) as refused:
        reg.subscribe("b", [f"{i:06d}" for i in range(1000, 1400)], ["주식체결"])
    details = refused.value.details
    assert details["free_screens"] == 3 and details["needed"] == 4 and details["room_codes"] == 50
    assert "room for 350 more codes" in str(refused.value)
    assert reg.subscriptions_of("b") == [] and len(reg.registered_codes()) == 150


def test_placing_and_removing_many_codes_reuses_room_left_by_removals():
    reg = _registry()
    codes = [f"{i:06d}" for i in range(20_000)]
    actions = reg.subscribe("a", codes, ["주식체결"])
    assert len(actions) == 200 and reg.screen_count() == 200
    reg.unsubscribe("a", codes[:150])  # screen 1 empties (released), screen 2 has room for 50
    assert reg.screen_count() == 199
    again = reg.subscribe("b", [f"{i:06d}" for i in range(30_000, 30_060)], ["주식체결"])
    screens = {a.screen for a in again}
    assert reg.screen_count() == 200 and len(screens) == 2
    assert reg.held_by("b", ["030000", "005930"]) == [("030000", "주식체결")]
