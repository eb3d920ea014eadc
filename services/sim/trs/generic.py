"""Placeholder answers for TRs the simulator has no model of (TRs imported from an install's .enc files).

The broker serves every TR the metadata describes; on the simulated control a TR without a responder
of its own gets rows shaped by its spec instead of a refusal, so code written against an imported TR
runs end to end. The values are PLACEHOLDERS, not market data (docs/simulator.md says so):

- one page (no continuation): the single record, and for the multi record its page size capped at
  MAX_ROWS (a variable-size record gets VARIABLE_ROWS; a non-repeating block one row); a count field
  named by the spec holds the row count;
- each value is in the format its field's kind asks for (`values.py`); a field of kind `str` (what an
  import gives fields it cannot name) takes a kind from its Korean name (일자 date, 시간 time, 율/률
  rate, 가 price, 량/금액 amount, 코드 code, 명 name);
- values are deterministic: seeded by TR, field, row and inputs; prices are the simulated last price
  of the requested code (종목코드 input, else one listed stock per row), moved a few ticks per row;
  dates count back over weekdays from the request's date (or a date input), times back from its time.
"""
from __future__ import annotations

import random
import zlib
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional

from .. import formats as fmt
from .base import TrPage, TrRequest

#: most rows a placeholder page holds
MAX_ROWS = 20
#: rows of a record whose size is given by a count field (rows_per_page None)
VARIABLE_ROWS = 10

_NAME_KINDS = (  # (name fragment, kind) for `str` fields, first match wins; order matters (일자 before 자)
    ("일자", "date"), ("날짜", "date"), ("일시", "datetime"), ("시간", "time"), ("시각", "time"),
    ("코드", "code"), ("종목번호", "code"), ("번호", "number"), ("구분", "flag"), ("부호", "flag"),
    ("기호", "flag"), ("여부", "flag"), ("율", "float"), ("률", "float"), ("(%)", "float"), ("비중", "float"),
    ("명", "name"), ("금액", "int"), ("대금", "int"), ("잔고", "int"), ("량", "int"), ("수", "int"),
    ("가", "price"), ("대비", "signed"),
)


def respond(world: Any, req: TrRequest) -> TrPage:
    """The placeholder page for `req.spec` (any TR the catalog describes)."""
    spec = req.spec
    code = _requested_code(req)
    rows_wanted = _row_count(spec)
    rows = [_row(world, req, spec.multi_outputs, index, code) for index in range(rows_wanted)]
    single = _row(world, req, spec.single_outputs, 0, code, record="single")
    if spec.count_field and spec.count_field in single:
        single[spec.count_field] = str(len(rows))
    return TrPage(single=single, rows=rows)


def _row_count(spec: Any) -> int:
    if not spec.multi_outputs:
        return 0
    if spec.rows_per_page == 0:
        return 1
    if spec.rows_per_page is None:
        return VARIABLE_ROWS
    return min(spec.rows_per_page, MAX_ROWS)


def _requested_code(req: TrRequest) -> str:
    for name, value in req.inputs.items():
        text = str(value).strip()
        if "코드" in name and len(text) == 6 and text.isalnum():
            return text
    return ""


def _row(world: Any, req: TrRequest, fields: Any, index: int, code: str, record: str = "multi") -> Dict[str, str]:
    row_code = code or _listed_code(world, req, index)
    inputs = ";".join(f"{k}={v}" for k, v in sorted(req.inputs.items()))
    out: Dict[str, str] = {}
    for field in fields:
        rng = random.Random(zlib.crc32(f"{req.tr_code}|{record}|{field.name}|{index}|{inputs}".encode()))
        out[field.name] = _value(world, req, field, index, row_code, rng)
    return out


def _listed_code(world: Any, req: TrRequest, index: int) -> str:
    codes = world.stock_codes()
    if not codes:
        return ""
    return codes[(zlib.crc32(req.tr_code.encode()) + index) % len(codes)]


def kind_of(field: Any) -> str:
    """The value kind a placeholder takes: the field's own, or one read from its Korean name."""
    if field.kind != "str":
        return field.kind
    for fragment, kind in _NAME_KINDS:
        if fragment in field.name:
            return kind
    return "str"


def _value(world: Any, req: TrRequest, field: Any, index: int, code: str, rng: random.Random) -> str:
    kind = kind_of(field)
    if kind == "code":
        return code
    if kind == "name":
        inst = world.instrument(code) if code else None
        return inst.name if inst is not None else f"{field.name}{index + 1}"
    if kind == "price":
        return _price(world, req, code, index, rng)
    if kind in ("date", "datetime", "time", "maybe_time"):
        return _when(req, kind, index)
    if kind == "int":
        return str(rng.randrange(0, 1_000_000))
    if kind == "signed":
        return fmt.signed(rng.randrange(-5_000, 5_001))
    if kind == "float":
        return fmt.rate(rng.uniform(-10.0, 10.0))
    if kind == "bool":
        return rng.choice(("0", "1"))
    if kind == "flag":
        return str(rng.randrange(1, 6))
    if kind == "number":
        return str(rng.randrange(1, 10_000_000)).zfill(7)
    return f"{field.name}{index + 1}"


def _price(world: Any, req: TrRequest, code: str, index: int, rng: random.Random) -> str:
    """The code's simulated price (a plausible one when it has none), moved a few ticks per row."""
    try:
        last = int(world.last_price(code, req.t)) if code else 0
        ref = int(world.reference_price(code, req.t)) if code else 0
    except Exception:  # a code the market does not list (an index, a future): any plausible price
        last = ref = 0
    if last <= 0:
        last = ref = 10_000
    tick = _tick(last)
    price = max(tick, last + tick * (rng.randrange(-3, 4) if index else 0))
    return fmt.price_vs(price, ref or price)


def _tick(price: int) -> int:
    for limit, tick in ((2_000, 1), (5_000, 5), (20_000, 10), (50_000, 50), (200_000, 100), (500_000, 500)):
        if price < limit:
            return tick
    return 1_000


def _when(req: TrRequest, kind: str, index: int) -> str:
    start = fmt.from_epoch(req.t)
    day = _back_weekdays(_input_date(req) or start.date(), index)
    moment = start - timedelta(seconds=17 * index)
    if kind == "date":
        return day.strftime("%Y%m%d")
    if kind == "datetime":
        return day.strftime("%Y%m%d") + moment.strftime("%H%M%S")
    return moment.strftime("%H%M%S")


def _input_date(req: TrRequest) -> Optional[date]:
    for name, value in req.inputs.items():
        text = str(value).strip()
        if "일" in name and len(text) == 8 and text.isdigit():
            try:
                return datetime.strptime(text, "%Y%m%d").date()
            except ValueError:
                return None
    return None


def _back_weekdays(day: date, count: int) -> date:
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    for _ in range(count):
        day -= timedelta(days=1)
        while day.weekday() >= 5:
            day -= timedelta(days=1)
    return day


__all__: List[str] = ["respond", "kind_of", "MAX_ROWS", "VARIABLE_ROWS"]
