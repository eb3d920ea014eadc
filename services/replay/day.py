"""RecordedDay: one date of the lake's realtime tables, merged into the order it was recorded in.

Reads `<lake>/rt/<slug>/date=YYYY-MM-DD/*.parquet` (every realtime type the recorder wrote, listed by
`common.lake.layout`, which skips `*.tmp` files and `_*` folders) with pyarrow, drops the recorder's
snapshot rows (gap repairs taken from the broker's cache, not live messages), keeps only the asked
codes, and orders everything by (recv_time, epoch, seq): the order the messages reached the recorder.
Each row becomes the control's raw values again (`encode.py`) and is delivered at its exchange time
on the virtual clock (`delivery_times`). The day stays columnar in memory (Arrow tables plus a few
numeric arrays for the merged order); rows are turned into Python values a chunk at a time as the
replay reaches them, and one at a time when the market needs a book or a quote.
"""
from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from koabus.common.errors import KoabusError
from koabus.common.lake import layout
from koabus.metadata import catalog

from .encode import column_names, encode_row, fid_kinds

RT_FOLDER = "rt"
_CHUNK_ROWS = 4096  # rows encoded at once as the replay reaches them
_UNDER_A_SECOND_NS = 999_000_000


class NoRecordedData(KoabusError):
    """The lake holds no realtime rows for the date (and codes) asked for."""


@dataclass(frozen=True)
class RecordedEvent:
    """One OnReceiveRealData to deliver: at `t` (epoch seconds on the virtual clock)."""

    t: float
    code: str
    type_name: str
    values: Tuple[str, ...]  # raw strings in the type's FID order

    @property
    def payload(self) -> str:
        return "\t".join(self.values)


@dataclass(frozen=True)
class RecordedRow:
    """A typed row of one code and type (by lake column name), for the market the orders fill in."""

    t: float
    slug: str
    values: Dict[str, Any]


class RecordedTable:
    """One realtime type's rows of the day in recorded order, columnar; values on demand."""

    def __init__(self, slug: str, data: Any, times: Sequence[float], refs: Dict[str, int]):
        realtype = catalog().realtype(slug)
        self.slug = slug
        self.type_name = realtype.name
        self.names = column_names(realtype.fids)
        self.kinds = fid_kinds(realtype.fids)
        self.data = data  # pyarrow.Table: code and the FID columns, one chunk
        self.codes: List[str] = [c or "" for c in data.column("code").to_pylist()]
        self.times = times
        self._refs = refs
        self._chunk = -1
        self._raw: List[Tuple[str, ...]] = []

    def __len__(self) -> int:
        return len(self.codes)

    def row(self, i: int) -> Dict[str, Any]:
        """Row `i` as typed values by column name."""
        return {name: value[0] for name, value in self.data.slice(i, 1).to_pydict().items()}

    def column(self, name: str) -> List[Any]:
        if name not in self.data.column_names:
            return [None] * len(self)
        return self.data.column(name).to_pylist()

    def raw(self, i: int) -> Tuple[str, ...]:
        """Row `i` as the control's raw strings (encoded with its neighbours, a chunk at a time)."""
        chunk = i // _CHUNK_ROWS
        if chunk != self._chunk:
            start = chunk * _CHUNK_ROWS
            part = self.data.slice(start, _CHUNK_ROWS)
            columns = [part.column(n).to_pylist() if n in part.column_names else [None] * part.num_rows
                       for n in self.names]
            refs, codes = self._refs, self.codes
            self._raw = [encode_row(self.kinds, values, refs.get(codes[start + k]))
                         for k, values in enumerate(zip(*columns))]
            self._chunk = chunk
        return self._raw[i - self._chunk * _CHUNK_ROWS]


