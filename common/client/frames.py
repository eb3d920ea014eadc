"""TR pages to typed pandas objects: numbers as numbers, dates as Asia/Seoul datetimes, bars oldest first.

The broker sends values already typed (dates and times as ISO text); raw OCX strings (typed=False)
are parsed with the metadata value kinds. Column names are the Korean KOA names, or the metadata
English names with `english=True`.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time
from operator import itemgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from koabus.common.clock import KST
from koabus.metadata import catalog
from koabus.metadata import values as metadata_values

TZ = "Asia/Seoul"
_NUMERIC = ("int", "signed", "price", "float")
#: the column that dates a row of a chart TR, in the order we look for it
BAR_TIME_FIELDS = ("체결시간", "일자", "날짜")
# a missing key, as the per-row DataFrame fills it; a memo miss
_NAN = float("nan")
_UNSET = object()
# the exact non-text types whose `coerce` the columnar builder mirrors
_PLAIN = frozenset((int, float, bool, type(None)))
_STAMP_DTYPE = f"datetime64[us, {TZ}]"


def _raw_datetime_iso(match: re.Match) -> str:
    if match.group("iso"):
        return match.group("iso")
    d = match.group("raw")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{d[8:10]}:{d[10:12]}:{d[12:14] or '00'}+09:00"


#: per kind: the texts the columnar builder types itself, and their form for one strict to_datetime format
_STAMP_FORMS = {
    "date": (re.compile(r"[0-9]{8}|[0-9]{4}-[0-9]{2}-[0-9]{2}"), lambda m: m.group().replace("-", "")),
    "datetime": (re.compile(r"(?P<iso>[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{2}:[0-9]{2})"
                            r"|(?P<raw>[0-9]{12}(?:[0-9]{2})?)"), _raw_datetime_iso),
}


def coerce(kind: str, value: Any) -> Any:
    """One value of metadata kind `kind`, typed whether it arrived typed or as raw OCX text."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if kind in ("date", "datetime", "time", "maybe_time") and ("-" in text[1:] or ":" in text):
            return _from_iso(kind, text)
        try:
            parsed = metadata_values.parse(kind, value)
        except ValueError:
            return text
        if isinstance(parsed, (datetime, date, time)):
            return _from_iso(kind, parsed.isoformat())
        return parsed
    if kind == "price" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return abs(value)
    if kind == "date" and isinstance(value, int):
        return _from_iso(kind, str(metadata_values.parse("date", str(value))))
    return value


def _from_iso(kind: str, text: str) -> Any:
    if kind in ("time", "maybe_time"):
        try:
            return time.fromisoformat(text)
        except ValueError:
            return text
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        return text
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize(TZ)
    else:
        stamp = stamp.tz_convert(TZ)
    return stamp


def fields_of(tr_code: str, record: str = "multi") -> Tuple[Any, ...]:
    """The record's fields; none for a TR only the broker knows (imported there): values stay as sent."""
    cat = catalog()
    if not cat.has_tr(tr_code):
        return ()
    spec = cat.tr(tr_code)
    return spec.multi_outputs if record == "multi" else spec.single_outputs


def typed_row(fields: Sequence[Any], row: Mapping[str, Any], english: bool) -> Dict[str, Any]:
    """Coerce one row keyed by Korean field names; unknown keys pass through unchanged."""
    out: Dict[str, Any] = {}
    known = set()
    for f in fields:
        if f.name in row:
            out[f.name_en if english and f.name_en else f.name] = coerce(f.kind, row[f.name])
            known.add(f.name)
    for key, value in row.items():
        if key not in known:
            out[key] = value
    return out


def single_dict(tr_code: str, single: Mapping[str, Any], english: bool = False) -> Dict[str, Any]:
    return typed_row(fields_of(tr_code, "single"), single, english)


