"""Event decoding tables: realtime payloads and chejan FIDs -> typed, wire-ready values by metadata.

Built once per realtime type from the catalog: the FIDs in payload order, their English names and a
parser per value kind. Values leave as msgpack-friendly types: prices are positive integers (the
OCX's direction prefix resolved), changes keep their sign, dates and times become ISO text. Text a
parser cannot read is passed through stripped (and counted) rather than dropping the event.
"""
from __future__ import annotations

import operator
from datetime import date, datetime, time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from koabus.common.clock import KST
from koabus.metadata import values as metadata_values

Parser = Callable[[str], Any]


def wire_value(value: Any) -> Any:
    """A typed value as it travels: dates/times as ISO text, everything else unchanged."""
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    return value


def _fast_int(raw: str) -> Any:
    text = raw.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return metadata_values.parse("int", text)


def _fast_price(raw: str) -> Any:
    text = raw.strip()
    if not text:
        return None
    try:
        return abs(int(text))
    except ValueError:
        return metadata_values.parse("price", text)


def _fast_float(raw: str) -> Any:
    text = raw.strip()
    if not text:
        return None
    return float(text)


def _hhmmss(text: str) -> Optional[str]:
    """'HHMMSS' -> 'HH:MM:SS' when `text` is a valid clock time, else None."""
    if len(text) == 6 and text.isdigit() and text < "240000" and text[2] < "6" and text[4] < "6":
        return f"{text[0:2]}:{text[2:4]}:{text[4:6]}"
    return None


def _fast_time(raw: str) -> Any:
    """'HHMMSS' -> 'HH:MM:SS' without building a datetime.time (the realtime hot path)."""
    text = raw.strip()
    return _hhmmss(text) or wire_value(metadata_values.parse("time", text))


def _fast_maybe_time(raw: str) -> Any:
    text = raw.strip()
    if text == "000000":
        return None
    return _hhmmss(text) or wire_value(metadata_values.parse("maybe_time", text))


def _generic(kind: str) -> Parser:
    def parse(raw: str) -> Any:
        return wire_value(metadata_values.parse(kind, raw))

    return parse


_FAST: Dict[str, Parser] = {"int": _fast_int, "signed": _fast_int, "price": _fast_price,
                            "float": _fast_float, "str": str.strip, "time": _fast_time,
                            "maybe_time": _fast_maybe_time}


def _abs_int(raw: str) -> int:
    return abs(int(raw))


# strict versions of the fast parsers: raise on blanks instead of returning None
_STRICT: Dict[Parser, Parser] = {_fast_int: int, _fast_float: float, _fast_price: _abs_int}

_MEMO_LIMIT = 100_000  # raw texts remembered per memoised parser before it starts over


class _TextMemo(dict):
    """raw text -> parsed text for one parser; a miss parses (and remembers a text result).

    Exchange times repeat within a second, so the realtime path looks them up instead of parsing:
    `memo[raw]` is a C-level dict lookup on a hit. Non-text results (None for a zero time) are
    not kept; a parser error propagates like the parser's own.
    """

    __slots__ = ("parse",)

    def __init__(self, parse: Parser):
        super().__init__()
        self.parse = parse

    def __missing__(self, raw: str) -> Any:
        value = self.parse(raw)
        if isinstance(value, str):
            if len(self) >= _MEMO_LIMIT:
                self.clear()
            self[raw] = value
        return value


_MEMOS: Dict[Parser, _TextMemo] = {_fast_time: _TextMemo(_fast_time), _fast_maybe_time: _TextMemo(_fast_maybe_time)}

Decoder = Callable[[Sequence[str]], Dict[str, Any]]


def _hot_parser(parse: Parser) -> Parser:
    """`parse` as the hot path calls it: the memo lookup for the parsers worth memoising."""
    memo = _MEMOS.get(parse)
    return memo.__getitem__ if memo is not None else parse


