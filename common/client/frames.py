"""TR pages to typed pandas objects: numbers as numbers, dates as Asia/Seoul datetimes, bars oldest first.

The broker sends values already typed (dates and times as ISO text); raw OCX strings (typed=False)
are parsed with the metadata value kinds. Column names are the Korean KOA names, or the metadata
English names with `english=True`.
"""
from __future__ import annotations

import re
from datetime import date, datetime, time
from operator import itemgetter
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import numpy as np
import pandas as pd

from koabus.common.clock import KST
from koabus.metadata import catalog
from koabus.metadata import values as metadata_values

TZ = "Asia/Seoul"
_NUMERIC = ("int", "signed", "price", "float")
_DATED = ("date", "datetime")
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
    inferred: List[str] = []  # the columns left to the per-row inference
    ready: Dict[str, Any] = {}  # columns typed directly, in their final dtype
    text_dtype = _text_dtype()
    for field, name in zip(fields, names):
        raw = _column_values(rows, field.name)
        stamp = _stamp_column(field.kind, raw) if field.kind in _DATED else None
        if stamp is not None:
            ready[name] = stamp.array
            continue
        raw = _coerce_column(field.kind, raw)
        if field.kind in _NUMERIC:
            array = _numeric_array(field.kind, raw)
        else:
            array = _text_array(field.kind, raw, text_dtype)
        if array is not None:
            ready[name] = array
            continue
        values.append(raw)
        inferred.append(name)
    if not inferred:  # every column typed directly (a clean page): one frame, no inference
        return pd.DataFrame(ready, index=pd.RangeIndex(len(rows)), columns=names)
    # tuples go through the same inference as the per-row dicts (a missing key is NaN in both)
    frame = pd.DataFrame.from_records(list(zip(*values)), columns=inferred, nrows=len(rows))
    frame = _fix_dtypes_at_once(frame, {name: f.kind for f, name in zip(fields, names) if name not in ready})
    if not ready:
        return frame
    return pd.DataFrame({name: ready[name] if name in ready else frame[name] for name in names},
                        index=pd.RangeIndex(len(rows)), columns=names)


def _numeric_array(kind: str, values: List[Any]) -> Optional[Any]:
    """A numeric column straight in the dtype `_fix_dtypes` would give it, for the clean cases: every
    value an int (int64), every value a float or blank (float64), or no value at all (a field the
    server leaves blank: Int64 or float64 of NA). None for anything else, which goes through inference.

    A wide page (OPTKWFID: 63 columns, 51 numeric) then skips most of the per-column inference."""
    types = set(map(type, values))
    if types == {type(None)}:
        if kind == "float":
            return np.full(len(values), np.nan)
        return pd.arrays.IntegerArray(np.zeros(len(values), dtype=np.int64), np.ones(len(values), dtype=bool))
    try:
        if types == {int}:
            ints = np.array(values, dtype=np.int64)
            return ints.astype(np.float64) if kind == "float" else ints
        if kind == "float" and types and types <= {float, type(None)}:
            return np.array(values, dtype=np.float64)
    except OverflowError:  # past int64: inference decides
        return None
    return None


def _text_dtype() -> Optional[Any]:
    """The dtype pandas infers for texts when it is a string dtype (pandas 3; 2.x with the option
    `future.infer_string`), asked of pandas each time since an option can change it; None when
    inference keeps texts as `object`."""
    dtype = pd.Index(["text"]).dtype
    return dtype if isinstance(dtype, pd.StringDtype) else None


def _text_array(kind: str, values: List[Any], text_dtype: Optional[Any]) -> Optional[Any]:
    """A column of texts only, of a kind `_fixed_column` leaves as inferred, straight in the string
    dtype inference gives it; None for anything else (blanks, other types: inference decides)."""
    if text_dtype is None or kind in _DATED or not values or set(map(type, values)) != {str}:
        return None
    return pd.array(values, dtype=text_dtype)


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
    """The reference: each column of a numeric or date kind converted and assigned in turn."""
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        fixed = _fixed_column(frame[column], kind)
        if fixed is not None:
            frame[column] = fixed
    return frame