def multi_frame(tr_code: str, rows: Iterable[Mapping[str, Any]], english: bool = False) -> pd.DataFrame:
    """The multi record as a DataFrame with the TR's columns in KOA order and typed dtypes.

    Built column by column (one type check and one conversion per column instead of `coerce` per
    value: a 10-year daily download is ~2,500 rows x 15 fields); the result is the one
    `_multi_frame_rowwise` gives, which stays the path for what the columnar one cannot mirror.
    """
    fields = fields_of(tr_code, "multi")
    rows = rows if isinstance(rows, list) else list(rows)
    names = [f.name_en if english and f.name_en else f.name for f in fields]
    if not fields or not rows or not _columnar_safe(fields, names, rows, english):
        return _multi_frame_rowwise(fields, rows, english)
    values: List[List[Any]] = []
    stamps: Dict[str, pd.Series] = {}
    for field, name in zip(fields, names):
        raw = _column_values(rows, field.name)
        stamp = _stamp_column(field.kind, raw) if field.kind in ("date", "datetime") else None
        if stamp is not None:
            stamps[name] = stamp
            raw = [None] * len(rows)
        else:
            raw = _coerce_column(field.kind, raw)
        values.append(raw)
    # tuples go through the same inference as the per-row dicts (a missing key is NaN in both)
    frame = pd.DataFrame.from_records(list(zip(*values)), columns=names)
    for name, stamp in stamps.items():
        frame[name] = stamp.array
    return _fix_dtypes(frame, {name: f.kind for f, name in zip(fields, names)})


def _multi_frame_rowwise(fields: Sequence[Any], rows: Sequence[Mapping[str, Any]], english: bool) -> pd.DataFrame:
    """The reference builder: `typed_row` per row (a TR without metadata, odd column names, no rows)."""
    records = [typed_row(fields, row, english) for row in rows]
    columns = [f.name_en if english and f.name_en else f.name for f in fields]
    if not fields:  # a TR this client has no metadata for: the broker's columns, in its order
        columns = list(dict.fromkeys(key for record in records for key in record))
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    kinds = {(f.name_en if english and f.name_en else f.name): f.kind for f in fields}
    return _fix_dtypes(frame, kinds)


def _columnar_safe(fields: Sequence[Any], names: Sequence[str], rows: Sequence[Mapping[str, Any]],
                   english: bool) -> bool:
    """False when a column could get its value from elsewhere than its own field: two fields with one
    column name, or (English names) a key outside the metadata named like a field's English column."""
    if len(set(names)) != len(names):
        return False
    if not english:
        return True
    foreign = set(names) - {f.name for f in fields}
    return not foreign or not foreign.intersection(set().union(*rows))


def _column_values(rows: Sequence[Mapping[str, Any]], key: str) -> List[Any]:
    """One field of every row, NaN where a row lacks it (as DataFrame.from_records fills a missing key);
    read like `typed_row` reads it (`in`, then `[]`) unless the rows are plain dicts."""
    if set(map(type, rows)) != {dict}:
        return [row[key] if key in row else _NAN for row in rows]
    try:
        return list(map(itemgetter(key), rows))
    except KeyError:
        return [row.get(key, _NAN) for row in rows]


def _coerce_column(kind: str, raw: List[Any]) -> List[Any]:
    """`coerce` on each value, with the common cases in one step and each distinct text parsed once."""
    types = set(map(type, raw))
    if types <= _PLAIN:  # no text: coerce is the identity except prices (abs) and int dates
        if kind == "price" and types & {int, float}:
            if types <= {int, float}:
                return list(map(abs, raw))
            return [abs(v) if type(v) in (int, float) else v for v in raw]
        if kind != "date" or not types & {int, bool}:
            return raw
    elif kind in ("str", "code") and types <= _PLAIN | {str}:  # never fails: strip (code: drop the 'A')
        parse = str.strip if kind == "str" else metadata_values.PARSERS[kind]  # _str is a strip
        if types == {str}:
            return list(map(parse, raw))
        return [parse(v) if type(v) is str else v for v in raw]
    memo: Dict[str, Any] = {}
    out = []
    for value in raw:
        if type(value) is str:
            typed = memo.get(value, _UNSET)
            if typed is _UNSET:
                typed = memo[value] = coerce(kind, value)
            out.append(typed)
        else:
            out.append(coerce(kind, value))
    return out


def _stamp_column(kind: str, raw: List[Any]) -> Optional[pd.Series]:
    """A date/datetime column of texts and blanks as the Series the per-value Timestamps infer to
    (datetime64[us, Asia/Seoul], NaT for blanks); None (use `coerce`) for anything else: another
    type, another text form, an impossible date, no date at all."""
    if not set(map(type, raw)) <= {str, type(None), float}:
        return None
    texts = _stamp_texts(kind, raw)
    if texts is None:
        return None
    present = [t is not None for t in texts]
    if not any(present):
        return None
    try:
        if kind == "date":
            stamps = pd.to_datetime(pd.Series(texts, dtype=object), format="%Y%m%d", errors="coerce")
            stamps = stamps.dt.tz_localize(TZ)
        else:
            stamps = pd.to_datetime(pd.Series(texts, dtype=object), format="%Y-%m-%dT%H:%M:%S%z",
                                    errors="coerce", utc=True).dt.tz_convert(TZ)
    except (ValueError, TypeError, OverflowError):
        return None
    if str(stamps.dtype) != _STAMP_DTYPE or bool((stamps.isna().to_numpy() & present).any()):
        return None  # a text the per-value parse may read otherwise (or reject): let it decide
    return stamps


