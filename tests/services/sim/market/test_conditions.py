"""Built-in condition searches: deterministic, stocks only, membership moving during the day."""
from __future__ import annotations

import pytest

from koabus.common.errors import NotFound
from koabus.services.sim.market.conditions import Conditions, diff

from .conftest import kst


def test_condition_list_is_fixed(midday_market):
    names = Conditions(midday_market).conditions()
    assert names[0] == (0, "거래량급증") and (2, "중소형 저평가주") in names


def test_same_seed_same_members_in_any_order(make_market):
    t = kst(2025, 3, 6, 13, 0).timestamp()
    a = Conditions(make_market(kst(2025, 3, 6, 13, 0)))
    b = Conditions(make_market(kst(2025, 3, 6, 13, 0)))
    results_b = {i: b.evaluate(i, t) for i, _ in reversed(b.conditions())}
    for i, _ in a.conditions():
        assert a.evaluate(i, t) == results_b[i]


def test_members_are_stocks_and_top_gainers_are_ranked(midday_market):
    cond = Conditions(midday_market)
    gainers = cond.evaluate(3)
    assert 0 < len(gainers) <= 10
    rates = [midday_market.quote(c).rate for c in gainers]
    assert rates == sorted(rates, reverse=True) and all(r > 0 for r in rates)
    for i, _ in cond.conditions():
        assert all(midday_market.instrument(c).kind == "stock" for c in cond.evaluate(i))


def test_membership_changes_during_the_day(make_market):
    market = make_market(kst(2025, 3, 6, 9, 5))
    cond = Conditions(market)
    start = kst(2025, 3, 6, 9, 5).timestamp()
    changes = 0
    previous = None
    for k in range(0, 6 * 3600, 900):
        now = cond.evaluate(3, start + k)
        entered, left = diff(previous, now)
        if previous is not None:
            changes += len(entered) + len(left)
        previous = now
    assert changes > 0


def test_unknown_condition(midday_market):
    with pytest.raises(NotFound):
        Conditions(midday_market).evaluate(42)
