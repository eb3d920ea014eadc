"""Configurable condition searches: names and formulas from YAML, parsed without eval."""
from __future__ import annotations

import pytest

from koabus.services.sim.config import SimConfig
from koabus.services.sim.market.conditions import (
    DEFAULT_CONDITIONS,
    Conditions,
    compile_formula,
    load_conditions,
)

YAML = """
conditions:
  - index: 7
    name: 비싼 종목
    formula: price >= 100000 and volume > 0
  - index: 2
    name: 거래 많은 순 셋
    formula: volume > 0
    rank: volume
    limit: 3
"""


def test_default_set_holds_the_koapy_readme_conditions():
    names = [s.name for s in DEFAULT_CONDITIONS]
    assert "대형 저평가 우량주" in names and "중소형 저평가주" in names


def test_yaml_conditions_replace_the_list_and_evaluate_their_formula(midday_market):
    cond = Conditions(midday_market, load_conditions(YAML))
    assert cond.conditions() == [(2, "거래 많은 순 셋"), (7, "비싼 종목")]
    expensive = cond.evaluate(7)
    expected = [c for c in cond._stocks(midday_market.session_date())
                if (s := midday_market.trading_state(c)).last >= 100000 and s.volume > 0]
    assert expensive and expensive == expected
    top = cond.evaluate(2)
    volumes = [midday_market.trading_state(c).volume for c in top]
    assert len(top) == 3 and volumes == sorted(volumes, reverse=True)
    assert volumes[-1] >= max(midday_market.trading_state(c).volume for c in expected if c not in top)


def test_readme_conditions_find_stocks(midday_market):
    cond = Conditions(midday_market)
    index = dict((n, i) for i, n in cond.conditions())
    large = cond.evaluate(index["대형 저평가 우량주"])
    assert large
    for code in large:
        assert midday_market.instrument(code).shares * midday_market.trading_state(code).last >= 5e12


@pytest.mark.parametrize("formula", [
    "__import__('os').system('true')", "price.__class__", "unknown_field > 1", "[price]", "price if 1 else 2",
    "'text' == price", "lambda: 1",
])
def test_formulas_outside_the_whitelist_are_refused(formula):
    with pytest.raises(ValueError):
        compile_formula(formula)


def test_formula_arithmetic_and_chained_comparison():
    f = compile_formula("1000 <= price * 2 < 5000 and not rate < 0 and max(high, 3) / 0 == 0")
    assert f({"price": 1000, "rate": 0.5, "high": 1}) is True
    assert f({"price": 3000, "rate": 0.5, "high": 1}) is False


def test_sim_config_takes_a_yaml_file_and_rejects_bad_entries(tmp_path):
    path = tmp_path / "conditions.yaml"
    path.write_text(YAML, encoding="utf-8")
    config = SimConfig(conditions=str(path))
    assert [s.name for s in config.conditions] == ["거래 많은 순 셋", "비싼 종목"]
    with pytest.raises(ValueError):
        SimConfig(conditions=[{"index": 1, "name": "x", "formula": "open(1)"}])
    with pytest.raises(ValueError):
        SimConfig(conditions=[{"index": 1, "name": "a", "formula": "price > 0"},
                              {"index": 1, "name": "b", "formula": "price > 0"}])