def _template_decoder(names: Tuple[str, ...], parsers: Tuple[Parser, ...], call: Callable[..., Any]) -> Decoder:
    """A copy of a presized {name: None} map updated from zip(names, map(call, parsers, row)).

    The per-field loop runs in C, and copying a template skips the resizes of building a map
    key by key: the fastest shape for wide tables (Python 3.11+, for operator.call).
    """
    size = len(names)
    template = dict.fromkeys(names)

    def decode(row: Sequence[str]) -> Dict[str, Any]:
        if len(row) < size:
            raise IndexError(f"{len(row)} raw values for {size} fields")
        out = template.copy()
        out.update(zip(names, map(call, parsers, row)))
        return out

    return decode


def _comprehension_decoder(names: Tuple[str, ...], parsers: Tuple[Parser, ...]) -> Decoder:
    """A dict comprehension over (name, parser, raw): for narrow tables and older Pythons."""
    size = len(names)

    def decode(row: Sequence[str]) -> Dict[str, Any]:
        if len(row) < size:
            raise IndexError(f"{len(row)} raw values for {size} fields")
        return {name: parse(raw) for name, parse, raw in zip(names, parsers, row)}

    return decode


#: from this many fields on, the template shape beats the comprehension (measured on 3.11)
_TEMPLATE_MIN_FIELDS = 8


def make_decoder(names: Sequence[str], parsers: Sequence[Parser]) -> Decoder:
    """One function turning a row of raw texts into {name: value}, keys in `names` order.

    The realtime hot path decodes every event with it. It is a closure over prebuilt tuples of
    names and parser functions: no generated source, nothing compiled or evaluated. A row shorter
    than `names` raises IndexError; a parser raising (a blank number, unreadable text) propagates,
    and callers fall back to the guarded field-by-field path. Extra raw items are ignored.
    """
    names = tuple(names)
    hot = tuple(_hot_parser(p) for p in parsers)
    if len(hot) != len(names):
        raise ValueError(f"{len(names)} names but {len(hot)} parsers")
    call = getattr(operator, "call", None)  # Python 3.11+
    if call is None or len(names) < _TEMPLATE_MIN_FIELDS:
        return _comprehension_decoder(names, hot)
    return _template_decoder(names, hot, call)


def parser_for(kind: str) -> Parser:
    """The raw-string -> wire-value function for a metadata value kind."""
    if kind in _FAST:
        return _FAST[kind]
    if kind not in metadata_values.PARSERS:
        return str.strip
    return _generic(kind)


class FieldTable:
    """An ordered list of (FID, English name, parser), e.g. one realtime type's payload layout."""

    def __init__(self, fids: Sequence[int], catalog):
        self.fids: Tuple[int, ...] = tuple(fids)
        self.size = len(self.fids)
        names: List[str] = []
        parsers: List[Parser] = []
        seen = set()
        for fid in self.fids:
            if catalog.has_fid(fid):
                meta = catalog.fid(fid)
                name, kind = meta.name_en or f"fid_{fid}", meta.kind
            else:
                name, kind = f"fid_{fid}", "str"
            if name in seen:
                name = f"{name}_{fid}"
            seen.add(name)
            names.append(name)
            parsers.append(parser_for(kind))
        self.names: Tuple[str, ...] = tuple(names)
        self.parsers: Tuple[Parser, ...] = tuple(parsers)
        # builtins where the text is clean: one decoder per table, no per-field guards
        self._strict: Tuple[Parser, ...] = tuple(_STRICT.get(p, p) for p in parsers)
        self.decode_strict = make_decoder(self.names, self._strict)
        self.index_of_fid = {fid: i for i, fid in enumerate(self.fids)}

    def decode(self, raws: Sequence[str]) -> Tuple[Dict[str, Any], int]:
        """Typed values for raw strings in this table's order; returns (values, parse failures)."""
        try:
            return self.decode_strict(raws), 0
        except (ValueError, TypeError, AttributeError, IndexError):
            return self._decode_guarded(raws)

    def _decode_guarded(self, raws: Sequence[str]) -> Tuple[Dict[str, Any], int]:
        """Field by field: blanks become None, unreadable text passes through stripped (counted)."""
        out: Dict[str, Any] = {}
        bad = 0
        for name, parse, raw in zip(self.names, self.parsers, raws):
            try:
                out[name] = parse(raw)
            except (ValueError, TypeError):
                out[name] = raw.strip()
                bad += 1
        return out, bad