class RecordedDay:
    """The events of one recorded date in recorded order, and per-code access to its rows."""

    def __init__(self, day: date, tables: Sequence[RecordedTable], order: Sequence[Tuple[int, int]],
                 times: Sequence[float], refs: Dict[str, int]):
        self.day = day
        self.tables = tuple(tables)
        self._order = order  # (table index, row) per event, in recorded order
        self._times = times
        #: code -> reference price (기준가) read from the recorded trades: price - change
        self.refs = refs
        self.types_by_code: Dict[str, Set[str]] = {}
        self._by_code: Dict[Tuple[str, str], Tuple[List[float], List[int]]] = {}
        for table in self.tables:
            for code in set(table.codes):
                self.types_by_code.setdefault(code, set()).add(table.type_name)
            for i, code in enumerate(table.codes):
                times_rows = self._by_code.setdefault((code, table.slug), ([], []))
                times_rows[0].append(table.times[i])
                times_rows[1].append(i)
        self._table_of = {t.slug: t for t in self.tables}

    def __len__(self) -> int:
        return len(self._times)

    @property
    def first_t(self) -> float:
        return self._times[0]

    @property
    def last_t(self) -> float:
        return self._times[-1]

    @property
    def codes(self) -> Tuple[str, ...]:
        return tuple(sorted(c for c in self.types_by_code if c))

    def table(self, slug: str) -> Optional[RecordedTable]:
        return self._table_of.get(slug)

    def between(self, t0: float, t1: float) -> Iterator[RecordedEvent]:
        """Events with t0 < t <= t1, in recorded order."""
        lo = bisect.bisect_right(self._times, t0)
        hi = bisect.bisect_right(self._times, t1)
        tables, order, times = self.tables, self._order, self._times
        for k in range(lo, hi):
            index, row = order[k]
            table = tables[index]
            yield RecordedEvent(times[k], table.codes[row], table.type_name, table.raw(row))

    def last_row(self, code: str, slug: str, t: float) -> Optional[RecordedRow]:
        """The code's last row of a type delivered at or before t."""
        times_rows = self._by_code.get((code, slug))
        if times_rows is None:
            return None
        k = bisect.bisect_right(times_rows[0], t) - 1
        if k < 0:
            return None
        return RecordedRow(times_rows[0][k], slug, self._table_of[slug].row(times_rows[1][k]))

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, lake: str, day: date, codes: Optional[Iterable[str]] = None) -> RecordedDay:
        """Read the lake's realtime tables of `day`; NoRecordedData if nothing (for `codes`) is there."""
        import numpy as np  # noqa: PLC0415 (the replay backend only)
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.compute as pc  # noqa: PLC0415

        from koabus.common.lake import schema  # noqa: PLC0415 (pyarrow)

        wanted = sorted({c.strip() for c in codes if c.strip()}) if codes else None
        stamp = day.isoformat()
        parts: List[Tuple[str, Any]] = []
        for name in sorted(layout.list_tables(lake)):
            slug = name[len("rt_"):]
            if not name.startswith("rt_") or not _known(slug):
                continue
            data = schema.read_table(layout.list_files(lake, name, date=stamp), name)
            if data.num_rows == 0:
                continue
            keep = pc.invert(data.column("snapshot"))
            if wanted is not None:  # market-wide rows (empty code) always play
                keep = pc.and_(keep, pc.or_(pc.equal(data.column("code"), ""),
                                            pc.is_in(data.column("code"), value_set=pa.array(wanted))))
            data = data.filter(keep).sort_by([("recv_time", "ascending"), ("epoch", "ascending"),
                                              ("seq", "ascending")])
            if data.num_rows:
                parts.append((slug, data.combine_chunks()))
        if not any(code for _, data in parts for code in pc.unique(data.column("code")).to_pylist()):
            where = f" for {', '.join(wanted)}" if wanted else ""
            raise NoRecordedData(f"no recorded realtime data for {stamp}{where} under "
                                 f"{os.path.join(lake, RT_FOLDER)}")
        key_cols = [[], [], [], [], []]  # recv, epoch, seq, table index, row
        for index, (_, data) in enumerate(parts):
            key_cols[0].append(data.column("recv_time").cast(pa.int64()).to_numpy())
            key_cols[1].append(data.column("epoch").to_numpy())
            key_cols[2].append(data.column("seq").to_numpy())
            key_cols[3].append(np.full(data.num_rows, index, dtype=np.int64))
            key_cols[4].append(np.arange(data.num_rows, dtype=np.int64))
        recv, epoch, seq, table_index, row = (np.concatenate(c) for c in key_cols)
        event = np.concatenate([d.column("event_time").cast(pa.int64()).fill_null(-1).to_numpy() for _, d in parts])
        order = np.lexsort((table_index, seq, epoch, recv))  # recv first, then epoch, seq, type
        times = delivery_times(recv[order].tolist(), [e if e >= 0 else None for e in event[order].tolist()])
        per_table = [[0.0] * d.num_rows for _, d in parts]
        merged = list(zip(table_index[order].tolist(), row[order].tolist()))
        for t, (index, r) in zip(times, merged):
            per_table[index][r] = t
        refs = _references(dict(parts).get("trade"))
        tables = [RecordedTable(slug, data.drop_columns([c for c in _ENVELOPE if c in data.column_names]),
                                per_table[index], refs)
                  for index, (slug, data) in enumerate(parts)]
        return cls(day, tables, merged, times, refs)


_ENVELOPE = ("event_time", "recv_time", "epoch", "seq", "topic_seq", "topic", "snapshot")


def _references(trades: Any) -> Dict[str, int]:
    """code -> 기준가 from its first recorded trade with a price and a change (price - change)."""
    refs: Dict[str, int] = {}
    if trades is None:
        return refs
    for code, price, change in zip(trades.column("code").to_pylist(), trades.column("current_price").to_pylist(),
                                   trades.column("change").to_pylist()):
        if code not in refs and price is not None and change is not None:
            refs[code] = int(price) - int(change)
    return refs


def delivery_times(recv_ns: Sequence[int], event_ns: Sequence[Optional[int]]) -> List[float]:
    """The virtual time (epoch seconds) each row, in recorded order, is delivered at.

    A row goes out at its exchange second plus how long after the first row of that second it was
    received (under a second), never before the row ahead of it; a row without an exchange time
    (e.g. 주식우선호가) goes with the row ahead (the day's first rows: with its first exchange time).
    The exchange time, not the receive time, anchors it: the broker stamps receive times with the
    wall clock, which for a recorded simulation is not the market's time. A day without any exchange
    time is delivered at its receive times.
    """
    first = next((e for e in event_ns if e is not None), None)
    if first is None:
        return [r / 1e9 for r in recv_ns]
    out: List[float] = []
    prev, second, second_recv = first, None, 0
    for recv, event in zip(recv_ns, event_ns):
        t = prev
        if event is not None:
            if event != second:
                second, second_recv = event, recv
            t = max(prev, event + min(max(recv - second_recv, 0), _UNDER_A_SECOND_NS))
        out.append(t / 1e9)
        prev = t
    return out


def _known(slug: str) -> bool:
    """A realtime type the catalog describes (a newer one is kept whole in the lake, not replayable)."""
    try:
        catalog().realtype(slug)
    except Exception:
        return False
    return True
