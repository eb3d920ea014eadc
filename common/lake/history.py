"""The history store: TR bar downloads (opt10081 daily, opt10080 minute) kept in the lake, and what it holds.

Files (common.lake.layout):
    history/daily/code=<code>/bars.parquet                       every stored daily bar of a code
    history/minute<N>/code=<code>/date=YYYY-MM-DD/bars.parquet   one complete session of N-minute bars

Each file is written whole (tmp, fsync, rename), so coverage is never ahead of the data: a daily file
carries the date ranges it has *checked* (JSON in its footer metadata, `koabus.coverage`), which may
be wider than its rows (days before a listing, the empty answer of an unknown code); a minute
session is present iff its file exists (zero rows = a session with no bars). Only final sessions
are stored: the current one, and one that closed less than `SETTLE_AFTER_CLOSE` ago (after-hours
trading still changes its daily volume), is never written. Prices are stored as traded
(수정주가구분 0): adjusted history changes retroactively, so it cannot be kept incrementally.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Set, Tuple

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koabus.common.clock import KST
from koabus.common.lake import layout, schema
from koabus.metadata import catalog

DAILY_TR = "opt10081"
MINUTE_TR = "opt10080"
FILE_KEY = "bars"
COVERAGE_KEY = b"koabus.coverage"
#: a session's bars are final this long after its close (after-hours single-price trading ends 18:00)
SETTLE_AFTER_CLOSE = timedelta(hours=3)
#: `since` when the whole history is wanted
DAWN = date(1900, 1, 1)
DayRange = Tuple[date, date]


def tr_of(table: str) -> str:
    return DAILY_TR if table == layout.HISTORY_DAILY else MINUTE_TR


# ---- coverage ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Coverage:
    """Disjoint, sorted, inclusive date ranges that were checked completely."""

    ranges: Tuple[DayRange, ...] = ()

    def add(self, first: date, last: date) -> Coverage:
        merged: List[List[date]] = []
        for a, b in sorted(list(self.ranges) + [(first, last)]):
            if merged and a <= merged[-1][1] + timedelta(days=1):
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        return Coverage(tuple((a, b) for a, b in merged))

    def holes(self, first: date, last: date) -> List[DayRange]:
        """The parts of [first, last] not covered, oldest first."""
        out: List[DayRange] = []
        cursor = first
        for a, b in self.ranges:
            if b < cursor:
                continue
            if a > last:
                break
            if a > cursor:
                out.append((cursor, min(last, a - timedelta(days=1))))
            cursor = max(cursor, b + timedelta(days=1))
            if cursor > last:
                break
        if cursor <= last:
            out.append((cursor, last))
        return out

    def to_json(self) -> str:
        return json.dumps([[a.isoformat(), b.isoformat()] for a, b in self.ranges])

    @classmethod
    def from_json(cls, text: Any) -> Coverage:
        try:
            items = json.loads(text)
            return cls(tuple((date.fromisoformat(a), date.fromisoformat(b)) for a, b in items))
        except (TypeError, ValueError):
            return cls()


# ---- planning (pure) -----------------------------------------------------------------------------

def last_final_session(now: datetime, calendar: Any) -> date:
    """The newest session whose bars are final at `now` (KST): closed at least SETTLE_AFTER_CLOSE ago."""
    now = now.astimezone(KST) if now.tzinfo else now.replace(tzinfo=KST)
    day = now.date()
    for _ in range(40):
        hours = calendar.session_hours(day)
        if hours is not None and now >= hours[1] + SETTLE_AFTER_CLOSE:
            return day
        day = calendar.previous_session(day)
    raise LookupError(f"no final session before {now}")


def missing_ranges(coverage: Coverage, since: date, until: date, calendar: Any) -> List[DayRange]:
    """Daily: the uncovered parts of [since, until] that hold a session, newest first."""
    out = []
    for a, b in coverage.holes(since, until):
        try:
            has_session = calendar.next_session(a - timedelta(days=1)) <= b
        except LookupError:
            has_session = True
        if has_session:
            out.append((a, b))
    return list(reversed(out))


def missing_days(present: Iterable[date], since: date, until: date, calendar: Any) -> List[date]:
    """Minute: the sessions in [since, until] without a stored file, oldest first."""
    have = set(present)
    return [d for d in calendar.sessions(since, until) if d not in have] if since <= until else []


def row_day(value: Any) -> Optional[date]:
    """The date of a TR row's 일자/체결시간 value, typed ('2025-05-30', ISO datetime) or raw (YYYYMMDD...)."""
    if isinstance(value, datetime):
        return (value.astimezone(KST) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        if len(text) >= 10 and text[4] == "-":
            return date.fromisoformat(text[:10])
        if len(text) >= 8 and text[:8].isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None
    return None


# ---- the store -------------------------------------------------------------------------------------

class HistoryStore:
    """Reads and writes the history tables under one lake root."""

    def __init__(self, root: Any = layout.DEFAULT_ROOT, durable: bool = True):
        self.root = Path(root)
        self.durable = durable

    # -- what is there
    def daily_coverage(self, code: str) -> Coverage:
        path = self._daily_path(code)
        if not path.exists():
            return Coverage()
        meta = pq.read_schema(str(path)).metadata or {}
        return Coverage.from_json(meta.get(COVERAGE_KEY, b"[]").decode())

    def minute_days(self, code: str, interval: int) -> Set[date]:
        table = layout.history_minute_table(interval)
        return {date.fromisoformat(d) for d in layout.list_dates(self.root, table, code=code)
                if layout.list_files(self.root, table, date=d, code=code)}

    def clean(self, table: str, code: str) -> int:
        """Remove the temp files a killed writer left in one series' folder (not the whole lake)."""
        return layout.clean_tmp(layout.table_dir(self.root, table) / f"code={layout.check_code(code)}")

    # -- writing
    def write_daily(self, code: str, rows: Sequence[Mapping[str, Any]], covered: DayRange) -> int:
        """Merge TR rows (newest wins) and the checked range into the code's daily file; rows kept."""
        table = layout.HISTORY_DAILY
        new = self._to_arrow(table, code, rows)
        path = self._daily_path(code)
        coverage = self.daily_coverage(code).add(*covered)
        if path.exists():
            old = self._read_files([path], table)
            fresh = set(new.column("date").to_pylist())
            keep = [i for i, d in enumerate(old.column("date").to_pylist()) if d not in fresh]
            new = pa.concat_tables([old.take(pa.array(keep, type=pa.int64())), new])
        new = new.take(pc.sort_indices(new, [("date", "ascending")]))
        self._write(path, new, coverage.to_json())
        return new.num_rows

    def write_minute_day(self, code: str, interval: int, day: date, rows: Sequence[Mapping[str, Any]]) -> int:
        table = layout.history_minute_table(interval)
        data = self._to_arrow(table, code, rows)
        data = data.take(pc.sort_indices(data, [("time", "ascending")]))
        path = layout.file_path(self.root, table, day.isoformat(), FILE_KEY, code=code)
        self._write(path, data, json.dumps([[day.isoformat(), day.isoformat()]]))
        return data.num_rows

    # -- reading
    def read(self, table: str, code: str, first: date, last: date) -> pa.Table:
        """Stored bars of `code` dated first..last (inclusive), oldest first."""
        if table == layout.HISTORY_DAILY:
            path = self._daily_path(code)
            data = self._read_files([path] if path.exists() else [], table)
            days = data.column("date").to_pylist()
        else:
            files = [f for d in layout.list_dates(self.root, table, code=code)
                     if first <= date.fromisoformat(d) <= last
                     for f in layout.list_files(self.root, table, date=d, code=code)]
            data = self._read_files(files, table)
            days = [row_day(t) for t in data.column("time").to_pylist()]
        keep = [i for i, d in enumerate(days) if d is not None and first <= d <= last]
        return data.take(pa.array(keep, type=pa.int64()))

    def wire_rows(self, table: str, data: pa.Table) -> List[Dict[str, Any]]:
        """Stored bars back as the broker's typed TR rows (Korean field names), newest first."""
        columns = _columns(table)
        out = []
        for record in reversed(data.to_pylist()):
            row = {}
            for column, fld in columns:
                value = record.get(column)
                if isinstance(value, datetime):
                    value = value.astimezone(KST).isoformat()
                elif isinstance(value, date):
                    value = value.isoformat()
                row[fld.name] = value
            out.append(row)
        if out and table == layout.HISTORY_DAILY:  # the TR fills 종목코드 in the newest row only
            for row in out[1:]:
                row["종목코드"] = ""
        return out

    # -- internals
    def _daily_path(self, code: str) -> Path:
        return layout.file_path(self.root, layout.HISTORY_DAILY, None, FILE_KEY, code=code)

    def _to_arrow(self, table: str, code: str, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        base = schema.history_to_arrow(table, code, rows, adjusted=False)
        for fld in _extra_fields(table):
            kind = fld.kind
            values = [r.get(fld.name) for r in rows]
            if kind in ("int", "price", "signed"):
                values = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in values]
            elif kind == "float":
                values = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                          for v in values]
            else:
                values = [None if v is None else str(v) for v in values]
            base = base.append_column(pa.field(fld.name_en, schema.KIND_TYPES.get(kind, pa.string())),
                                      pa.array(values, type=schema.KIND_TYPES.get(kind, pa.string())))
        return base

    def _read_files(self, paths: Sequence[Path], table: str) -> pa.Table:
        store_schema = store_arrow_schema(table)
        parts = []
        for path in paths:
            data = pq.read_table(str(path))
            arrays = [data.column(f.name).cast(f.type) if f.name in data.column_names
                      else pa.nulls(data.num_rows, f.type) for f in store_schema]
            parts.append(pa.Table.from_arrays(arrays, schema=store_schema))
        return pa.concat_tables(parts) if parts else store_schema.empty_table()

    def _write(self, path: Path, data: pa.Table, coverage_json: str) -> None:
        meta = dict(data.schema.metadata or {})
        meta[COVERAGE_KEY] = coverage_json.encode()
        data = data.replace_schema_metadata(meta)
        layout.atomic_write(path, lambda tmp: pq.write_table(data, str(tmp), compression="zstd"),
                            durable=self.durable)


def _extra_fields(table: str) -> List[Any]:
    """TR output fields the lake's history schema has no column for (kept too: nothing is lost)."""
    sources = set(schema.HISTORY_SOURCES.values()) | {"code"}
    return [f for f in catalog().tr(tr_of(table)).multi_outputs if f.name_en not in sources]


def store_arrow_schema(table: str) -> pa.Schema:
    """The lake's history schema plus the extra TR fields, as the store writes it."""
    base = schema.arrow_schema(table)
    for fld in _extra_fields(table):
        base = base.append(pa.field(fld.name_en, schema.KIND_TYPES.get(fld.kind, pa.string())))
    return base


def _columns(table: str) -> List[Tuple[str, Any]]:
    """(store column, TR field) for every multi output of the table's TR."""
    by_source = {source: column for column, source in schema.HISTORY_SOURCES.items()}
    out = []
    for fld in catalog().tr(tr_of(table)).multi_outputs:
        column = "code" if fld.name_en == "code" else by_source.get(fld.name_en, fld.name_en)
        out.append((column, fld))
    return out