class RealtimeDecoder:
    """Turns OnReceiveRealData into (slug, values, exchange time); one table per realtime type."""

    def __init__(self, catalog, clock):
        self.catalog = catalog
        self.clock = clock
        self._tables: Dict[str, Optional[Tuple[str, FieldTable]]] = {}
        self.parse_failures = 0
        self._day_start = 0.0  # epoch seconds of today's KST midnight, refreshed lazily
        self._seconds: Dict[str, int] = {}  # 'HH:MM:SS' -> seconds since midnight

    def table(self, type_name: str) -> Optional[Tuple[str, FieldTable]]:
        """(slug, table) of a realtime type by its Korean name; None for a type the catalog lacks."""
        entry = self._tables.get(type_name, False)
        if entry is False:
            try:
                realtype = self.catalog.realtype(type_name)
                entry = (realtype.slug or realtype.gidc or "unknown", FieldTable(realtype.fids, self.catalog))
            except Exception:  # NotFound: a type newer than the metadata
                entry = None
            self._tables[type_name] = entry
        return entry

    def decode_payload(self, table: FieldTable, payload: str) -> Dict[str, Any]:
        values, bad = table.decode(payload.split("\t"))
        self.parse_failures += bad
        return values

    def decode_fids(self, table: FieldTable, raw_by_fid: Dict[int, str]) -> Dict[str, Any]:
        values, bad = table.decode([raw_by_fid.get(fid, "") for fid in table.fids])
        self.parse_failures += bad
        return values

    def event_ns(self, values: Dict[str, Any], now: Optional[float] = None) -> Optional[int]:
        """Exchange time of a realtime event: today's KST date plus its trade/quote time field.

        `now` (the clock's time) may be read once for a batch of events by the caller.
        """
        text = values.get("trade_time") or values.get("quote_time") or values.get("time")
        seconds = self._seconds.get(text) if isinstance(text, str) else None
        if seconds is None:
            seconds = _seconds_of_day(text)
            if seconds is None:
                return None
            if len(self._seconds) >= _MEMO_LIMIT:
                self._seconds.clear()
            self._seconds[text] = seconds
        if now is None:
            now = self.clock.time()
        if not self._day_start <= now < self._day_start + 86400:
            today = datetime.fromtimestamp(now, KST).date()
            self._day_start = datetime.combine(today, time(0), tzinfo=KST).timestamp()
        return int((self._day_start + seconds) * 1_000_000_000)


def _seconds_of_day(text: Any) -> Optional[int]:
    """'HH:MM:SS...' -> seconds since midnight; None for anything else."""
    if not isinstance(text, str) or len(text) < 8 or text[2] != ":" or text[5] != ":":
        return None
    try:
        return int(text[0:2]) * 3600 + int(text[3:5]) * 60 + int(text[6:8])
    except ValueError:
        return None


class ChejanDecoder:
    """Turns the FIDs read inside OnReceiveChejanData into typed values by English name."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._tables: Dict[Tuple[int, ...], FieldTable] = {}

    def decode(self, fids: Iterable[int], raw_by_fid: Dict[int, str]) -> Dict[str, Any]:
        key = tuple(fids)
        table = self._tables.get(key)
        if table is None:
            table = self._tables[key] = FieldTable(key, self.catalog)
        values, _ = table.decode([raw_by_fid.get(fid, "") for fid in key])
        return values


def parse_fid_list(text: str) -> List[int]:
    """`'9201;9203;...;'` -> [9201, 9203, ...]; junk items are skipped."""
    out = []
    for item in (text or "").split(";"):
        item = item.strip()
        if item.isdigit():
            out.append(int(item))
    return out


def _text(raw: Any) -> str:
    return raw.strip() if isinstance(raw, str) else ("" if raw is None else str(raw))


def _texts(raws: Sequence[Any]) -> List[str]:
    """One column's values as `typed_fields` reads them: stripped text."""
    try:
        return list(map(str.strip, raws))
    except TypeError:  # a value that is not text (a control that answers numbers)
        return list(map(_text, raws))