def _stamp_texts(kind: str, raw: List[Any]) -> Optional[List[Optional[str]]]:
    """Each value in the one form `_stamp_column` parses (None for a blank), or None when one is not
    a text of a form `_STAMP_FORMS` knows."""
    pattern, to_iso = _STAMP_FORMS[kind]
    if set(map(type, raw)) == {str}:
        matches = list(map(pattern.fullmatch, map(str.strip, raw)))
        if all(matches):  # the usual page: every row dated, in one form
            return list(map(to_iso, matches))
    texts: List[Optional[str]] = []
    for value in raw:
        if type(value) is float:
            if value == value:  # a real number, not a missing key: coerce leaves it as it is
                return None
            texts.append(None)
        elif value is None or not value.strip():
            texts.append(None)
        else:
            match = pattern.fullmatch(value.strip())
            if match is None:
                return None
            texts.append(to_iso(match))
    return texts


def _fix_dtypes(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        series = frame[column]
        if kind in ("int", "signed", "price"):
            if series.isna().any():
                frame[column] = pd.to_numeric(series, errors="coerce").astype("Int64")
            elif len(series) and (series.dtype == np.int64  # its values iterate as Python ints
                                  or all(isinstance(v, (int,)) and not isinstance(v, bool) for v in series)):
                frame[column] = series.astype("int64")
            else:
                frame[column] = pd.to_numeric(series, errors="coerce")
        elif kind == "float":
            frame[column] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif kind in ("date", "datetime"):
            frame[column] = pd.to_datetime(series, errors="coerce", utc=True).dt.tz_convert(TZ)
    return frame


def bars(tr_code: str, rows: Iterable[Mapping[str, Any]], english: bool = False,
         start: Optional[pd.Timestamp] = None, end: Optional[pd.Timestamp] = None) -> pd.DataFrame:
    """Chart rows as bars: DatetimeIndex in Asia/Seoul, oldest first, optionally cut to [start, end]."""
    frame = multi_frame(tr_code, rows, english)
    fields = {f.name: f for f in fields_of(tr_code, "multi")}
    time_field = next((fields[n] for n in BAR_TIME_FIELDS if n in fields), None)
    if time_field is None:
        return frame
    column = time_field.name_en if english and time_field.name_en else time_field.name
    frame = frame.dropna(subset=[column]).set_index(column).sort_index(kind="stable")
    frame = frame[~frame.index.duplicated(keep="last")]
    if start is not None:
        frame = frame[frame.index >= start]
    if end is not None:
        frame = frame[frame.index <= end]
    for name in ("종목코드", "code"):  # chart TRs fill it in row 0 only: redundant with the request
        if name in frame.columns and frame[name].replace("", pd.NA).dropna().nunique() <= 1:
            frame = frame.drop(columns=[name])
    return frame


def to_timestamp(value: Any, end_of_day: bool = False) -> Optional[pd.Timestamp]:
    """A date-like argument (str YYYYMMDD / ISO, date, datetime, Timestamp) as an Asia/Seoul Timestamp."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) in (8, 12, 14):
            fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}[len(text)]
            stamp = pd.Timestamp(datetime.strptime(text, fmt))
        else:
            stamp = pd.Timestamp(text)
        only_date = len(text) in (8, 10)
    elif isinstance(value, datetime):
        stamp, only_date = pd.Timestamp(value), False
    elif isinstance(value, date):
        stamp, only_date = pd.Timestamp(value), True
    else:
        stamp, only_date = pd.Timestamp(value), False
    stamp = stamp.tz_localize(TZ) if stamp.tzinfo is None else stamp.tz_convert(TZ)
    if only_date and end_of_day:
        stamp = stamp + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return stamp


def today_kst() -> date:
    return datetime.now(KST).date()


def rows_of(pages: Iterable[Mapping[str, Any]]) -> Tuple[Dict[str, Any], List[Mapping[str, Any]]]:
    """Merge TR parts: the first non-empty single record and every multi row in arrival order."""
    single: Dict[str, Any] = {}
    rows: List[Mapping[str, Any]] = []
    for page in pages:
        if not single and page.get("single"):
            single = dict(page["single"])
        rows.extend(page.get("multi") or ())
    return single, rows
