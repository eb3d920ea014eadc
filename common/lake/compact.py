"""Compaction: the many small batch files of a finished partition merged into one `compacted.parquet`.

The recorder rolls every 30 s, so a trading day leaves hundreds of files per table; every query then
reads hundreds of footers. `compact(root)` merges each partition of a past date into one file.

Rules (docs/recorder.md, "Compaction"):
- Target: `<partition>/compacted.parquet`, its footer metadata `koabus.compacted_from` listing every
  batch key whose rows it holds (cumulative: merging an older compacted file carries its list over).
  Any other `*.parquet` in the partition is a batch file: listed = its rows are already in the
  compacted file (a leftover of an interrupted run, deleted); not listed = a later batch (e.g. rows a
  recorder rolled after the compaction), merged by the next run into a new `compacted.parquet`.
- Order of work per partition: write the new file (tmp, fsync, rename, fsync folder), then delete
  the merged sources. A crash before the rename leaves the old files; after it, the new file plus
  sources it lists, which the next `compact` (or `finish_interrupted`) deletes before anything else.
  Between the rename and those deletions a reader sees those rows twice.
- Safety with the recorder: a batch file of a journal segment the recorder has not committed
  (`_recorder/checkpoint.json` `rolled_through` below the segment in the key) may be rolled again
  after a crash, so it is never merged; it stays beside the compacted file until committed.
- The history store's own files (`bars.parquet`, with coverage in their footer) are never merged.
- Dates on or after `before` (default and at most: today in Asia/Seoul) are left alone; a partition
  with a single file is left alone.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from koabus.common.errors import Unavailable
from koabus.common.lake import layout
from koabus.common.lake.schema import arrow_schema, conform

COMPACTED_KEY = "compacted"
COMPACTED_NAME = COMPACTED_KEY + layout.PARQUET_SUFFIX
SOURCES_META = b"koabus.compacted_from"
STORE_FILE = "bars" + layout.PARQUET_SUFFIX  # common.lake.history.FILE_KEY: the history store's own file
LOCK_NAME = "_compact.lock"
#: a partition whose rows take more memory than this is written source by source (journal order)
#: instead of being sorted whole
MEMORY_LIMIT_BYTES = 1 << 30
KST = timezone(timedelta(hours=9))

#: the recorder's batch keys: '<journal id>-<segment>-<first offset>-<last offset>' (services/recorder/app.py)
_RECORDER_KEY = re.compile(r"^(?P<journal>[A-Za-z0-9]{12})-(?P<segment>\d{8,})-\d{16}-\d{16}$")

#: `hook(step, partition folder)`: a test seam called at each step of a partition's compaction
Hook = Callable[[str, Path], None]
STEPS = ("planned", "unlinked", "writing", "written", "replaced", "done")


class LakeBusy(Unavailable):
    """Another process is compacting this lake."""


@dataclass(frozen=True)
class PartitionResult:
    """What compaction did (or, in a dry run, would do) to one partition."""

    table: str
    date: Optional[str]
    code: Optional[str]
    action: str            # 'compacted' | 'finished' (leftovers of an interrupted run deleted) | 'held' | 'failed'
    files_before: int
    files_after: int
    rows: int = 0          # rows in the compacted file
    bytes_before: int = 0
    bytes_after: int = 0
    merged: int = 0        # batch files merged by this run
    leftovers: int = 0     # files already in the compacted file, deleted
    held: int = 0          # files of journal segments the recorder has not committed, left alone
    streamed: bool = False  # too large to sort in memory: written in batch (journal) order
    error: str = ""

    @property
    def where(self) -> str:
        parts = [self.table] + [f"{k}={v}" for k, v in (("code", self.code), ("date", self.date)) if v]
        return "/".join(parts)


@dataclass(frozen=True)
class CompactReport:
    root: str
    before: str
    dry_run: bool
    partitions: Tuple[PartitionResult, ...] = ()
    notes: Tuple[str, ...] = ()

    @property
    def files_removed(self) -> int:
        return sum(p.files_before - p.files_after for p in self.partitions if p.action != "failed")

    @property
    def bytes_saved(self) -> int:
        return sum(p.bytes_before - p.bytes_after for p in self.partitions if p.action == "compacted")

    @property
    def failed(self) -> List[PartitionResult]:
        return [p for p in self.partitions if p.action == "failed"]


# ---- the recorder's journal, read by its documented layout (services/recorder/journal.py)

@dataclass(frozen=True)
class JournalView:
    """What the recorder's checkpoint says: which of its batch files may still be rolled again."""

    journal_id: str = ""       # '' when unknown: then every recorder key counts as this journal's
    rolled_through: int = 0
    readable: bool = True      # False: the checkpoint could not be read; no recorder key is merged
    problem: str = ""

    def unsettled(self, key: str) -> bool:
        """True when `key` names a journal segment the recorder could still re-roll."""
        match = _RECORDER_KEY.match(key)
        if match is None:
            return False
        if not self.readable:
            return True
        if self.journal_id and match.group("journal") != self.journal_id:
            return False  # an older journal's file: that journal is gone and never rolls again
        return int(match.group("segment")) > self.rolled_through