def _typed_value(parse: Parser, text: str) -> Any:
    try:
        return parse(text)
    except (ValueError, TypeError):
        return text


def _iso_dates(texts: List[str]) -> List[Any]:
    """YYYYMMDD texts -> ISO dates in C (date.fromisoformat reads the basic form from Python 3.11);
    ValueError for anything else, which the caller then types value by value."""
    joined = "".join(texts)
    if set(map(len, texts)) != {8} or not (joined.isascii() and joined.isdigit()) or "00000000" in texts:
        raise ValueError("not a column of YYYYMMDD dates")
    return list(map(date.isoformat, map(date.fromisoformat, texts)))


#: whole-column conversions equal to the value-by-value parser wherever they do not raise
_COLUMN_FAST: Dict[Any, Callable[[List[str]], List[Any]]] = {
    _fast_int: lambda texts: list(map(int, texts)),
    _fast_price: lambda texts: list(map(abs, map(int, texts))),
    _fast_float: lambda texts: list(map(float, texts)),
    str.strip: list,  # already stripped
}
#: kinds whose metadata parser already returns the wire value (no date or time to render as text)
_PLAIN_KINDS = ("code", "bool")
_IMMUTABLE = (type(None), str, int, float, bool)


def typed_column(kind: str, texts: List[str]) -> List[Any]:
    """`typed_fields`' value for each stripped text of one field of kind `kind`, a column at a time:
    the parser is looked up once and the common column (all numbers, all dates, all blank) is
    converted in one C-level pass; a column with exceptions is typed value by value."""
    parse = parser_for(kind)
    fast = _iso_dates if kind == "date" else _COLUMN_FAST.get(parse)
    try:
        if fast is not None:
            return fast(texts)
        if kind in _PLAIN_KINDS:
            return list(map(metadata_values.PARSERS[kind], texts))
        return list(map(parse, texts))
    except (ValueError, TypeError, OverflowError):
        pass
    if texts and not any(texts):
        blank = _typed_value(parse, "")
        if type(blank) in _IMMUTABLE:
            return [blank] * len(texts)
    return [_typed_value(parse, text) for text in texts]


def typed_values(kind: str, raws: Sequence[Any], typed: bool) -> List[Any]:
    """One field's values as `typed_fields` gives them, for a column of raw values."""
    texts = _texts(raws)
    return typed_column(kind, texts) if typed else texts


def raw_chars(table: Sequence[Sequence[Any]]) -> Optional[int]:
    """The characters of a page's raw strings; None when one is not text."""
    try:
        return sum(map(len, map("".join, table)))
    except TypeError:
        return None


def typed_rows(fields, table: Sequence[Sequence[Any]], typed: bool) -> List[Dict[str, Any]]:
    """`[typed_fields(fields, row, typed) for row in table]`, computed a column at a time (a page is
    up to 900 rows of 15-60 fields: one kind lookup per field instead of per value)."""
    width = len(fields)
    if not width or not table or set(map(len, table)) != {width}:
        return [typed_fields(fields, row, typed) for row in table]
    columns = [_texts(column) for column in zip(*table)]
    if typed:
        columns = [typed_column(f.kind, column) for f, column in zip(fields, columns)]
    names = [f.name for f in fields]
    template = dict.fromkeys(names)  # copying a presized map beats building each row key by key
    rows = []
    for values in zip(*columns):
        row = template.copy()
        row.update(zip(names, values))
        rows.append(row)
    return rows


def typed_fields(fields, raws: Sequence[str], typed: bool) -> Dict[str, Any]:
    """TR output values by Korean field name: typed by kind, or the stripped strings."""
    out: Dict[str, Any] = {}
    for field, raw in zip(fields, raws):
        text = raw.strip() if isinstance(raw, str) else ("" if raw is None else str(raw))
        if not typed:
            out[field.name] = text
            continue
        try:
            out[field.name] = parser_for(field.kind)(text)
        except (ValueError, TypeError):
            out[field.name] = text
    return out
