"""Condition searches (조건검색) evaluated on the simulated market at an instant.

The condition list is data: each condition has an index, a name and a `formula`, a boolean
expression over per-stock fields (`FIELDS`), optionally a `rank` expression (highest first) and a
`limit`. The default set (`DEFAULT_CONDITIONS`) can be replaced from YAML (`load_conditions`), so
a user's saved conditions (KOAPY's README uses 대형 저평가 우량주 and 중소형 저평가주) can exist in
the simulator under their own names. Formulas are parsed once with `ast` and walked over a fixed
whitelist (names, numbers, comparisons, and/or/not, + - * /, min/max/abs): never eval'd.

Membership depends on intraday prices and volumes, so it changes during the day; diffing two
evaluations gives the realtime I (in) / D (out) signals. Results are deterministic code lists.
"""
from __future__ import annotations

import ast
import operator
import threading
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from koabus.common.errors import NotFound

from .intraday import expected_volume_fraction
from .market import Instant, Market
from .models import TradingState
from .streams import TAG_CONDITION, code_key, stream

#: the per-stock fields a formula can use, and what they mean
FIELDS: Dict[str, str] = {
    "price": "last regular-session price (KRW)",
    "high": "today's high (KRW)",
    "volume": "today's volume (shares)",
    "rate": "change from the reference price (%)",
    "shares": "listed shares",
    "market_cap": "shares x price (KRW)",
    "avg_volume_20": "mean volume of the previous 20 sessions",
    "high_250": "highest price of the previous 250 sessions (adjusted)",
    "ma20": "mean close of the previous 20 sessions (adjusted)",
    "volume_ratio": "today's volume / the volume expected by this time of day (avg_volume_20 x profile)",
    "pbr": "price-to-book ratio (fixed per code; the simulator has no balance sheets)",
    "roe": "return on equity (%, fixed per code)",
    "per": "price-to-earnings ratio (pbr / roe x 100)",
}


@dataclass(frozen=True)
class ConditionSpec:
    """One saved condition: stocks for which `formula` holds, ranked by `rank` (highest first,
    then by code) when given, at most `limit` of them when > 0."""

    index: int
    name: str
    formula: str
    rank: str = ""
    limit: int = 0

    def __post_init__(self) -> None:
        if not 0 <= int(self.index) <= 999:
            raise ValueError(f"condition index must be 0-999, not {self.index!r}")
        if not str(self.name).strip() or any(c in str(self.name) for c in "^;"):
            raise ValueError(f"condition name must be non-empty without '^' or ';': {self.name!r}")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "limit", int(self.limit or 0))
        compile_formula(self.formula)
        if self.rank:
            compile_formula(self.rank)


# ---- formulas ---------------------------------------------------------------------------------

_BINARY: Dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
}
_COMPARE: Dict[type, Callable[[Any, Any], bool]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
_FUNCTIONS: Dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}

Formula = Callable[[Mapping[str, float]], Any]