def read_journal_view(root: Union[str, Path]) -> JournalView:
    folder = layout.recorder_dir(root)
    if not folder.is_dir():
        return JournalView()
    try:
        journal_id = (folder / "journal_id").read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError):
        journal_id = ""
    try:
        data = json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))
        rolled = int(data["rolled_through"]) if isinstance(data, dict) and data.get("version") == 1 else None
    except FileNotFoundError:
        rolled = 0  # nothing committed yet: every segment of this journal is unsettled
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        return JournalView(journal_id, 0, False, f"recorder checkpoint unreadable ({exc})")
    if rolled is None:
        return JournalView(journal_id, 0, False, "recorder checkpoint of an unknown version")
    return JournalView(journal_id, rolled)


# ---- partitions

@dataclass(frozen=True)
class Partition:
    table: str
    date: Optional[str]
    code: Optional[str]
    folder: Path


def partitions(root: Union[str, Path], table: Optional[str] = None) -> Iterator[Partition]:
    """Every partition folder of `table` (all tables when None), in table, code, date order."""
    for name in [table] if table is not None else layout.list_tables(root):
        keys = layout.partition_keys(name)
        codes: List[Optional[str]] = list(layout.list_codes(root, name)) if "code" in keys else [None]
        for code in codes:
            dates: List[Optional[str]] = list(layout.list_dates(root, name, code=code)) if "date" in keys else [None]
            for day in dates:
                yield Partition(name, day, code, layout.partition_dir(root, name, day, code))


