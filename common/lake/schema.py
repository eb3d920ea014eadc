"""What the lake's rows look like: Arrow schemas from the metadata catalog, and publications -> Arrow.

Every bus table (rt_*, ch_*, cond, sys, alerts) starts with the same envelope columns (`COMMON_FIELDS`),
then its own: one column per FID for realtime and chejan tables, named and typed from the catalog
exactly as the broker names them on the wire (docs/recorder.md, "Schemas"). `to_arrow` is the
recorder's hot path, so it works column by column: one C-level pass pulls each field out of every
publication, and a column is checked for stray types once, not value by value. A value that does
not fit its column (blank, garbage, wrong type) becomes null; a row is never dropped.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pyarrow as pa

from koabus.common.errors import NotFound
from koabus.common.lake import layout
from koabus.common.protocol.publication import Publication
from koabus.metadata.catalog import catalog

TZ = "Asia/Seoul"
SCHEMA_VERSION = "1"
_KST = timezone(timedelta(hours=9))  # Korea keeps no daylight saving time: a fixed offset is exact
_KST_OFFSET_NS = 9 * 3600 * 1_000_000_000
_DAY_NS = 86400 * 1_000_000_000
_EPOCH_DATE = date(1970, 1, 1)

TIMESTAMP_NS = pa.timestamp("ns", tz=TZ)
TIMESTAMP_S = pa.timestamp("s", tz=TZ)

#: Arrow type of each metadata value kind (docs/metadata.md)
KIND_TYPES: Dict[str, pa.DataType] = {
    "int": pa.int64(), "price": pa.int64(), "signed": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(), "code": pa.string(),
    "date": pa.date32(),
    "time": pa.time32("s"), "maybe_time": pa.time32("s"),
    "datetime": TIMESTAMP_S,
    "bool": pa.bool_(),
}

#: FIDs whose values carry fractions in these tables (sector index points, futures and option
#: prices), stored as float64 although their kind is price/signed; float64 holds whole KRW exactly
FRACTIONAL_FIDS: Dict[str, frozenset] = {
    "rt_index": frozenset({10, 11, 16, 17, 18}),
    "rt_index_breadth": frozenset({10, 11}),
    "ch_order": frozenset({10, 27, 28, 901, 910, 914, 10010}),
    "ch_fo_balance": frozenset({10, 27, 28, 305, 306, 307, 931}),
}

COMMON_FIELDS: Tuple[pa.Field, ...] = (
    pa.field("event_time", TIMESTAMP_NS, nullable=True),
    pa.field("recv_time", TIMESTAMP_NS, nullable=False),
    pa.field("epoch", pa.int64(), nullable=False),
    pa.field("seq", pa.int64(), nullable=False),
    pa.field("topic_seq", pa.int64(), nullable=False),
    pa.field("topic", pa.string(), nullable=False),
    pa.field("code", pa.string(), nullable=False),
    pa.field("snapshot", pa.bool_(), nullable=False),
)

GAPS_FIELDS: Tuple[pa.Field, ...] = (
    pa.field("detected_time", TIMESTAMP_NS, nullable=False),
    pa.field("topic", pa.string(), nullable=False),
    pa.field("epoch", pa.int64(), nullable=False),
    pa.field("first_seq", pa.int64(), nullable=False),
    pa.field("last_seq", pa.int64(), nullable=False),
    pa.field("missing", pa.int64(), nullable=False),
    pa.field("kind", pa.string(), nullable=False),
    pa.field("cause", pa.string(), nullable=True),
    pa.field("repaired", pa.bool_(), nullable=False),
    pa.field("from_time", TIMESTAMP_NS, nullable=True),
    pa.field("to_time", TIMESTAMP_NS, nullable=True),
)
GAP_KINDS = ("gap", "epoch", "restart", "overflow")

CHEJAN_GUBUN = {"order": "0", "balance": "1", "fo_balance": "4"}
#: the text fields of an alert body (services/alerting/alert.py Alert.to_body) kept as string columns
ALERT_TEXT_FIELDS = ("rule", "kind", "severity", "title", "text", "dedup_key")
SYS_KINDS = ("conn", "throttle", "msg", "reject")

# ---- history (TR downloads, written by `koabus sync`)

#: history column -> the English TR output field it comes from (opt10081 daily, opt10080 minute)
HISTORY_SOURCES: Dict[str, str] = {
    "date": "date", "time": "trade_time",
    "open": "open", "high": "high", "low": "low", "close": "current_price",
    "volume": "volume", "value": "trade_value",
    "adjustment_flags": "adjustment_flags", "adjustment_ratio": "adjustment_ratio",
    "adjustment_event": "adjustment_event", "prev_close": "prev_close",
}
_HISTORY_TAIL: Tuple[pa.Field, ...] = (
    pa.field("open", pa.int64()), pa.field("high", pa.int64()), pa.field("low", pa.int64()),
    pa.field("close", pa.int64()), pa.field("volume", pa.int64()),
    pa.field("value", pa.int64(), nullable=True),  # trading value in million KRW, as the TR gives it
    pa.field("adjusted", pa.bool_(), nullable=True),  # prices requested adjusted (수정주가구분 = 1)
    pa.field("adjustment_flags", pa.int64(), nullable=True),
    pa.field("adjustment_ratio", pa.float64(), nullable=True),
    pa.field("adjustment_event", pa.string(), nullable=True),
    pa.field("prev_close", pa.int64(), nullable=True),
)
HISTORY_DAILY_FIELDS: Tuple[pa.Field, ...] = (
    pa.field("code", pa.string(), nullable=False), pa.field("date", pa.date32(), nullable=False),
) + _HISTORY_TAIL
HISTORY_MINUTE_FIELDS: Tuple[pa.Field, ...] = (
    pa.field("code", pa.string(), nullable=False), pa.field("time", TIMESTAMP_S, nullable=False),
) + _HISTORY_TAIL


# ---- column specs

@dataclass(frozen=True)
class Column:
    """One table column after the common ones: its name, where the value comes from, how it converts.

    `key` is the key in the publication body's `values` map (realtime, chejan) or in the body itself;
    `kind` a metadata value kind, or 'json' (the whole mapping as JSON text).
    """

    name: str
    key: str
    kind: str
    type: pa.DataType


def fid_columns(fids: Iterable[int], fractional: Iterable[int] = (), taken: Iterable[str] = ()) -> List[Column]:
    """Columns for FIDs, reading the values the broker names on the wire (services/broker/decoding.py):

    the catalog's English name (or 'fid_<n>' when it has none), a '_<fid>' suffix on a repeated
    name, kind 'str' for a FID the catalog does not know. A column whose name is `taken` already
    (chejan's account / order_no / code FIDs beside the envelope columns) gets the '_<fid>' suffix
    too, keeping its wire name as the key. FIDs in `fractional` become float64.
    """
    cat = catalog()
    fractional = frozenset(fractional)
    used = set(taken)
    columns: List[Column] = []
    seen = set()
    for fid in fids:
        if cat.has_fid(fid):
            meta = cat.fid(fid)
            wire, kind = meta.name_en or f"fid_{fid}", meta.kind
        else:
            wire, kind = f"fid_{fid}", "str"
        if wire in seen:
            wire = f"{wire}_{fid}"
        seen.add(wire)
        name = wire if wire not in used else f"{wire}_{fid}"
        used.add(name)
        arrow_type = KIND_TYPES.get(kind, pa.string())
        if fid in fractional and kind in ("int", "price", "signed"):
            arrow_type = pa.float64()
        columns.append(Column(name, wire, kind if kind in KIND_TYPES else "str", arrow_type))
    return columns


@dataclass(frozen=True)
class TableSpec:
    """A bus table: which publications feed it and the columns that follow the common ones."""

    table: str
    group: str  # rt | ch | cond | sys | alerts
    columns: Tuple[Column, ...]
    schema: pa.Schema


def _metadata(table: str) -> Dict[bytes, bytes]:
    return {b"koabus.table": table.encode(), b"koabus.schema_version": SCHEMA_VERSION.encode()}


def _bus_spec(table: str) -> TableSpec:
    layout.folder_of(table)  # NotFound for names the lake does not know
    group, _, rest = table.partition("_")
    if group == "rt":
        try:
            realtype = catalog().realtype(rest)
        except NotFound:
            realtype = None
        if realtype is not None and (realtype.slug or realtype.gidc) == rest:
            columns = fid_columns(realtype.fids, FRACTIONAL_FIDS.get(table, ()), [f.name for f in COMMON_FIELDS])
        else:  # a type newer than our catalog: keep its values whole rather than lose them
            columns = [Column("values", "values", "json", pa.string())]
    elif group == "ch":
        columns = [Column(n, n, "str", pa.string()) for n in ("account", "gubun", "order_no", "client_order_id")]
        taken = [f.name for f in COMMON_FIELDS] + [c.name for c in columns] + ["raw"]
        columns += fid_columns(catalog().chejan_fids(CHEJAN_GUBUN[rest]), FRACTIONAL_FIDS.get(table, ()), taken)
        columns.append(Column("raw", "raw", "json", pa.string()))
        group = "ch"
    elif table == "cond":
        columns = [Column("index", "index", "int32", pa.int32()), Column("name", "name", "str", pa.string()),
                   Column("kind", "kind", "str", pa.string())]
    elif table == "sys":
        columns = [Column("kind", "kind", "str", pa.string()), Column("body", "body", "json", pa.string())]
    elif table == "alerts":
        columns = [Column(n, n, "str", pa.string()) for n in ALERT_TEXT_FIELDS]
        columns += [Column("values", "values", "json", pa.string()), Column("notify", "notify", "names", pa.string())]
    else:
        raise NotFound(f"table {table!r} is not filled from publications")
    fields = list(COMMON_FIELDS) + [pa.field(c.name, c.type, nullable=True) for c in columns]
    return TableSpec(table, group, tuple(columns), pa.schema(fields, metadata=_metadata(table)))


_SPECS: Dict[str, TableSpec] = {}
_SPECS_LOCK = threading.Lock()


def table_spec(table: str) -> TableSpec:
    """The cached spec of a bus table; NotFound for gaps/history or unknown names."""
    spec = _SPECS.get(table)
    if spec is None:
        spec = _bus_spec(table)
        with _SPECS_LOCK:
            _SPECS[table] = spec
    return spec


@lru_cache(maxsize=None)
def arrow_schema(table: str) -> pa.Schema:
    """The Arrow schema of any lake table: rt_<slug>, ch_<kind>, cond, sys, gaps, history_*."""
    if table == "gaps":
        return pa.schema(GAPS_FIELDS, metadata=_metadata(table))
    if table == layout.HISTORY_DAILY:
        return pa.schema(HISTORY_DAILY_FIELDS, metadata=_metadata(table))
    if table.startswith(layout.HISTORY_MINUTE_PREFIX):
        layout.minute_interval(table)
        return pa.schema(HISTORY_MINUTE_FIELDS, metadata=_metadata(table))
    return table_spec(table).schema


# ---- topics and dates

def table_of(topic: str) -> Optional[str]:
    """The lake table a topic is recorded in: 'rt.trade.005930' -> 'rt_trade', 'ch.<acct>.order' ->
    'ch_order', 'cond.3' -> 'cond', 'sys.conn' -> 'sys', 'alert.<rule>' -> 'alerts'; None for what is
    not recorded (heartbeats
    `sys.hb*`, `sys.status`) and for topics no table fits.
    """
    head, _, rest = topic.partition(".")
    if head == "rt":
        slug = rest.partition(".")[0]
        table = f"rt_{slug}"
        return table if slug and layout._SLUG.match(slug) else None
    if head == "ch":
        kind = rest.rpartition(".")[2]
        return f"ch_{kind}" if kind in CHEJAN_GUBUN and "." in rest else None
    if head == "cond":
        return "cond" if rest else None
    if head == "sys":
        return "sys" if rest in SYS_KINDS else None
    if head == "alert":
        return "alerts" if rest else None
    return None


_DATE_TEXT: Dict[int, str] = {}


def date_of_ns(ns: int) -> str:
    """'YYYY-MM-DD' of an epoch-nanosecond instant in Korea (KST, UTC+9)."""
    day = (ns + _KST_OFFSET_NS) // _DAY_NS
    text = _DATE_TEXT.get(day)
    if text is None:
        text = (_EPOCH_DATE + timedelta(days=day)).isoformat()
        if len(_DATE_TEXT) > 10_000:
            _DATE_TEXT.clear()
        _DATE_TEXT[day] = text
    return text


def trading_date(pub: Publication) -> str:
    """The KST trading date of a publication's row: from its exchange time if known, else receive time."""
    ns = pub.event_ns if pub.event_ns is not None else pub.recv_ns
    return date_of_ns(ns)


def group_publications(pubs: Iterable[Publication]) -> Dict[Tuple[str, str], List[Publication]]:
    """Publications by (table, trading date), arrival order kept; unrecorded topics left out."""
    groups: Dict[Tuple[str, str], List[Publication]] = {}
    tables: Dict[str, Optional[str]] = {}
    for pub in pubs:
        topic = pub.topic
        table = tables.get(topic, "")
        if table == "":
            table = tables[topic] = table_of(topic)
        if table is None:
            continue
        ns = pub.event_ns if pub.event_ns is not None else pub.recv_ns
        key = (table, date_of_ns(ns))
        bucket = groups.get(key)
        if bucket is None:
            bucket = groups[key] = []
        bucket.append(pub)
    return groups


# ---- value conversion: one column at a time

_NONE = type(None)
_INT_OK = frozenset({int, _NONE})
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def _to_int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _INT64_MAX else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 9.2e18 else None
    if isinstance(value, str):
        text = value.strip().replace(",", "")
        try:
            return _to_int(int(text))
        except ValueError:
            try:
                return _to_int(float(text))
            except ValueError:
                return None
    return None


def _to_float(value: Any) -> Optional[float]:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _to_str(value: Any) -> Optional[str]:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):  # bool included: 'True' is still the value that came
        return str(value)
    return None


