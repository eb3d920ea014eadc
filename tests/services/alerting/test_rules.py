"""The rules file: every kind parses to a frozen Rule, every mistake is refused with its file, line and field."""
from __future__ import annotations

import dataclasses
import textwrap
from datetime import time

import pytest

from koabus.services.alerting.rules import (
    DEFAULT_DEDUP,
    DEFAULT_MESSAGE,
    KINDS,
    Rule,
    RulesError,
    load_rules,
    parse_duration,
    parse_rules,
    realtime_needs,
    template_fields,
)

CONTRACT_EXAMPLE = """\
defaults:            # optional, applied to every rule
  cooldown: 60s
  notify: [console]
  sessions: regular
rules:
  - id: samsung-above-75k
    kind: price
    codes: ["005930"]
    field: current_price
    above: 75000
    type: trade
    between: ["09:00", "15:30"]
    cooldown: 5m
    dedup: "{rule}:{code}"
    severity: warning
    message: "{name} {code} at {current_price:,} (>= {above:,})"
    notify: [console, ops-webhook]
  - {id: big-move, kind: change, codes: "*", over_pct: 3.0}
  - {id: vol-spike, kind: volume_spike, codes: ["000660"], times: 5, window: 5m}
  - {id: wide, kind: spread, codes: ["035420"], over_ticks: 3}
  - {id: vi, kind: vi, codes: "*"}
  - {id: cond-new, kind: condition, condition: "golden", on: [added]}
  - {id: fills, kind: order, on: [filled, partial, rejected]}
  - {id: broker-down, kind: system, on: [disconnected, restored, throttled, recorder_gap, recorder_lag], lag_over: 10s}
  - {id: missing-hb, kind: heartbeat, services: ["*"], missing_for: 5s}
"""


def _rules(text: str, **kwargs):
    return parse_rules(textwrap.dedent(text), "alerts.yaml", **kwargs)


def _error(text: str, **kwargs) -> RulesError:
    with pytest.raises(RulesError) as info:
        _rules(text, **kwargs)
    return info.value


