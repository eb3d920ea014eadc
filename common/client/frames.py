"""TR pages to typed pandas objects: numbers as numbers, dates as Asia/Seoul datetimes, bars oldest first.

The broker sends values already typed (dates and times as ISO text); raw OCX strings (typed=False)
are parsed with the metadata value kinds. Column names are the Korean KOA names, or the metadata
English names with `english=True`.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import pandas as pd

from koabus.common.clock import KST
from koabus.metadata import catalog
from koabus.metadata import values as metadata_values

TZ = "Asia/Seoul"
_NUMERIC = ("int", "signed", "price", "float")
#: the column that dates a row of a chart TR, in the order we look for it
BAR_TIME_FIELDS = ("체결시간", "일자", "날짜")


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
    """The multi record as a DataFrame with the TR's columns in KOA order and typed dtypes."""
    fields = fields_of(tr_code, "multi")
    records = [typed_row(fields, row, english) for row in rows]
    columns = [f.name_en if english and f.name_en else f.name for f in fields]
    if not fields:  # a TR this client has no metadata for: the broker's columns, in its order
        columns = list(dict.fromkeys(key for record in records for key in record))
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    kinds = {(f.name_en if english and f.name_en else f.name): f.kind for f in fields}
    return _fix_dtypes(frame, kinds)


def _fix_dtypes(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        series = frame[column]
        if kind in ("int", "signed", "price"):
            if series.isna().any():
                frame[column] = pd.to_numeric(series, errors="coerce").astype("Int64")
            elif len(series) and all(isinstance(v, (int,)) and not isinstance(v, bool) for v in series):
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