def compile_formula(text: str) -> Formula:
    """A function of the field values; ValueError naming what is not allowed."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"condition formula {text!r}: {exc.msg}") from None
    return _compile(tree.body, str(text))


def _compile(node: ast.AST, text: str) -> Formula:  # noqa: C901 - one branch per allowed node
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        value = node.value
        return lambda f: value
    if isinstance(node, ast.Name):
        if node.id not in FIELDS:
            raise ValueError(f"condition formula {text!r}: unknown field {node.id!r} (fields: {', '.join(FIELDS)})")
        name = node.id
        return lambda f: f[name]
    if isinstance(node, ast.BoolOp):
        parts = [_compile(v, text) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda f: all(p(f) for p in parts)
        return lambda f: any(p(f) for p in parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        inner = _compile(node.operand, text)
        if isinstance(node.op, ast.Not):
            return lambda f: not inner(f)
        return lambda f: -inner(f)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op, left, right = _BINARY[type(node.op)], _compile(node.left, text), _compile(node.right, text)
        return lambda f: _safe_binary(op, left(f), right(f))
    if isinstance(node, ast.Compare) and all(type(o) in _COMPARE for o in node.ops):
        first = _compile(node.left, text)
        rest = [(_COMPARE[type(o)], _compile(c, text)) for o, c in zip(node.ops, node.comparators)]
        return lambda f: _chain(first(f), [(op, part(f)) for op, part in rest])
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS \
            and not node.keywords and node.args:
        func, args = _FUNCTIONS[node.func.id], [_compile(a, text) for a in node.args]
        return lambda f: func(*(a(f) for a in args)) if len(args) > 1 else func(args[0](f))
    raise ValueError(f"condition formula {text!r}: {type(node).__name__} is not allowed "
                     "(use fields, numbers, comparisons, and/or/not, + - * /, min/max/abs)")


def _safe_binary(op: Callable[[Any, Any], Any], a: Any, b: Any) -> Any:
    if op is operator.truediv and b == 0:
        return 0.0
    return op(a, b)


def _chain(value: Any, rest: List[Tuple[Callable[[Any, Any], bool], Any]]) -> bool:
    for op, other in rest:
        if not op(value, other):
            return False
        value = other
    return True


DEFAULT_CONDITIONS: Tuple[ConditionSpec, ...] = (
    ConditionSpec(0, "거래량급증", "volume > 0 and volume_ratio >= 2.0", rank="volume_ratio"),
    ConditionSpec(1, "52주신고가근접", "volume > 0 and high_250 > 0 and price >= 0.95 * max(high_250, high)"),
    ConditionSpec(2, "중소형 저평가주", "market_cap < 10e12 and pbr < 1.2 and price < ma20"),
    ConditionSpec(3, "상승률상위", "volume > 0 and rate > 0", rank="rate", limit=10),
    ConditionSpec(4, "대형 저평가 우량주", "market_cap >= 5e12 and pbr < 1.0 and roe >= 10"),
)

# ---- loading ----------------------------------------------------------------------------------

def load_conditions(source: Any) -> Tuple[ConditionSpec, ...]:
    """Condition specs from `source`: None (the defaults), a YAML file path, a YAML text, or the
    parsed shapes (a list of mappings, or a mapping with a `conditions` list)."""
    if source is None:
        return DEFAULT_CONDITIONS
    if isinstance(source, str):
        source = _read_yaml(source)
    if isinstance(source, Mapping):
        source = source.get("conditions")
    if not isinstance(source, (list, tuple)) or not source:
        raise ValueError("conditions: expected a non-empty list of {index, name, formula[, rank, limit]}")
    specs = tuple(s if isinstance(s, ConditionSpec) else _spec(s) for s in source)
    for key in ("index", "name"):
        values = [getattr(s, key) for s in specs]
        if len(set(values)) != len(values):
            raise ValueError(f"conditions: duplicate {key}")
    return tuple(sorted(specs, key=lambda s: s.index))


def _spec(item: Any) -> ConditionSpec:
    if not isinstance(item, Mapping):
        raise ValueError(f"conditions: each condition is a mapping, not {item!r}")
    unknown = set(item) - {"index", "name", "formula", "rank", "limit"}
    if unknown or not {"index", "name", "formula"} <= set(item):
        raise ValueError(f"conditions: {dict(item)!r} needs index, name and formula "
                         f"(and may have rank, limit){'; unknown: ' + ', '.join(sorted(unknown)) if unknown else ''}")
    return ConditionSpec(int(item["index"]), str(item["name"]), str(item["formula"]), str(item.get("rank") or ""),
                         int(item.get("limit") or 0))


def _read_yaml(text: str) -> Any:
    import yaml  # PyYAML: one of the broker's allowed dependencies

    if "\n" not in text and text.strip().endswith((".yaml", ".yml")):
        with open(text, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    return yaml.safe_load(text)


# ---- evaluation -------------------------------------------------------------------------------

class _Fields(dict):
    """The field values of one stock at one instant, computed on first use."""

    def __init__(self, conditions: Conditions, q: TradingState, day: date, progress: Optional[float]):
        super().__init__(price=q.last, high=q.high, volume=q.volume, rate=q.rate)
        self._conditions, self._q, self._day, self._progress = conditions, q, day, progress

    def __missing__(self, key: str) -> float:
        q, c = self._q, self._conditions
        if key in ("shares", "market_cap"):
            shares = c.market.instrument(q.code).shares
            self["shares"], self["market_cap"] = shares, float(shares) * q.last
        elif key in ("avg_volume_20", "high_250", "ma20", "volume_ratio"):
            avg, high, ma20 = c._day_stats(q.code, self._day)
            self["avg_volume_20"], self["high_250"], self["ma20"] = avg, high, ma20
            expected = avg * self._progress if self._progress else 0.0
            self["volume_ratio"] = q.volume / expected if expected else 0.0
        elif key in ("pbr", "roe", "per"):
            pbr, roe = _ratios(c.market.seed, q.code)
            self["pbr"], self["roe"], self["per"] = pbr, roe, (pbr / roe * 100.0 if roe else 0.0)
        return dict.__getitem__(self, key)


class Conditions:
    """The condition list and its evaluation. Stocks only (no ETFs, no indices)."""

    def __init__(self, market: Market, specs: Optional[Iterable[ConditionSpec]] = None):
        self.market = market
        self.specs: Tuple[ConditionSpec, ...] = load_conditions(list(specs) if specs is not None else None)
        self._compiled: Dict[int, Tuple[Formula, Optional[Formula]]] = {
            s.index: (compile_formula(s.formula), compile_formula(s.rank) if s.rank else None) for s in self.specs}
        self._stats: Dict[Tuple[str, int], Tuple[float, int, float]] = {}
        self._lock = threading.Lock()

    def conditions(self) -> List[Tuple[int, str]]:
        return [(s.index, s.name) for s in self.specs]

    def spec(self, index: int) -> ConditionSpec:
        for s in self.specs:
            if s.index == index:
                return s
        raise NotFound(f"no condition with index {index}")

    def name(self, index: int) -> str:
        return self.spec(index).name

    def evaluate(self, index: int, t: Instant = None) -> List[str]:
        """Codes meeting condition `index` at instant t (default: the clock), in a stable order."""
        spec = self.spec(index)
        test, rank = self._compiled[spec.index]
        ts = self.market._ts(t)
        day = self.market.session_date(ts)
        progress = self._progress(day, ts)
        hits: List[Tuple[float, str]] = []
        for code in self._stocks(day):
            fields = _Fields(self, self.market.trading_state(code, ts), day, progress)
            if test(fields):
                hits.append((-float(rank(fields)) if rank else 0.0, code))
        if rank:
            hits.sort()
        codes = [code for _, code in hits]
        return codes[:spec.limit] if spec.limit > 0 else codes

    # -- helpers -------------------------------------------------------------------------------
    def _progress(self, day: date, ts: float) -> Optional[float]:
        """The fraction of a day's volume expected by `ts` (None on a day without a session)."""
        times = self.market.session_times(day)
        if times is None:
            return None
        span = times.t("closing_auction") - times.open_t
        return expected_volume_fraction((ts - times.open_t) / span)

    def _stocks(self, day: date) -> List[str]:
        return [i.code for i in self.market.listing.instruments() if i.kind == "stock" and i.listed_date < day]

    def _day_stats(self, code: str, day: date) -> Tuple[float, int, float]:
        """(average volume of the previous 20 sessions, previous 250-session high, 20-day mean close)."""
        key = (code, day.toordinal())
        with self._lock:
            if key in self._stats:
                return self._stats[key]
        h = self.market.history(code)
        i = h.index_on_or_before(self.market.calendar.previous_session(day))
        bars = h.bars_at(i - 249, i, adjusted=True)
        last20 = bars[-20:] or bars
        stats = (
            sum(b.volume for b in last20) / max(1, len(last20)),
            max((b.high for b in bars), default=0),
            sum(b.close for b in last20) / max(1, len(last20)),
        )
        with self._lock:
            self._stats[key] = stats
        return stats


def _ratios(seed: int, code: str) -> Tuple[float, float]:
    """A fixed, plausible (price-to-book, ROE %) per code (the simulator has no balance sheets)."""
    rng = stream(seed, TAG_CONDITION, code_key(code))
    pbr = float(rng.uniform(0.3, 3.0))  # first draw: the book ratio the conditions have always used
    return pbr, float(rng.uniform(0.0, 25.0))


def diff(before: Optional[List[str]], after: List[str]) -> Tuple[List[str], List[str]]:
    """(entered, left) between two evaluations, each in the order of the evaluation it comes from."""
    prev = set(before or [])
    now = set(after)
    return [c for c in after if c not in prev], [c for c in (before or []) if c not in now]


def condition_fields() -> Sequence[Tuple[str, str]]:
    """(field, meaning) pairs, for documentation and error messages."""
    return tuple(FIELDS.items())