def test_the_contract_example_gives_one_frozen_rule_per_kind():
    rules = parse_rules(CONTRACT_EXAMPLE, "alerts.yaml")
    assert [r.kind for r in rules] == list(KINDS)
    first = rules[0]
    assert (first.id, first.codes, first.type, first.field, first.above) == (
        "samsung-above-75k", ("005930",), "trade", "current_price", 75000)
    assert first.between == (time(9, 0), time(15, 30)) and first.cooldown_s == 300.0
    assert first.notify == ("console", "ops-webhook") and first.line == 6
    assert rules[1].all_codes and rules[1].over_pct == 3 and rules[1].cooldown_s == 60.0  # from defaults
    assert rules[2].window_s == 300.0 and rules[2].times == 5
    assert rules[3].type == "best" and rules[3].over_ticks == 3
    assert rules[4].on == ("triggered",)
    assert rules[5].condition == "golden" and rules[5].on == ("added",)
    assert rules[7].lag_over_s == 10.0 and rules[8].missing_for_s == 5.0 and rules[8].services == ("*",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.above = 1  # type: ignore[misc]


def test_session_defaults_scope_market_rules_only():
    rules = {r.id: r for r in parse_rules(CONTRACT_EXAMPLE, "alerts.yaml")}
    assert rules["big-move"].sessions == "regular" and rules["cond-new"].sessions == "regular"
    # a fill, a lost connection or a silent service matters at any hour
    assert rules["fills"].sessions == "any" and rules["broker-down"].sessions == "any"
    assert rules["missing-hb"].sessions == "any"
    assert all(r.notify for r in rules.values())


def test_realtime_needs_lists_the_codes_per_type():
    rules = _rules("""
        rules:
          - {id: a, kind: price, codes: ["005930"], above: 1}
          - {id: b, kind: price, codes: ["000660", "005930"], below: 1}
          - {id: c, kind: vi, codes: "*"}
          - {id: d, kind: spread, type: book, codes: ["035420"], over_ticks: 2}
          - {id: e, kind: order}
    """)
    assert realtime_needs(rules) == {"trade": ("000660", "005930"), "vi": ("*",), "book": ("035420",)}


def test_default_templates_use_only_fields_the_kind_provides():
    for kind in KINDS:
        extra = {"price": "codes: ['005930'], above: 1", "change": "codes: ['005930'], over_pct: 1",
                 "volume_spike": "codes: ['005930'], times: 3", "spread": "codes: ['005930'], over_ticks: 2",
                 "vi": "codes: '*'", "condition": "condition: x", "order": "on: [filled]",
                 "system": "on: [disconnected]", "heartbeat": "missing_for: 3s"}[kind]
        text = (f"rules:\n  - {{id: r, kind: {kind}, {extra}, message: \"{DEFAULT_MESSAGE[kind]}\", "
                f"dedup: \"{DEFAULT_DEDUP.get(kind, '{rule}:{code}')}\"}}\n")
        assert parse_rules(text, "x.yaml")[0].message == DEFAULT_MESSAGE[kind]


def test_durations():
    assert [parse_duration(v) for v in ("500ms", "30s", "5m", "1h", 7, 2.5, "10")] == [
        0.5, 30.0, 300.0, 3600.0, 7.0, 2.5, 10.0]
    assert [parse_duration(v) for v in ("5 minutes", "-1s", -3, True, None, "1d")] == [None] * 6


def test_template_fields_refuse_attribute_and_index_access():
    assert template_fields("{name} {current_price:,} {{literal}}") == ["name", "current_price"]
    for text in ("{code.__class__}", "{values[0]}", "{}", "{0}", "{a:{b}}"):
        with pytest.raises(ValueError):
            template_fields(text)


# one table row per error class: (file text, line, field, words the message must hold)
BAD_FILES = [
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    abve: 75000\n",
     5, "rules[0](a).abve", ["unknown key", "did you mean 'above'"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    field: curent_price\n",
     6, "rules[0](a).field", ["'curent_price' is not a field of realtime type 'trade'", "'current_price'"]),
    ("rules:\n  - id: a\n    kind: spread\n    codes: ['005930']\n    type: bookk\n    over_ticks: 2\n",
     5, "rules[0](a).type", ["unknown realtime type 'bookk'", "'book'"]),
    ("rules:\n  - id: a\n    kind: prise\n", 3, "rules[0](a).kind", ["'prise'", "did you mean 'price'"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    cooldown: 5 minutes\n",
     6, "rules[0](a).cooldown", ["not a duration"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: [000660]\n    above: 1\n",
     4, "rules[0](a).codes", ["quote codes"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['05930']\n    above: 1\n",
     4, "rules[0](a).codes", ["not a 6-digit code"]),
    ("rules:\n  - {id: a, kind: vi, codes: '*'}\n  - {id: b, kind: vi, codes: '*'}\n  - {id: a, kind: vi, codes: '*'}\n",
     4, "rules[2].id", ["duplicate rule id 'a' (first on line 2)"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    message: '{name} at {curent_price:,}'\n",
     6, "rules[0](a).message", ["unknown template field {curent_price}", "'current_price'"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    dedup: '{code.__class__}'\n",
     6, "rules[0](a).dedup", ["not a plain field name"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    between: [09:00, 15:30]\n",
     6, "rules[0](a).between", ["quote it"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    above: 1\n    below: 2\n",
     2, "rules[0](a)", ["exactly one of above, below, crosses"]),
    ("rules:\n  - id: a\n    kind: order\n    on: [filled, cancelled]\n", 4, "rules[0](a).on", ["'cancelled'"]),
    ("rules:\n  - id: a\n    kind: change\n    codes: ['005930']\n    over_pct: 3\n    above: 1\n",
     6, "rules[0](a).above", ["unknown key in a change rule", "not a key of a change rule"]),
    ("defaults:\n  cooldown: 1m\n  sesions: any\nrules: []\n", 3, "defaults.sesions", ["did you mean 'sessions'"]),
    ("rule:\n  - {id: a, kind: vi, codes: '*'}\n", 1, "rule", ["did you mean 'rules'"]),
    ("rules:\n  - id: a\n    kind: vi\n    codes: '*'\n    codes: ['005930']\n", 5, "codes", ["given twice"]),
    ("rules:\n  - id: Big Move\n    kind: vi\n", 2, "rules[0].id", ["not a rule id"]),
    ("rules:\n  - {id: a, kind: vi, codes: '*'\n", 3, "yaml", ["expected"]),
    ("rules:\n  - id: a\n    kind: volume_spike\n    codes: ['005930']\n    times: 5\n    window: 90s\n",
     6, "rules[0](a).window", ["whole minutes"]),
    ("rules:\n  - id: a\n    kind: price\n    codes: ['005930']\n    field: change_sign\n    above: 1\n",
     5, "rules[0](a).field", ["not a number"]),
]


@pytest.mark.parametrize("text,line,field,words", BAD_FILES, ids=[row[2] + ":" + row[3][0] for row in BAD_FILES])
def test_a_bad_rules_file_is_refused_with_its_line(text, line, field, words):
    error = _error(text)
    assert (error.path, error.line, error.field) == ("alerts.yaml", line, field)
    assert str(error).startswith(f"alerts.yaml:{line}: {field}: ")
    for word in words:
        assert word in error.message


def test_unknown_notifiers_are_refused_only_when_the_names_are_known():
    text = "rules:\n  - id: a\n    kind: vi\n    codes: '*'\n    notify: [console, ops-webhok]\n"
    assert _rules(text)[0].notify == ("console", "ops-webhok")  # --check without a config: not checked
    error = _error(text, notifiers={"console", "ops-webhook"})
    assert (error.line, error.field) == (5, "rules[0](a).notify")
    assert "unknown notifier 'ops-webhok' (did you mean 'ops-webhook'?)" in error.message
    error = _error("defaults:\n  notify: [slack]\nrules: []\n", notifiers={"console"})
    assert (error.line, error.field) == (2, "defaults.notify")


def test_yaml_reads_on_as_a_key_not_true():
    rules = _rules("rules:\n  - {id: a, kind: condition, condition: 3, on: [added, removed]}\n")
    assert rules[0].on == ("added", "removed") and rules[0].condition == "3"


def test_load_rules_reads_the_file_and_names_it(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(CONTRACT_EXAMPLE, encoding="utf-8")
    assert len(load_rules(path)) == len(KINDS)
    path.write_text(CONTRACT_EXAMPLE.replace("over_ticks: 3", "over_tick: 3"), encoding="utf-8")
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}:20: rules[3](wide).over_tick: unknown key")
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "missing.yaml")
    assert info.value.line == 0 and "cannot read" in info.value.message


def test_rules_compare_by_value_not_by_line():
    a = _rules("rules:\n  - {id: a, kind: vi, codes: '*'}\n")[0]
    b = _rules("\n\nrules:\n  - {id: a, kind: vi, codes: '*'}\n")[0]
    assert a == b and a.line != b.line and isinstance(a, Rule) and a.trigger() == b.trigger()


def test_the_examples_in_docs_alerting_are_valid():
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[3] / "docs" / "alerting.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    examples = [b for b in blocks if b.startswith("- {id:")]
    assert len(examples) == len(KINDS)
    rules = parse_rules("rules:\n" + "".join(textwrap.indent(b, "  ") for b in examples), "docs/alerting.md")
    assert sorted(r.kind for r in rules) == sorted(KINDS)
    assert len(parse_rules(blocks[0], "docs/alerting.md")) == 1