def visible_files(folder: Path) -> List[Path]:
    """The `*.parquet` files a reader sees in one partition folder, by name."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file())
    except FileNotFoundError:
        return []
    return [folder / n for n in names if n.endswith(layout.PARQUET_SUFFIX) and not n.startswith((".", "_"))]


def merged_keys(path: Path) -> Set[str]:
    """The batch keys a compacted file holds (from its footer)."""
    meta = pq.read_schema(str(path)).metadata or {}
    try:
        keys = json.loads(meta.get(SOURCES_META, b"[]").decode())
    except ValueError:
        return set()
    return {k for k in keys if isinstance(k, str)}


def key_of(path: Path) -> str:
    return path.name[: -len(layout.PARQUET_SUFFIX)]


def sort_columns(table: str) -> List[str]:
    """The columns rows are ordered by: receive order for bus tables, detection for gaps, time for bars."""
    names = set(arrow_schema(table).names)
    for wanted in (("recv_time", "epoch", "seq", "topic_seq"), ("detected_time", "epoch", "topic", "first_seq"),
                   ("time",), ("date",)):
        if wanted[0] in names:
            return [c for c in wanted if c in names]
    return []


def today_kst(now_s: Optional[float] = None) -> str:
    moment = datetime.now(KST) if now_s is None else datetime.fromtimestamp(now_s, KST)
    return moment.date().isoformat()


# ---- compaction

def compact(root: Union[str, Path], table: Optional[str] = None, before: Optional[str] = None,
            dry_run: bool = False, *, today: Optional[str] = None, durable: bool = True,
            memory_limit_bytes: int = MEMORY_LIMIT_BYTES, hook: Optional[Hook] = None) -> CompactReport:
    """Merge the batch files of every partition dated before `before` into one file per partition.

    `before` defaults to, and is capped at, `today` (the KST date now): the current day is never
    touched. Partitions without a date (daily history) are always eligible. Leftovers of an
    interrupted run are deleted in every partition, whatever its date. One partition failing (a
    corrupt file) is reported and the rest go on. Raises LakeBusy if another process is compacting.
    """
    root = Path(root)
    today = layout.check_date(today) if today is not None else today_kst()
    cutoff = min(layout.check_date(before), today) if before is not None else today
    if table is not None:
        layout.folder_of(table)  # NotFound for a bad name
    journal = read_journal_view(root)  # read before listing: a file rolled later counts as unsettled
    notes = [journal.problem + ": files of the recorder's journal are not merged"] if journal.problem else []
    results: List[PartitionResult] = []
    if not root.is_dir():
        return CompactReport(str(root), cutoff, dry_run, (), tuple(notes))
    with _Lock(root, enabled=not dry_run):
        for part in partitions(root, table):
            eligible = part.date is None or part.date < cutoff
            try:
                result = _compact_partition(part, eligible, journal, dry_run, durable, memory_limit_bytes, hook)
            except (OSError, pa.ArrowException, ValueError) as exc:
                files = visible_files(part.folder)
                result = PartitionResult(part.table, part.date, part.code, "failed", len(files), len(files),
                                         error=f"{type(exc).__name__}: {exc}")
            if result is not None:
                results.append(result)
    return CompactReport(str(root), cutoff, dry_run, tuple(results), tuple(notes))


def finish_interrupted(root: Union[str, Path], durable: bool = True) -> int:
    """Delete the batch files an interrupted compaction left beside the compacted file that holds their
    rows (the only state in which a reader sees rows twice); returns how many. Cheap: a footer is read
    only where a compacted file has company."""
    removed = 0
    root = Path(root)
    if not root.is_dir():
        return 0
    with _Lock(root):
        for part in partitions(root):
            files = visible_files(part.folder)
            if len(files) > 1 and part.folder / COMPACTED_NAME in files:
                keys = merged_keys(part.folder / COMPACTED_NAME)
                removed += _unlink([f for f in files if key_of(f) in keys], durable)
    return removed


def _compact_partition(part: Partition, eligible: bool, journal: JournalView, dry_run: bool, durable: bool,
                       memory_limit_bytes: int, hook: Optional[Hook]) -> Optional[PartitionResult]:
    step = hook or (lambda name, folder: None)
    files = visible_files(part.folder)
    if len(files) < 2:
        return None
    target = part.folder / COMPACTED_NAME
    compacted = target if target in files else None
    already = merged_keys(target) if compacted is not None else set()
    leftovers = [f for f in files if f != target and key_of(f) in already]
    batches = [f for f in files if f != target and f not in leftovers and f.name != STORE_FILE]
    held = [f for f in batches if journal.unsettled(key_of(f))]
    sources = [f for f in batches if f not in held]
    merge = eligible and len(sources) + (compacted is not None) >= 2
    if not leftovers and not merge:
        return None
    sizes = {f: _size(f) for f in files}
    result = PartitionResult(part.table, part.date, part.code, "compacted" if merge else "finished",
                             len(files), len(files), bytes_before=sum(sizes.values()), bytes_after=sum(sizes.values()),
                             leftovers=len(leftovers), held=len(held))
    if dry_run:
        gone = len(leftovers) + (len(sources) + (compacted is not None) - 1 if merge else 0)
        return replace(result, files_after=len(files) - gone, merged=len(sources) if merge else 0)
    layout.clean_tmp(part.folder)
    step("planned", part.folder)
    # leftovers first: their rows are in the current compacted file, which a merge below reads
    _unlink(leftovers, durable)
    step("unlinked", part.folder)
    if not merge:
        step("done", part.folder)
        left = visible_files(part.folder)
        return replace(result, files_after=len(left), bytes_after=sum(_size(f) for f in left))
    inputs = ([compacted] if compacted is not None else []) + sources
    keys = sorted(already | {key_of(f) for f in sources})
    rows, streamed = _write_merged(part.table, inputs, target, keys, durable, memory_limit_bytes,
                                   lambda name: step(name, part.folder))
    step("replaced", part.folder)
    for source in sources:
        _unlink([source], durable)
        step("unlinked", part.folder)
    step("done", part.folder)
    left = visible_files(part.folder)
    return replace(result, files_after=len(left), bytes_after=sum(_size(f) for f in left), rows=rows,
                   merged=len(sources), streamed=streamed)


def _write_merged(table: str, inputs: Sequence[Path], target: Path, keys: Sequence[str], durable: bool,
                  memory_limit_bytes: int, step: Callable[[str], None]) -> Tuple[int, bool]:
    """Write the rows of `inputs` (in order) to `target` atomically; (rows, streamed)."""
    metas = [pq.read_metadata(str(p)) for p in inputs]
    schema = _target_schema(table, [m.schema.to_arrow_schema() for m in metas], keys)
    in_memory = sum(m.row_group(i).total_byte_size for m in metas for i in range(m.num_row_groups))
    streamed = in_memory > memory_limit_bytes
    order = [(c, "ascending") for c in sort_columns(table)]
    rows = 0

    def parts() -> Iterator[pa.Table]:
        for path in inputs:
            yield _conformed(pq.read_table(str(path)), table, schema)

    def fill(tmp: Path) -> None:
        nonlocal rows
        step("writing")
        if streamed:  # batch key order is the recorder's journal order
            with pq.ParquetWriter(str(tmp), schema, compression="zstd") as writer:
                for data in parts():
                    writer.write_table(data)
                    rows += data.num_rows
        else:
            data = pa.concat_tables(list(parts()))
            if order:
                data = data.take(pc.sort_indices(data, sort_keys=order))
            rows = data.num_rows
            pq.write_table(data, str(tmp), compression="zstd")
        step("written")  # the temp file is complete, not yet renamed

    layout.atomic_write(target, fill, durable=durable)
    return rows, streamed


def _target_schema(table: str, found: Sequence[pa.Schema], keys: Sequence[str]) -> pa.Schema:
    """The table's schema, plus columns some file has that the catalog no longer knows (nothing is
    dropped), with the merged keys in its metadata."""
    base = arrow_schema(table)
    fields = list(base)
    names = set(base.names)
    for schema in found:
        for fld in schema:
            if fld.name not in names:
                names.add(fld.name)
                fields.append(fld)
    meta = dict(base.metadata or {})
    meta[SOURCES_META] = json.dumps(list(keys), separators=(",", ":")).encode()
    return pa.schema(fields, metadata=meta)


def _conformed(data: pa.Table, table: str, schema: pa.Schema) -> pa.Table:
    base = conform(data, table)
    arrays = list(base.columns)
    for fld in list(schema)[base.num_columns:]:
        arrays.append(data.column(fld.name).cast(fld.type) if fld.name in data.column_names
                      else pa.nulls(data.num_rows, fld.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _unlink(paths: Sequence[Path], durable: bool) -> int:
    removed = 0
    for path in paths:
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        if durable:
            layout.fsync_dir(path.parent)
    return removed


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# ---- one compactor per lake

@dataclass
class _Lock:
    """An exclusive lock on `<root>/_compact.lock` (flock; msvcrt on Windows), released at exit."""

    root: Path
    enabled: bool = True
    fd: Optional[int] = field(default=None, init=False)

    def __enter__(self) -> _Lock:
        if not self.enabled:
            return self
        self.fd = os.open(str(self.root / LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_fd(self.fd)
        except OSError:
            os.close(self.fd)
            self.fd = None
            raise LakeBusy(f"another process is compacting the lake at {self.root}") from None
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ---- what is there (koabus lake info)

@dataclass(frozen=True)
class PartitionInfo:
    table: str
    date: Optional[str]
    code: Optional[str]
    files: int
    rows: int
    bytes: int
    compacted: bool


def partition_info(root: Union[str, Path], table: Optional[str] = None) -> List[PartitionInfo]:
    """Files, rows (from the footers) and bytes of every partition."""
    out = []
    for part in partitions(root, table):
        files = visible_files(part.folder)
        if not files:
            continue
        rows = sum(pq.read_metadata(str(f)).num_rows for f in files)
        out.append(PartitionInfo(part.table, part.date, part.code, len(files), rows,
                                 sum(_size(f) for f in files), part.folder / COMPACTED_NAME in files))
    return out


def summary_rows(infos: Sequence[PartitionInfo]) -> List[Dict[str, Any]]:
    """One row per table: partitions, first/last date, files, rows, bytes, files per partition."""
    by_table: Dict[str, List[PartitionInfo]] = {}
    for info in infos:
        by_table.setdefault(info.table, []).append(info)
    rows = []
    for name, parts in sorted(by_table.items()):
        dates = sorted(p.date for p in parts if p.date)
        files = sum(p.files for p in parts)
        rows.append({"table": name, "partitions": len(parts), "first_date": dates[0] if dates else None,
                     "last_date": dates[-1] if dates else None, "files": files,
                     "rows": sum(p.rows for p in parts), "bytes": sum(p.bytes for p in parts),
                     "max_files": max(p.files for p in parts),
                     "compacted": sum(1 for p in parts if p.compacted)})
    return rows
