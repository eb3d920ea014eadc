"""The rules file (docs/alerting.md): YAML -> validated, frozen `Rule` objects, or one `RulesError` with its line.

The YAML is composed, not just loaded, so every error can name the file, the line and the field. Names
are checked against the metadata (realtime types and their FIDs), and a misspelt name gets the close
valid ones suggested: a typo must fail at load, never silently never fire.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import string
from dataclasses import dataclass, replace
from datetime import time
from pathlib import Path
from typing import Any, Collection, Dict, FrozenSet, Iterable, List, Optional, Sequence, Tuple

import yaml

from .alert import SEVERITIES

KINDS = ("price", "change", "volume_spike", "spread", "vi", "condition", "order", "system", "heartbeat")
#: kinds fed by `rt.<slug>.<code>` publications; they need `codes`
REALTIME_KINDS = frozenset({"price", "change", "volume_spike", "spread", "vi"})
SESSIONS = ("any", "regular", "pre", "post")
ALL_CODES = "*"
ON_CHOICES: Dict[str, Tuple[str, ...]] = {
    "vi": ("triggered", "released"),
    "condition": ("added", "removed"),
    "order": ("filled", "partial", "rejected"),
    "system": ("disconnected", "restored", "login_failed", "throttled", "recorder_gap", "recorder_lag"),
}
DEFAULT_ON: Dict[str, Tuple[str, ...]] = {
    "vi": ("triggered",), "condition": ("added",), "order": ("filled", "partial", "rejected"),
}
#: the realtime type a kind reads when the rule names none, and the types it may read
DEFAULT_TYPE = {"price": "trade", "change": "trade", "volume_spike": "trade", "spread": "best", "vi": "vi"}
SPREAD_FIELDS = {"best": ("ask", "bid"), "trade": ("ask", "bid"), "quote": ("ask", "bid"),
                 "book": ("ask_price_1", "bid_price_1")}
NUMERIC_FID_KINDS = frozenset({"price", "int", "signed", "float"})

COMMON_KEYS = ("id", "kind", "between", "sessions", "cooldown", "dedup", "severity", "message", "title", "notify")
KIND_KEYS: Dict[str, Tuple[str, ...]] = {
    "price": ("codes", "type", "field", "above", "below", "crosses"),
    "change": ("codes", "type", "field", "over_pct"),
    "volume_spike": ("codes", "times", "window"),
    "spread": ("codes", "type", "over_ticks"),
    "vi": ("codes", "on"),
    "condition": ("condition", "on", "codes"),
    "order": ("on", "codes", "accounts"),
    "system": ("on", "lag_over"),
    "heartbeat": ("services", "missing_for"),
}
DEFAULT_KEYS = ("cooldown", "notify", "sessions", "severity", "between")
#: defaults that only market-data rules take: an order, a lost connection or a silent service matters at any hour
MARKET_ONLY_DEFAULTS = frozenset({"sessions", "between"})
MARKET_KINDS = REALTIME_KINDS | {"condition"}
TOP_KEYS = ("defaults", "rules")

#: what each kind puts in the template besides the event's values and the rule's parameters
COMMON_FIELDS = ("rule", "kind", "code", "name", "severity", "time", "date")
KIND_FIELDS: Dict[str, Tuple[str, ...]] = {
    "price": ("value", "level", "direction", "previous"),
    "change": ("value",),
    "volume_spike": ("minute_volume", "average_volume", "ratio", "window_minutes"),
    "spread": ("ask", "bid", "spread", "spread_ticks", "tick"),
    "vi": ("event",),
    "condition": ("event", "index", "condition_name"),
    "order": ("event", "account", "order_no", "client_order_id", "status", "reason", "code_msg", "message"),
    "system": ("event", "state", "message", "conn_code", "throttle_kind", "queue_depth", "wait_s", "service",
               "gaps", "new_gaps", "lag_s"),
    "heartbeat": ("service", "silent_s", "host", "pid", "last_state"),
}
DEFAULT_DEDUP = {"vi": "{rule}:{code}:{event}", "condition": "{rule}:{code}:{event}", "order": "{rule}:{order_no}:{client_order_id}:{event}",
                 "system": "{rule}:{event}", "heartbeat": "{rule}:{service}"}
DEFAULT_MESSAGE = {
    "price": "{name} {code} {field} {value} ({direction} {level})",
    "change": "{name} {code} changed {value}% (over {over_pct}%)",
    "volume_spike": "{name} {code} traded {minute_volume} in a minute, {ratio}x the average {average_volume}",
    "spread": "{name} {code} spread {spread_ticks} ticks ({bid} / {ask})",
    "vi": "{name} {code} VI {event}",
    "condition": "{name} {code} {event} ({condition_name})",
    "order": "order {order_no} {name} {code} {event}: {status} {reason}",
    "system": "{event}: {state} {message}",
    "heartbeat": "{service} missing its heartbeat for {silent_s}s",
}
DEFAULT_TITLE = "{rule}"
DEFAULT_SEVERITY = "warning"
MAX_RULE_ID = 64
_RULE_ID = re.compile(r"^[a-z0-9_-]+$")
_CODE = re.compile(r"^[0-9]{6}$")
_SERVICE = re.compile(r"^[A-Za-z0-9_-]+$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class RulesError(ValueError):
    """A rules file that cannot be used: str is `<file>:<line>: <field>: <message>`."""

    def __init__(self, path: str, line: int, field: str, message: str):
        self.path, self.line, self.field, self.message = str(path), line, field, message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Rule:
    """One validated rule. Durations are seconds; levels are numbers; `codes` is `('*',)` for every code.

    Unused parameters keep their empty defaults. `line` is where the rule starts in its file.
    """

    id: str
    kind: str
    codes: Tuple[str, ...] = ()
    type: str = ""
    field: str = ""
    above: Optional[float] = None
    below: Optional[float] = None
    crosses: Optional[float] = None
    over_pct: Optional[float] = None
    times: Optional[float] = None
    window_s: float = 0.0
    over_ticks: Optional[int] = None
    on: Tuple[str, ...] = ()
    condition: str = ""
    accounts: Tuple[str, ...] = ()
    lag_over_s: float = 0.0
    services: Tuple[str, ...] = ()
    missing_for_s: float = 0.0
    between: Optional[Tuple[time, time]] = None
    sessions: str = "any"
    cooldown_s: float = 0.0
    dedup: str = "{rule}:{code}"
    severity: str = DEFAULT_SEVERITY
    message: str = ""
    title: str = DEFAULT_TITLE
    notify: Tuple[str, ...] = ()
    line: int = dataclasses.field(default=0, compare=False)

    @property
    def all_codes(self) -> bool:
        return ALL_CODES in self.codes

    def params(self) -> Dict[str, Any]:
        """The rule's own parameters as the template sees them (the names of the rules file)."""
        out: Dict[str, Any] = {}
        for name in ("type", "field", "above", "below", "crosses", "over_pct", "times", "over_ticks",
                     "condition"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        if self.window_s:
            out["window"] = self.window_s
        if self.lag_over_s:
            out["lag_over"] = self.lag_over_s
        if self.missing_for_s:
            out["missing_for"] = self.missing_for_s
        return out

    def trigger(self) -> Tuple[Any, ...]:
        """What decides when the rule fires; a rule reloaded with the same trigger keeps its state."""
        return (self.kind, self.codes, self.type, self.field, self.above, self.below, self.crosses,
                self.over_pct, self.times, self.window_s, self.over_ticks, self.on, self.condition,
                self.accounts, self.lag_over_s, self.services, self.missing_for_s)


def realtime_needs(rules: Iterable[Rule]) -> Dict[str, Tuple[str, ...]]:
    """Realtime type slug -> the codes the rules read (`('*',)` when one of them reads every code)."""
    needs: Dict[str, set] = {}
    for rule in rules:
        if rule.kind in REALTIME_KINDS:
            needs.setdefault(rule.type, set()).update(rule.codes)
    return {slug: ((ALL_CODES,) if ALL_CODES in codes else tuple(sorted(codes))) for slug, codes in needs.items()}


# -- loading -----------------------------------------------------------------------------------------------
def load_rules(path: Any, notifiers: Optional[Collection[str]] = None, catalog: Any = None) -> Tuple[Rule, ...]:
    """The rules of the file at `path`; `notifiers`: the configured names a rule may use (None: unchecked)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(str(path), 0, "file", f"cannot read the rules file: {exc}") from None
    return parse_rules(text, str(path), notifiers, catalog)


def parse_rules(text: str, path: str = "<rules>", notifiers: Optional[Collection[str]] = None,
                catalog: Any = None) -> Tuple[Rule, ...]:
    """The rules in YAML `text` (`path` only names it in errors)."""
    if catalog is None:
        from koabus.metadata.catalog import catalog as default_catalog
        catalog = default_catalog()
    return _Parser(path, notifiers, catalog).parse(text)


@dataclass(frozen=True)
class _Node:
    """A composed YAML value with the line (1-based) it starts on."""

    value: Any
    line: int
    key_lines: Tuple[Tuple[str, int], ...] = ()  # a map's keys and the lines they are on

    def key_line(self, key: str) -> int:
        return dict(self.key_lines).get(key, self.line)


class _Parser:
    def __init__(self, path: str, notifiers: Optional[Collection[str]], catalog: Any):
        self.path = path
        self.notifiers: Optional[FrozenSet[str]] = None if notifiers is None else frozenset(notifiers)
        self.catalog = catalog

    def fail(self, line: int, where: str, message: str) -> RulesError:
        return RulesError(self.path, line, where, message)

    # -- YAML with lines -----------------------------------------------------------------------------
    def parse(self, text: str) -> Tuple[Rule, ...]:
        loader = yaml.SafeLoader(text)
        try:
            try:
                root = loader.get_single_node()
                tree = self._convert(loader, root) if root is not None else None
            finally:
                loader.dispose()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise self.fail(mark.line + 1 if mark else 0, "yaml", str(exc.problem or exc)) from None
        except yaml.YAMLError as exc:
            raise self.fail(0, "yaml", str(exc)) from None
        if tree is None or not isinstance(tree.value, dict):
            raise self.fail(tree.line if tree else 1, "file", "a rules file is a map with `rules:` (and `defaults:`)")
        top = tree.value
        self._keys(tree, TOP_KEYS, "", "the rules file")
        defaults = self._defaults(top.get("defaults"))
        if "rules" not in top:
            raise self.fail(tree.line, "rules", "missing: the list of rules")
        rules_node = top["rules"]
        if not isinstance(rules_node.value, list):
            raise self.fail(rules_node.line, "rules", "must be a list of rules")
        rules: List[Rule] = []
        seen: Dict[str, int] = {}
        for index, node in enumerate(rules_node.value):
            rule = self._rule(node, f"rules[{index}]", defaults)
            if rule.id in seen:
                raise self.fail(node.line, f"rules[{index}].id",
                                f"duplicate rule id {rule.id!r} (first on line {seen[rule.id]})")
            seen[rule.id] = node.line
            rules.append(rule)
        return tuple(rules)

    def _convert(self, loader: yaml.SafeLoader, node: yaml.Node) -> _Node:
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            out: Dict[str, _Node] = {}
            key_lines: List[Tuple[str, int]] = []
            for key_node, value_node in node.value:
                # the raw text: YAML 1.1 would read the key `on` as True
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    raise self.fail(key_node.start_mark.line + 1, str(key), "keys must be text")
                if key in out:
                    raise self.fail(key_node.start_mark.line + 1, key,
                                    f"given twice (first on line {dict(key_lines)[key]})")
                key_lines.append((key, key_node.start_mark.line + 1))
                out[key] = self._convert(loader, value_node)
            return _Node(out, line, tuple(key_lines))
        if isinstance(node, yaml.SequenceNode):
            return _Node([self._convert(loader, item) for item in node.value], line)
        return _Node(loader.construct_object(node, deep=True), line)

    # -- sections ------------------------------------------------------------------------------------
    def _keys(self, node: _Node, allowed: Sequence[str], where: str, what: str,
              elsewhere: Sequence[str] = ()) -> None:
        for key in node.value:
            if key in allowed:
                continue
            hint = _suggest(key, allowed)
            if not hint and key in elsewhere:
                hint = f" ({key!r} is not a key of {what})"
            raise self.fail(node.key_line(key), _join(where, key), f"unknown key in {what}{hint}; valid: {', '.join(allowed)}")

    def _defaults(self, node: Optional[_Node]) -> Dict[str, Any]:
        if node is None:
            return {}
        if not isinstance(node.value, dict):
            raise self.fail(node.line, "defaults", "must be a map")
        self._keys(node, DEFAULT_KEYS, "defaults", "defaults")
        out: Dict[str, Any] = {}
        for key, value in node.value.items():
            out[key] = self._common(key, value, f"defaults.{key}")
        return out

    def _common(self, key: str, node: _Node, where: str) -> Any:
        if key == "cooldown":
            return self._duration(node, where, allow_zero=True)
        if key == "notify":
            return self._notify(node, where)
        if key == "sessions":
            return self._choice(node, where, SESSIONS)
        if key == "severity":
            return self._choice(node, where, SEVERITIES)
        if key == "between":
            return self._between(node, where)
        raise AssertionError(key)  # pragma: no cover - callers pass DEFAULT_KEYS only

    def _rule(self, node: _Node, where: str, defaults: Dict[str, Any]) -> Rule:
        if not isinstance(node.value, dict):
            raise self.fail(node.line, where, "a rule is a map (id, kind, ...)")
        data = node.value
        if "id" not in data:
            raise self.fail(node.line, f"{where}.id", "missing: every rule needs an id")
        rule_id = data["id"].value
        if not isinstance(rule_id, str) or not _RULE_ID.match(rule_id) or len(rule_id) > MAX_RULE_ID:
            raise self.fail(data["id"].line, f"{where}.id",
                            f"{rule_id!r} is not a rule id: lower-case letters, digits, '_' and '-', "
                            f"at most {MAX_RULE_ID}")
        where = f"{where}({rule_id})"
        if "kind" not in data:
            raise self.fail(node.line, f"{where}.kind", f"missing; one of {', '.join(KINDS)}")
        kind = self._choice(data["kind"], f"{where}.kind", KINDS)
        all_keys = sorted({k for keys in KIND_KEYS.values() for k in keys})
        self._keys(node, COMMON_KEYS + KIND_KEYS[kind], where, f"a {kind} rule", all_keys)
        values: Dict[str, Any] = {"id": rule_id, "kind": kind, "line": node.line}
        for key in DEFAULT_KEYS:
            if key in data:
                values[_FIELD_OF.get(key, key)] = self._common(key, data[key], f"{where}.{key}")
            elif key in defaults and (kind in MARKET_KINDS or key not in MARKET_ONLY_DEFAULTS):
                values[_FIELD_OF.get(key, key)] = defaults[key]
        values.update(getattr(self, f"_kind_{kind}")(data, where, node.line))
        rule = Rule(**values)
        fields = self._template_fields(rule)
        texts = {"dedup": DEFAULT_DEDUP.get(kind, "{rule}:{code}"), "message": DEFAULT_MESSAGE[kind],
                 "title": DEFAULT_TITLE}
        for key in list(texts):
            if key in data:
                texts[key] = self._template(data[key], f"{where}.{key}", fields)
        return replace(rule, **texts)

    # -- per kind ------------------------------------------------------------------------------------
    def _realtime(self, data: Dict[str, _Node], where: str, line: int, kind: str) -> Dict[str, Any]:
        out: Dict[str, Any] = {"codes": self._codes(data, where, line, required=True)}
        out["type"] = self._realtype(data, where, kind)
        return out

    def _kind_price(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        out = self._realtime(data, where, line, "price")
        out["field"] = self._fid_field(data, where, out["type"], "current_price")
        levels = [key for key in ("above", "below", "crosses") if key in data]
        if len(levels) != 1:
            raise self.fail(line, where, "a price rule needs exactly one of above, below, crosses"
                            + (f" (has {', '.join(levels)})" if levels else ""))
        out[levels[0]] = self._number(data[levels[0]], f"{where}.{levels[0]}")
        return out

    def _kind_change(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        out = self._realtime(data, where, line, "change")
        out["field"] = self._fid_field(data, where, out["type"], "change_rate")
        out["over_pct"] = self._required_number(data, "over_pct", where, line, positive=True)
        return out

    def _kind_volume_spike(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        out = {"codes": self._codes(data, where, line, required=True), "type": "trade", "field": "volume"}
        out["times"] = self._required_number(data, "times", where, line, positive=True)
        window = self._duration(data["window"], f"{where}.window") if "window" in data else 300.0
        if window < 120 or window % 60:
            raise self.fail(data["window"].line if "window" in data else line, f"{where}.window",
                            "the window is whole minutes, at least 2m (the last minute against the ones before)")
        out["window_s"] = window
        return out

    def _kind_spread(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        out = self._realtime(data, where, line, "spread")
        if out["type"] not in SPREAD_FIELDS:
            raise self.fail(data["type"].line, f"{where}.type",
                            f"a spread reads best quotes: one of {', '.join(SPREAD_FIELDS)}")
        value = self._required_number(data, "over_ticks", where, line, positive=True)
        if value != int(value):
            raise self.fail(data["over_ticks"].line, f"{where}.over_ticks", "a whole number of ticks")
        out["over_ticks"] = int(value)
        return out

    def _kind_vi(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        return {"codes": self._codes(data, where, line, required=True), "type": "vi",
                "on": self._on(data, where, line, "vi")}

    def _kind_condition(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        if "condition" not in data:
            raise self.fail(line, f"{where}.condition", "missing: the condition's name (or index)")
        node = data["condition"]
        if isinstance(node.value, bool) or not isinstance(node.value, (str, int)) or str(node.value).strip() == "":
            raise self.fail(node.line, f"{where}.condition", "the condition's name (text) or index (number)")
        return {"condition": str(node.value).strip(), "on": self._on(data, where, line, "condition"),
                "codes": self._codes(data, where, line, required=False)}

    def _kind_order(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        out = {"on": self._on(data, where, line, "order"), "codes": self._codes(data, where, line, required=False)}
        if "accounts" in data:
            out["accounts"] = self._names(data["accounts"], f"{where}.accounts", re.compile(r"^[0-9A-Za-z-]+$"),
                                          "account numbers")
        return out

    def _kind_system(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        if "on" not in data:
            raise self.fail(line, f"{where}.on", f"missing; a list of {', '.join(ON_CHOICES['system'])}")
        out: Dict[str, Any] = {"on": self._on(data, where, line, "system")}
        if "lag_over" in data:
            out["lag_over_s"] = self._duration(data["lag_over"], f"{where}.lag_over")
        elif "recorder_lag" in out["on"]:
            out["lag_over_s"] = 10.0
        return out

    def _kind_heartbeat(self, data: Dict[str, _Node], where: str, line: int) -> Dict[str, Any]:
        services: Tuple[str, ...] = (ALL_CODES,)
        if "services" in data:
            node = data["services"]
            if node.value == ALL_CODES:
                services = (ALL_CODES,)
            else:
                services = self._names(node, f"{where}.services", _SERVICE, "service names (or \"*\")",
                                       allow_all=True)
        missing = self._duration(data["missing_for"], f"{where}.missing_for") if "missing_for" in data else 5.0
        return {"services": services, "missing_for_s": missing}

    # -- values --------------------------------------------------------------------------------------
    def _choice(self, node: _Node, where: str, choices: Sequence[str]) -> str:
        value = node.value
        if not isinstance(value, str) or value not in choices:
            hint = _suggest(str(value), choices)
            raise self.fail(node.line, where, f"unknown value {value!r}{hint}; one of {', '.join(choices)}")
        return value

    def _on(self, data: Dict[str, _Node], where: str, line: int, kind: str) -> Tuple[str, ...]:
        if "on" not in data:
            return DEFAULT_ON[kind]
        node = data["on"]
        items = node.value if isinstance(node.value, list) else [node]
        if not items:
            raise self.fail(node.line, f"{where}.on", f"an empty list; some of {', '.join(ON_CHOICES[kind])}")
        return tuple(dict.fromkeys(self._choice(item, f"{where}.on", ON_CHOICES[kind]) for item in items))

    def _codes(self, data: Dict[str, _Node], where: str, line: int, required: bool) -> Tuple[str, ...]:
        if "codes" not in data:
            if required:
                raise self.fail(line, f"{where}.codes", "missing: a list of 6-digit codes, or \"*\" for every code")
            return ()
        node = data["codes"]
        items = [node] if not isinstance(node.value, list) else node.value
        if not items:
            raise self.fail(node.line, f"{where}.codes", "an empty list never fires; give codes or \"*\"")
        codes: List[str] = []
        for item in items:
            value = item.value
            if value == ALL_CODES:
                codes.append(ALL_CODES)
            elif isinstance(value, str) and _CODE.match(value):
                codes.append(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                raise self.fail(item.line, f"{where}.codes", f"{value!r} is a number: quote codes (\"005930\"); "
                                "YAML reads 000660 as an octal number")
            else:
                raise self.fail(item.line, f"{where}.codes", f"{value!r} is not a 6-digit code or \"*\"")
        return tuple(dict.fromkeys(codes))

    def _names(self, node: _Node, where: str, pattern: re.Pattern[str], what: str,
               allow_all: bool = False) -> Tuple[str, ...]:
        items = node.value if isinstance(node.value, list) else [node]
        if not items:
            raise self.fail(node.line, where, f"an empty list; give {what}")
        out = []
        for item in items:
            value = item.value
            if allow_all and value == ALL_CODES:
                out.append(ALL_CODES)
            elif isinstance(value, str) and pattern.match(value):
                out.append(value)
            else:
                raise self.fail(item.line, where, f"{value!r}: expected {what}")
        return tuple(dict.fromkeys(out))

    def _notify(self, node: _Node, where: str) -> Tuple[str, ...]:
        names = self._names(node, where, _SERVICE, "notifier names") if node.value != [] else ()
        if self.notifiers is not None:
            for item, name in zip(node.value if isinstance(node.value, list) else [node], names):
                if name not in self.notifiers:
                    known = ", ".join(sorted(self.notifiers)) or "none configured"
                    raise self.fail(item.line, where,
                                    f"unknown notifier {name!r}{_suggest(name, sorted(self.notifiers))}; "
                                    f"configured: {known}")
        return names

    def _number(self, node: _Node, where: str, positive: bool = False) -> float:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.fail(node.line, where, f"{value!r} is not a number")
        if positive and value <= 0:
            raise self.fail(node.line, where, f"{value!r} must be above 0")
        return int(value) if isinstance(value, int) or float(value).is_integer() else float(value)

    def _required_number(self, data: Dict[str, _Node], key: str, where: str, line: int,
                         positive: bool = False) -> float:
        if key not in data:
            raise self.fail(line, f"{where}.{key}", "missing")
        return self._number(data[key], f"{where}.{key}", positive)

    def _duration(self, node: _Node, where: str, allow_zero: bool = False) -> float:
        seconds = parse_duration(node.value)
        if seconds is None or (seconds == 0 and not allow_zero):
            raise self.fail(node.line, where, f"{node.value!r} is not a duration: a number of seconds or "
                            "\"500ms\", \"30s\", \"5m\", \"1h\"" + ("" if allow_zero else ", above 0"))
        return seconds

    def _between(self, node: _Node, where: str) -> Tuple[time, time]:
        items = node.value if isinstance(node.value, list) else None
        if items is None or len(items) != 2:
            raise self.fail(node.line, where, "two times of day (KST): [\"09:00\", \"15:30\"]")
        out = []
        for item in items:
            parsed = _time_of_day(item.value)
            if parsed is None:
                hint = " (quote it: YAML reads 15:30 as a number)" if isinstance(item.value, int) else ""
                raise self.fail(item.line, where, f"{item.value!r} is not a time of day \"HH:MM\"{hint}")
            out.append(parsed)
        if out[0] == out[1]:
            raise self.fail(node.line, where, "an empty window (start equals end)")
        return out[0], out[1]

    # -- metadata ------------------------------------------------------------------------------------
    def _realtype(self, data: Dict[str, _Node], where: str, kind: str) -> str:
        if "type" not in data:
            return DEFAULT_TYPE[kind]
        node = data["type"]
        slugs = [rt.slug for rt in self.catalog.realtypes()]
        if not isinstance(node.value, str) or node.value not in slugs:
            raise self.fail(node.line, f"{where}.type", f"unknown realtime type {node.value!r}"
                            f"{_suggest(str(node.value), slugs)}; `koabus meta list-realtypes` lists them")
        return node.value

    def _type_fields(self, slug: str) -> Dict[str, str]:
        """English FID name -> value kind, for realtime type `slug`."""
        out: Dict[str, str] = {}
        for fid in self.catalog.realtype(slug).fids:
            if self.catalog.has_fid(fid):
                spec = self.catalog.fid(fid)
                out[spec.name_en] = spec.kind
        return out

    def _fid_field(self, data: Dict[str, _Node], where: str, slug: str, default: str) -> str:
        fields = self._type_fields(slug)
        node = data.get("field")
        name = default if node is None else node.value
        line = node.line if node is not None else data["id"].line
        if not isinstance(name, str) or name not in fields:
            raise self.fail(line, f"{where}.field", f"{name!r} is not a field of realtime type {slug!r}"
                            f"{_suggest(str(name), list(fields))}")
        if fields[name] not in NUMERIC_FID_KINDS:
            raise self.fail(line, f"{where}.field", f"{name!r} is {fields[name]!r}, not a number")
        return name

    def _template_fields(self, rule: Rule) -> FrozenSet[str]:
        names = set(COMMON_FIELDS) | set(KIND_FIELDS[rule.kind]) | set(rule.params())
        if rule.kind in REALTIME_KINDS:
            names |= set(self._type_fields(rule.type))
        elif rule.kind == "order":
            names |= set(self._type_fields("order"))
        return frozenset(names)

    def _template(self, node: _Node, where: str, fields: FrozenSet[str]) -> str:
        text = node.value
        if not isinstance(text, str):
            raise self.fail(node.line, where, "a template is text, e.g. \"{name} {code} at {current_price:,}\"")
        try:
            names = template_fields(text)
        except ValueError as exc:
            raise self.fail(node.line, where, f"{exc} in {text!r}") from None
        for name in names:
            if name not in fields:
                raise self.fail(node.line, where, f"unknown template field {{{name}}}{_suggest(name, sorted(fields))}")
        return text


_FIELD_OF = {"cooldown": "cooldown_s"}


def template_fields(text: str) -> List[str]:
    """The field names `text` uses; ValueError for what a template may not do (positional, attribute, index)."""
    names: List[str] = []
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is None:
            continue
        if not name.isidentifier():
            raise ValueError(f"{{{name}}} is not a plain field name (no positions, attributes or indexes)")
        if spec and ("{" in spec or "}" in spec):
            raise ValueError(f"nested fields in the format of {{{name}}}")
        names.append(name)
    return names


def parse_duration(value: Any) -> Optional[float]:
    """Seconds of `value` (a number of seconds, or "500ms", "30s", "5m", "1h"); None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 and value == value else None
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def _time_of_day(value: Any) -> Optional[time]:
    if not isinstance(value, str):
        return None
    match = _HHMM.match(value.strip())
    if match is None:
        return None
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour == 24 and minute == 0 and second == 0:
        return time.max
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