def _fix_dtypes_at_once(frame: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """`_fix_dtypes`, with the converted columns put in by building one frame (assigning ~15 columns
    one by one costs more than converting them)."""
    if not frame.columns.is_unique:
        return _fix_dtypes(frame, kinds)
    columns: Dict[str, Any] = {}
    for column, kind in kinds.items():
        if column not in frame.columns:
            continue
        fixed = _fixed_column_quick(frame[column], kind)
        if fixed is not None:
            columns[column] = fixed
    if not columns:
        return frame
    return pd.DataFrame({name: columns[name] if name in columns else frame[name] for name in frame.columns},
                        index=frame.index, columns=frame.columns)


def _fixed_column_quick(series: pd.Series, kind: str) -> Optional[pd.Series]:
    """`_fixed_column`, without its conversions where the column already is what they would give:
    int64 for an int kind, float64 for a float, Asia/Seoul times for a date, or nothing at all."""
    dtype = series.dtype
    numeric = kind in ("int", "signed", "price", "float")
    if (numeric and dtype == (np.float64 if kind == "float" else np.int64)) or (
            kind in ("date", "datetime") and isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == TZ):
        return series
    if (numeric and isinstance(dtype, np.dtype) and dtype.kind == "O" and len(series)
            and series.isna().all()):  # a field the server leaves blank
        size = len(series)
        values = (np.full(size, np.nan) if kind == "float" else
                  pd.arrays.IntegerArray(np.zeros(size, dtype=np.int64), np.ones(size, dtype=bool)))
        return pd.Series(values, index=series.index, name=series.name)
    return _fixed_column(series, kind)


def _fixed_column(series: pd.Series, kind: str) -> Optional[pd.Series]:
    """A column of a numeric or date kind in its dtype; None for the kinds left as they are."""
    if kind in ("int", "signed", "price"):
        if series.isna().any():
            return pd.to_numeric(series, errors="coerce").astype("Int64")
        if len(series) and (series.dtype == np.int64  # its values iterate as Python ints
                            or all(isinstance(v, (int,)) and not isinstance(v, bool) for v in series)):
            return series.astype("int64")
        return pd.to_numeric(series, errors="coerce")
    if kind == "float":
        return pd.to_numeric(series, errors="coerce").astype("float64")
    if kind in ("date", "datetime"):
        return pd.to_datetime(series, errors="coerce", utc=True).dt.tz_convert(TZ)
    return None


class FrameBuilder:
    """`multi_frame(tr_code, rows, english)` built a page at a time, as the pages arrive.

    A paged TR's pages come one server answer apart: each page's frame is built while the next one
    is on its way, so after the last page only that page and a concatenation remain. The
    concatenation is used only when it is the frame `multi_frame` builds from all the rows at once:
    every page's frame has the same columns and dtypes, and each dtype is one whose values do not
    depend on the other rows (numbers, dates, text, not `object`). Otherwise `frame()` builds it from
    all the rows, as before.
    """

    def __init__(self, tr_code: str, english: bool = False):
        self.tr_code = tr_code
        self.english = english
        self.rows: List[Mapping[str, Any]] = []
        self._frames: List[pd.DataFrame] = []
        self._concatenable = True

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """One page's rows, in arrival order."""
        rows = list(rows)
        self.rows.extend(rows)
        if not rows or not self._concatenable:
            return
        try:
            frame = multi_frame(self.tr_code, rows, self.english)
        except Exception:  # noqa: BLE001 - the whole-rows build at the end raises it (or not) itself
            self._concatenable = False
            return
        if not _concatenable(frame) or (self._frames and not _same_layout(self._frames[0], frame)):
            self._concatenable = False
            self._frames.clear()
            return
        self._frames.append(frame)

    def frame(self) -> pd.DataFrame:
        """The frame of every row added so far."""
        if not self._concatenable or not self._frames:
            return multi_frame(self.tr_code, self.rows, self.english)
        if len(self._frames) == 1:
            return self._frames[0].copy()
        return pd.concat(self._frames, ignore_index=True)


def _concatenable(frame: pd.DataFrame) -> bool:
    """Unique columns, a RangeIndex, and dtypes a row's value sets alone (not `object`, whose
    inference looks at the whole column, unless it holds times of day and blanks only: OPTKWFID's
    체결시간 and 호가시간, typed one value at a time)."""
    if not frame.columns.is_unique or not isinstance(frame.index, pd.RangeIndex):
        return False
    for position, dtype in enumerate(frame.dtypes):
        if isinstance(dtype, pd.DatetimeTZDtype):
            if str(dtype.tz) != TZ:
                return False
        elif isinstance(dtype, pd.StringDtype):
            continue
        elif isinstance(dtype, np.dtype) and dtype.kind == "O":
            if not _times_only(frame.iloc[:, position].array):
                return False
        elif str(dtype) not in ("int64", "Int64", "float64", "bool"):
            return False
    return True


def _times_only(values: Any) -> bool:
    """Every value a time of day or a blank (None, NaN)."""
    return all(type(v) is time or v is None or (type(v) is float and v != v) for v in values)


class BarsBuilder(FrameBuilder):
    """`bars(tr_code, rows, english, start, end)` built a page at a time, as the pages arrive.

    Each page's bars are shaped (ordered, deduplicated, cut) when it arrives. A chart TR pages from
    the newest back, so when every page lies wholly before the one that came before it, the bars of
    all the rows are those pages' bars in reverse order: `bars()` then only concatenates them (the
    request's code column left out when, over all the bars, it holds one code at most, as `bars_of`
    leaves it out). Pages that overlap in time, a code column with several codes, or frames
    FrameBuilder does not concatenate are shaped from the whole frame instead, by `bars_of`.
    """

    def __init__(self, tr_code: str, english: bool = False, start: Optional[pd.Timestamp] = None,
                 end: Optional[pd.Timestamp] = None):
        super().__init__(tr_code, english)
        self.start, self.end = start, end
        self.column = _time_column(tr_code, english)
        self._bars: List[pd.DataFrame] = []
        self._oldest: Optional[int] = None  # the oldest time (ticks) of the pages so far
        self._codes: Dict[str, Set[str]] = {}  # per code column: the codes in the bars so far
        self._in_order = self.column is not None

    def add(self, rows: Iterable[Mapping[str, Any]]) -> None:
        pages = len(self._frames)
        super().add(rows)
        if not self._in_order or not self._concatenable or len(self._frames) == pages:
            self._in_order = self._in_order and self._concatenable
            return
        self._in_order = self._shape(self._frames[-1])

    def _shape(self, frame: pd.DataFrame) -> bool:
        rows = _bar_rows(frame, self.column, self.start, self.end)
        if rows is None:
            return False
        stamps = frame[self.column].array
        ticks = stamps.asi8[~stamps.isna()]
        if len(ticks):
            if self._oldest is not None and ticks.max() >= self._oldest:
                return False  # not wholly before the pages so far
            self._oldest = int(ticks.min())
        codes = [name for name in _REQUEST_CODE if name in frame.columns]
        for name in codes:
            values = frame[name].array
            if not isinstance(values.dtype, pd.StringDtype):
                return False
            seen = self._codes.setdefault(name, set())
            seen.update(v for v in values.take(rows).unique().tolist() if isinstance(v, str) and v)
            if len(seen) > 1:
                return False  # kept in the bars: let bars_of decide from the whole frame
        self._bars.append(_take_bars(frame, self.column, rows, {self.column, *codes}))
        return True

    def bars(self) -> pd.DataFrame:
        """The bars of every row added so far."""
        pieces = [bars for bars in reversed(self._bars) if len(bars)]
        if not self._in_order or not self._concatenable or not pieces:
            return bars_of(self.tr_code, self.frame(), self.english, self.start, self.end)
        return pieces[0].copy() if len(pieces) == 1 else pd.concat(pieces)


def _same_layout(first: pd.DataFrame, other: pd.DataFrame) -> bool:
    return list(first.columns) == list(other.columns) and list(first.dtypes) == list(other.dtypes)


def bars(tr_code: str, rows: Iterable[Mapping[str, Any]], english: bool = False,
         start: Optional[pd.Timestamp] = None, end: Optional[pd.Timestamp] = None) -> pd.DataFrame:
    """Chart rows as bars: DatetimeIndex in Asia/Seoul, oldest first, optionally cut to [start, end]."""
    return bars_of(tr_code, multi_frame(tr_code, rows, english), english, start, end)


def bars_of(tr_code: str, frame: pd.DataFrame, english: bool = False,
            start: Optional[pd.Timestamp] = None, end: Optional[pd.Timestamp] = None) -> pd.DataFrame:
    """`bars` from the TR's `multi_frame` (e.g. a FrameBuilder's).

    The rows are ordered, deduplicated and cut on the time column's integers and taken in one step;
    `_bars_reference` (the pandas chain it replaces) stays the path for other frames.
    """
    column = _time_column(tr_code, english)
    if column is None:
        return frame
    rows = _bar_rows(frame, column, start, end)
    if rows is None:
        return _bars_reference(frame, column, start, end)
    dropped = {column}.union(name for name in _REQUEST_CODE if name in frame.columns
                             and _at_most_one_value(frame[name].take(rows)))
    return _take_bars(frame, column, rows, dropped)


def _time_column(tr_code: str, english: bool) -> Optional[str]:
    fields = {f.name: f for f in fields_of(tr_code, "multi")}
    time_field = next((fields[n] for n in BAR_TIME_FIELDS if n in fields), None)
    if time_field is None:
        return None
    return time_field.name_en if english and time_field.name_en else time_field.name


def _bar_rows(frame: pd.DataFrame, column: str, start: Optional[pd.Timestamp],
              end: Optional[pd.Timestamp]) -> Optional[np.ndarray]:
    """The positions of the bars' rows in bar order (oldest first, of equal times the last, within
    [start, end]); None for a frame the integer path does not take."""
    if (not frame.columns.is_unique or column not in frame.columns or not isinstance(frame.index, pd.RangeIndex)
            or not isinstance(frame[column].dtype, pd.DatetimeTZDtype)):
        return None
    stamps = frame[column].array
    ticks = stamps.asi8
    present = np.flatnonzero(~stamps.isna())
    order = present[np.argsort(ticks[present], kind="stable")]  # stable: equal times keep arrival order
    ordered = ticks[order]
    keep = np.ones(len(order), dtype=bool)  # of equal times only the last, as duplicated(keep="last")
    keep[:-1] = ordered[:-1] != ordered[1:]
    if start is not None:
        keep &= np.asarray(stamps.take(order) >= start)
    if end is not None:
        keep &= np.asarray(stamps.take(order) <= end)
    return order[keep]


def _take_bars(frame: pd.DataFrame, column: str, rows: np.ndarray, dropped: Set[str]) -> pd.DataFrame:
    out = frame.iloc[_as_slice(rows), [i for i, name in enumerate(frame.columns) if name not in dropped]]
    out.index = pd.DatetimeIndex(frame[column].array.take(rows), name=column)
    return out


def _as_slice(rows: np.ndarray) -> Any:
    """`rows` as a slice when they are consecutive positions one way or the other (a chart page, newest
    first, is its bars reversed), which `iloc` takes faster than the positions; else `rows` itself."""
    count = len(rows)
    if count < 2:
        return rows
    step = int(rows[1] - rows[0])
    if step not in (1, -1) or int(rows[-1] - rows[0]) != step * (count - 1) or not (np.diff(rows) == step).all():
        return rows
    stop = int(rows[-1]) + step
    return slice(int(rows[0]), None if stop < 0 else stop, step)


def _bars_reference(frame: pd.DataFrame, column: str, start: Optional[pd.Timestamp],
                    end: Optional[pd.Timestamp]) -> pd.DataFrame:
    frame = frame.dropna(subset=[column]).set_index(column).sort_index(kind="stable")
    frame = frame[~frame.index.duplicated(keep="last")]
    if start is not None:
        frame = frame[frame.index >= start]
    if end is not None:
        frame = frame[frame.index <= end]
    return _drop_request_code(frame)


#: chart TRs fill the code in row 0 only: a column redundant with the request, dropped from bars
_REQUEST_CODE = ("종목코드", "code")


def _drop_request_code(frame: pd.DataFrame) -> pd.DataFrame:
    for name in _REQUEST_CODE:
        if name in frame.columns and frame[name].replace("", pd.NA).dropna().nunique() <= 1:
            frame = frame.drop(columns=[name])
    return frame


def _at_most_one_value(series: pd.Series) -> bool:
    """`series.replace("", pd.NA).dropna().nunique() <= 1`, without the copies for a text column."""
    if isinstance(series.dtype, pd.StringDtype):
        return len(set(series[series.notna()].tolist()) - {""}) <= 1
    return series.replace("", pd.NA).dropna().nunique() <= 1


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