_TRUE = frozenset({"1", "y", "true", "t"})
_FALSE = frozenset({"0", "n", "false", "f"})


def _to_bool(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        text = value.strip().lower()
        return True if text in _TRUE else False if text in _FALSE else None
    return None


def _digits(text: str) -> str:
    return text.strip().replace(":", "").replace("-", "").replace("/", "").replace(" ", "")


def _seconds_of_day(value: Any) -> Optional[int]:
    """'HH:MM:SS' / 'HHMMSS' / 'HHMM' / time -> seconds since midnight; None for anything else."""
    if isinstance(value, time):
        return value.hour * 3600 + value.minute * 60 + value.second
    if not isinstance(value, str):
        return None
    text = _digits(value)
    if len(text) == 4:
        text += "00"
    if len(text) != 6 or not text.isdigit():
        return None
    h, m, s = int(text[0:2]), int(text[2:4]), int(text[4:6])
    if h > 23 or m > 59 or s > 59:
        return None
    return h * 3600 + m * 60 + s


def _days_since_epoch(value: Any) -> Optional[int]:
    """'YYYY-MM-DD' / 'YYYYMMDD' / date -> days since 1970-01-01; None for zeros and junk."""
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        return (value - _EPOCH_DATE).days
    if not isinstance(value, str):
        return None
    text = _digits(value)
    if len(text) != 8 or not text.isdigit() or text == "00000000":
        return None
    try:
        return (date(int(text[:4]), int(text[4:6]), int(text[6:8])) - _EPOCH_DATE).days
    except ValueError:
        return None


def _epoch_seconds(value: Any) -> Optional[int]:
    """ISO datetime text (offset or naive KST), 'YYYYMMDDHHMMSS' or datetime -> epoch seconds."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        moment = None
        if len(text) >= 19 and text[4] == "-":
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
        else:
            digits = _digits(text)
            if len(digits) == 12:
                digits += "00"
            if len(digits) != 14 or not digits.isdigit() or set(digits) == {"0"}:
                return None
            try:
                moment = datetime(int(digits[:4]), int(digits[4:6]), int(digits[6:8]), int(digits[8:10]),
                                  int(digits[10:12]), int(digits[12:14]))
            except ValueError:
                return None
    else:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_KST)
    return int(moment.timestamp())


class _Memo(dict):
    """raw value -> parsed value for one text parser; times and dates repeat, so most rows hit."""

    __slots__ = ("parse",)
    LIMIT = 100_000

    def __init__(self, parse: Callable[[Any], Any]):
        super().__init__()
        self.parse = parse

    def __missing__(self, raw: Any) -> Any:
        value = self.parse(raw)
        if len(self) >= self.LIMIT:
            self.clear()
        self[raw] = value
        return value

    def column(self, values: Sequence[Any]) -> List[Any]:
        try:
            return list(map(self.__getitem__, values))
        except TypeError:  # an unhashable value (a list or map where text belongs)
            return [self.parse(v) if isinstance(v, (str, time, date)) else None for v in values]


_TIME_MEMO = _Memo(_seconds_of_day)
_DATE_MEMO = _Memo(_days_since_epoch)
_DATETIME_MEMO = _Memo(_epoch_seconds)


def _json_text(value: Any) -> Optional[str]:
    """JSON text of a body or map, keys sorted when they can be (msgpack maps may mix int and str keys)."""
    if value is None:
        return None
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=_json_default)
    except TypeError:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return str(value)


def _timestamps(ticks: Sequence[Optional[int]], arrow_type: pa.DataType) -> pa.Array:
    """Integer ticks (or None) as a timestamp array: via int64, because converting Python ints
    straight into a zoned timestamp type is two orders of magnitude slower in pyarrow."""
    return pa.array(ticks, type=pa.int64()).cast(arrow_type)


_CLEANERS: Dict[str, Callable[[Any], Any]] = {"int": _to_int, "float": _to_float, "bool": _to_bool, "str": _to_str}


def _type_family(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_boolean(arrow_type):
        return "bool"
    return "str"


def _inferred(values: Sequence[Any], arrow_type: pa.DataType, family: str) -> Optional[pa.Array]:
    """The column through Arrow's own type inference (one C++ pass), if that gives `arrow_type`
    without losing anything; None when the column needs cleaning value by value.

    Inference rather than a typed conversion because a typed int64 conversion silently truncates
    2.5 to 2; inference reports the float (as a double column) instead.
    """
    try:
        array = pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        return None
    found = array.type
    if found == arrow_type:
        return array
    if pa.types.is_null(found):
        return pa.nulls(len(array), type=arrow_type)
    numeric_ok = family in ("int", "float") and (pa.types.is_integer(found) or pa.types.is_floating(found))
    if numeric_ok or (family == "str" and pa.types.is_large_string(found)):
        try:
            return array.cast(arrow_type, safe=True)  # refuses 2.5 -> int, 2**60 -> double
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None


def convert_column(kind: str, arrow_type: pa.DataType, values: Sequence[Any]) -> pa.Array:
    """An Arrow array of `arrow_type` from wire values of metadata value kind `kind` (or 'json').

    The common case (every value already the right Python type) goes to Arrow in one call; a column
    with stray types is cleaned value by value, unfit values becoming null.
    """
    if kind in ("time", "maybe_time"):
        return pa.array(_TIME_MEMO.column(values), type=arrow_type)
    if kind == "date":
        return pa.array(_DATE_MEMO.column(values), type=arrow_type)
    if kind == "datetime":
        return _timestamps(_DATETIME_MEMO.column(values), arrow_type)
    if kind == "json":
        return pa.array([_json_text(v) for v in values], type=arrow_type)
    family = _type_family(arrow_type)
    array = _inferred(values, arrow_type, family)
    if array is not None:
        return array
    clean = _CLEANERS[family]
    return pa.array([clean(v) for v in values], type=arrow_type)


# ---- publications -> Arrow

_EVENT_NS, _RECV_NS, _EPOCH, _SEQ, _TOPIC_SEQ, _TOPIC, _BODY = (
    attrgetter(name) for name in ("event_ns", "recv_ns", "epoch", "seq", "topic_seq", "topic", "body"))


def to_arrow(table: str, pubs: Sequence[Publication],
             snapshot_flags: Optional[Sequence[bool]] = None) -> pa.Table:
    """The rows of `pubs` (all of `table`, see `table_of`) as an Arrow table of `arrow_schema(table)`.

    `snapshot_flags[i]` marks publication i as a last-value-cache item taken to repair a gap.
    Values that do not fit their column become null; no row is dropped.
    """
    spec = table_spec(table)
    count = len(pubs)
    if snapshot_flags is not None and len(snapshot_flags) != count:
        raise ValueError(f"{len(snapshot_flags)} snapshot flags for {count} publications")
    if count == 0:
        return spec.schema.empty_table()
    topics = list(map(_TOPIC, pubs))
    bodies = list(map(_BODY, pubs))
    code, rest = _body_arrays(spec, topics, bodies)
    arrays = [
        _timestamps(list(map(_EVENT_NS, pubs)), TIMESTAMP_NS),
        _timestamps(list(map(_RECV_NS, pubs)), TIMESTAMP_NS),
        pa.array(list(map(_EPOCH, pubs)), type=pa.int64()),
        pa.array(list(map(_SEQ, pubs)), type=pa.int64()),
        pa.array(list(map(_TOPIC_SEQ, pubs)), type=pa.int64()),
        pa.array(topics, type=pa.string()),
        code if code is not None else pa.array(_code_column(bodies), type=pa.string()),
        pa.array([bool(f) for f in snapshot_flags] if snapshot_flags is not None else [False] * count,
                 type=pa.bool_()),
    ]
    return pa.Table.from_arrays(arrays + rest, schema=spec.schema)


def _body_arrays(spec: TableSpec, topics: List[str], bodies: List[Any]) -> Tuple[Optional[pa.Array], List[pa.Array]]:
    """(the code column if already built, else None; the table's own columns) from the bodies."""
    columns = spec.columns
    if spec.group == "rt" and columns and columns[0].kind != "json":
        fast = _rt_bodies(bodies, columns)
        if fast is not None:
            return fast
        return None, fid_arrays([b.get("values") if isinstance(b, dict) else None for b in bodies], columns)
    safe = [b if isinstance(b, dict) else {} for b in bodies]
    if spec.group == "rt":  # a type the catalog lacks: its values whole
        return None, [convert_column("json", pa.string(), [b.get("values") for b in safe])]
    if spec.group == "ch":
        head = [convert_column(c.kind, c.type, [b.get(c.key) for b in safe]) for c in columns[:4]]
        fids = fid_arrays([b.get("values") for b in safe], columns[4:-1])
        return None, head + fids + [convert_column("json", pa.string(), [b.get("raw") for b in safe])]
    if spec.group == "cond":
        return None, [convert_column(c.kind, c.type, [b.get(c.key) for b in safe]) for c in columns]
    if spec.group == "alerts":
        head = [convert_column(c.kind, c.type, [b.get(c.key) for b in safe]) for c in columns[:-2]]
        return None, head + [convert_column("json", pa.string(), [b.get("values") for b in safe]),
                             pa.array([_names_text(b.get("notify")) for b in safe], type=pa.string())]
    # sys: the kind is the topic's second word, the body is kept whole
    return None, [convert_column("str", pa.string(), [t.partition(".")[2] for t in topics]),
                  convert_column("json", pa.string(), bodies)]


def _names_text(value: Any) -> Optional[str]:
    """An alert's notifier names, comma-joined ('' for none; null when the body holds no list)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(name) for name in value)
    return value if isinstance(value, str) else None


def _code_column(bodies: List[Any]) -> List[str]:
    codes = [b.get("code") if isinstance(b, dict) else None for b in bodies]
    if set(map(type, codes)) <= {str}:
        return codes
    return [c if isinstance(c, str) else ("" if c is None else str(c)) for c in codes]


def _field_columns(maps: List[Any], keys: Sequence[str]) -> List[Sequence[Any]]:
    """Column-wise values of `keys` from a list of maps: one C-level itemgetter pass per key when
    every map has it (the wire's rule), a guarded .get pass otherwise."""
    columns: List[Sequence[Any]] = []
    safe: Optional[List[Dict[str, Any]]] = None
    for key in keys:
        try:
            columns.append(list(map(itemgetter(key), maps)))
        except (KeyError, TypeError, IndexError):
            if safe is None:
                safe = [m if isinstance(m, dict) else {} for m in maps]
            columns.append([m.get(key) for m in safe])
    return columns


# The fast path reads all FID values of a batch in one C++ pass (pa.array of the maps as a struct),
# about twice as fast as pulling the columns out in Python, then finishes each field vectorised.
# Inside the struct, integers are read as float64 (Arrow refuses an int it cannot hold exactly,
# and a fraction stays visible instead of being truncated as a direct int64 conversion does), times
# and dates as their text. A batch Arrow cannot read that way (text in a number field, a list, an
# integer beyond 2**53) takes the column-by-column Python path, and so does one integer column
# holding a fraction.
_TEXT_KINDS = frozenset({"time", "maybe_time", "date", "datetime"})
_STRUCT_TYPES: Dict[Tuple[Column, ...], pa.DataType] = {}
_BODY_TYPES: Dict[Tuple[Column, ...], pa.DataType] = {}
_READ_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


def _values_type(columns: Tuple[Column, ...]) -> pa.DataType:
    cached = _STRUCT_TYPES.get(columns)
    if cached is None:
        fields = []
        for c in columns:
            if c.kind in _TEXT_KINDS:
                read_as = pa.string()
            elif pa.types.is_integer(c.type):
                read_as = pa.float64()
            else:
                read_as = c.type
            fields.append(pa.field(c.key, read_as))
        cached = _STRUCT_TYPES[columns] = pa.struct(fields)
    return cached


def _rt_bodies(bodies: List[Any], columns: Tuple[Column, ...]) -> Optional[Tuple[pa.Array, List[pa.Array]]]:
    """(code, FID arrays) of realtime bodies `{code, values}` read by Arrow in one pass; None if it cannot."""
    body_type = _BODY_TYPES.get(columns)
    if body_type is None:
        body_type = _BODY_TYPES[columns] = pa.struct([("code", pa.string()), ("values", _values_type(columns))])
    try:
        code, values = pa.array(bodies, type=body_type).flatten()
    except _READ_ERRORS:
        return None
    if values.null_count:  # a body without values: the per-map path nulls its fields
        return None
    return code.fill_null(""), _finished(columns, values.flatten(), lambda: [
        b.get("values") if isinstance(b, dict) else None for b in bodies])


def fid_arrays(maps: List[Any], columns: Sequence[Column]) -> List[pa.Array]:
    """Arrays for FID columns from the publications' `values` maps (None for a missing map)."""
    columns = tuple(columns)
    if not columns:
        return []
    try:
        fields = pa.array(maps, type=_values_type(columns)).flatten()
    except _READ_ERRORS:
        sources = _field_columns(maps, [c.key for c in columns])
        return [convert_column(c.kind, c.type, src) for c, src in zip(columns, sources)]
    return _finished(columns, fields, lambda: maps)


def _finished(columns: Sequence[Column], fields: Sequence[pa.Array],
              maps: Callable[[], List[Any]]) -> List[pa.Array]:
    out = []
    for column, field in zip(columns, fields):
        array = _finish(column, field)
        if array is None:
            array = convert_column(column.kind, column.type, _field_columns(maps(), [column.key])[0])
        out.append(array)
    return out


def _finish(column: Column, field: pa.Array) -> Optional[pa.Array]:
    """A struct field as the column's final array; None when it needs the value-by-value path."""
    if column.kind in _TEXT_KINDS:
        return _parsed_text(column.kind, column.type, field)
    if pa.types.is_integer(column.type):
        try:
            return field.cast(column.type, safe=True)
        except pa.ArrowInvalid:  # a fraction
            return None
    return field


_TEXT_MEMOS = {"time": _TIME_MEMO, "maybe_time": _TIME_MEMO, "date": _DATE_MEMO, "datetime": _DATETIME_MEMO}


def _parsed_text(kind: str, arrow_type: pa.DataType, texts: pa.Array) -> pa.Array:
    """Time/date text parsed once per distinct value (times repeat all day), then taken per row."""
    encoded = texts.dictionary_encode()
    parsed = _TEXT_MEMOS[kind].column(encoded.dictionary.to_pylist())
    ticks = pa.array(parsed, type=pa.int64()).take(encoded.indices)
    return ticks.cast(pa.int32()).cast(arrow_type) if kind != "datetime" else ticks.cast(arrow_type)


def rows_to_arrow(table: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Plain row maps (e.g. gaps rows) as an Arrow table of `arrow_schema(table)`.

    Timestamps are epoch nanoseconds (or seconds for `time` in minute history) or datetimes; dates
    are 'YYYY-MM-DD', date or days. Missing keys are null; unfit values are null too.
    """
    schema = arrow_schema(table)
    arrays = []
    for fld in schema:
        values = [r.get(fld.name) for r in rows]
        arrays.append(_convert_plain(fld.type, values))
    return pa.Table.from_arrays(arrays, schema=schema)


def _convert_plain(arrow_type: pa.DataType, values: List[Any]) -> pa.Array:
    if pa.types.is_timestamp(arrow_type):
        if not set(map(type, values)) <= _INT_OK:
            unit = 1 if arrow_type.unit == "s" else 1_000_000_000
            seconds = [None if isinstance(v, int) else _epoch_seconds(v) for v in values]
            values = [v if isinstance(v, int) and not isinstance(v, bool) else None if sec is None else sec * unit
                      for v, sec in zip(values, seconds)]
        return _timestamps(values, arrow_type)
    if pa.types.is_date32(arrow_type):
        if not set(map(type, values)) <= _INT_OK:
            return pa.array(_DATE_MEMO.column(values), type=arrow_type)
        return pa.array(values, type=arrow_type)
    kind = ("int" if pa.types.is_integer(arrow_type) else "float" if pa.types.is_floating(arrow_type)
            else "bool" if pa.types.is_boolean(arrow_type) else "str")
    return convert_column(kind, arrow_type, values)


def history_to_arrow(table: str, code: str, rows: Sequence[Mapping[str, Any]],
                     adjusted: Optional[bool] = None) -> pa.Table:
    """TR chart rows (opt10081 daily / opt10080 minute, keyed by English or Korean field name, typed
    or raw) as a history table for `code`: current_price becomes close, trade_value value, etc."""
    schema = arrow_schema(table)
    spec = catalog().tr("opt10081" if table == layout.HISTORY_DAILY else "opt10080")
    korean = {f.name_en: f.name for f in spec.multi_outputs}
    count = len(rows)
    arrays = []
    for fld in schema:
        if fld.name == "code":
            arrays.append(pa.array([code] * count, type=pa.string()))
            continue
        if fld.name == "adjusted":
            arrays.append(pa.array([adjusted] * count, type=pa.bool_()))
            continue
        source = HISTORY_SOURCES[fld.name]
        alt = korean.get(source, source)
        values = [r[source] if source in r else r.get(alt) for r in rows]
        if fld.name == "time":
            arrays.append(_timestamps(_DATETIME_MEMO.column(values), fld.type))
        elif fld.name == "date":
            arrays.append(pa.array(_DATE_MEMO.column(values), type=fld.type))
        elif fld.name in ("open", "high", "low", "close", "prev_close"):  # raw TR prices carry +/- signs
            ints = convert_column("int", fld.type, values).to_pylist()
            arrays.append(pa.array([abs(v) if v is not None else None for v in ints], type=fld.type))
        else:
            arrays.append(_convert_plain(fld.type, values))
    return pa.Table.from_arrays(arrays, schema=schema)


# ---- reading back

def conform(data: pa.Table, table: str) -> pa.Table:
    """`data` (e.g. one Parquet file read back) in exactly `arrow_schema(table)`.

    Parquet has no second-resolution time types, so time32[s] / timestamp[s] come back as [ms];
    columns the file lacks (a FID added to the catalog later) become null, extra ones are dropped.
    """
    schema = arrow_schema(table)
    if data.schema.equals(schema, check_metadata=False):
        return data.replace_schema_metadata(schema.metadata)
    count = data.num_rows
    arrays = []
    for fld in schema:
        if fld.name in data.column_names:
            arrays.append(data.column(fld.name).cast(fld.type))
        else:
            arrays.append(pa.nulls(count, type=fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def read_table(paths: Sequence[Any], table: str) -> pa.Table:
    """The rows of some lake files of `table` (see `layout.list_files`), concatenated, in its schema."""
    import pyarrow.parquet as pq

    parts = [conform(pq.read_table(str(p)), table) for p in paths]
    if not parts:
        return arrow_schema(table).empty_table()
    return pa.concat_tables(parts)
