"""Parquet sink: one zstd Parquet file per batch in the lake's Hive layout (common/lake/layout.py).

Each file is written to a temporary sibling, fsynced and renamed over its final name, so a reader
never sees half a file, a crash leaves only a `*.tmp` (ignored by readers, removed when the next
sink opens), and writing the same batch key again replaces the file rather than adding rows.
"""
from __future__ import annotations

import errno
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Tuple, Union

import pyarrow as pa
import pyarrow.parquet as pq

from koabus.common.errors import InvalidRequest
from koabus.common.lake import layout
from koabus.common.lake.schema import date_of_ns
from koabus.services.recorder.sinks.base import SinkError, SinkRejected, SinkUnavailable

DEFAULT_COMPRESSION = "zstd"
RECENT_PARTITIONS = 2  # date partitions per table swept of crash leftovers when the sink opens
# errors that a later attempt may not hit (space freed, mount back); anything else is the batch's fault
_TRANSIENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EAGAIN, errno.EBUSY,
                     getattr(errno, "ESTALE", errno.EIO)}


class ParquetSink:
    """Sink into Parquet files under `root` (the `lake` setting). `write` is durable when it returns.

    `durable=False` skips the fsyncs (scratch lakes, benchmarks of the bare write). Stale `*.tmp`
    files of crashed writers are removed at start from the two newest date partitions of every bus
    table (where a killed recorder was writing), and from any partition before the first write into
    it; `layout.clean_tmp(root)` sweeps a whole lake.
    """

    name = "parquet"

    def __init__(self, root: Union[str, Path] = layout.DEFAULT_ROOT, *, compression: str = DEFAULT_COMPRESSION,
                 compression_level: Optional[int] = None, durable: bool = True):
        self.root = Path(root)
        self.compression = compression
        self.compression_level = compression_level
        self.durable = durable
        self.files_written = 0
        self.rows_written = 0
        self.bytes_written = 0
        self.tmp_cleaned = 0
        self._closed = False
        self._lock = threading.Lock()
        self._swept: Set[Path] = set()  # partition folders already cleaned of stale *.tmp
        self.root.mkdir(parents=True, exist_ok=True)
        for table in layout.list_tables(self.root):
            if layout.is_history(table):
                continue
            for day in layout.list_dates(self.root, table)[-RECENT_PARTITIONS:]:
                self._sweep(layout.partition_dir(self.root, table, day))

    def __repr__(self) -> str:
        return f"ParquetSink(root={str(self.root)!r})"

    # -- Sink protocol

    def write(self, table: str, date: str, batch: pa.Table, batch_key: str) -> None:
        """Write `batch` as `<partition>/<batch_key>.parquet`, replacing an earlier file of that key.

        For bus tables and gaps `date` names the partition. History tables are split by their own
        partition columns (`code`, and the KST date of `time` for minute bars); `date` is unused there.
        An empty batch removes the key's earlier file, if any (the replacement has no rows).
        """
        if self._closed:
            raise SinkError(f"{self!r} is closed")
        try:
            parts = self._partitions(table, date, batch, batch_key)
        except InvalidRequest as exc:
            raise SinkRejected(str(exc)) from None
        for path, part in parts:
            self._write_file(path, part)

    def flush(self) -> None:
        """Nothing buffered: every `write` is renamed into place (and fsynced) before it returns."""

    def close(self) -> None:
        self._closed = True

    # -- internals

    def _partitions(self, table: str, date: str, batch: pa.Table,
                    batch_key: str) -> List[Tuple[Path, pa.Table]]:
        if not layout.is_history(table):
            return [(layout.file_path(self.root, table, date, batch_key), batch)]
        if batch.num_rows == 0:
            return []
        codes = batch.column("code").to_pylist()
        if table == layout.HISTORY_DAILY:
            keys: List[Tuple[str, Optional[str]]] = [(c, None) for c in codes]
        else:
            times = batch.column("time").cast(pa.int64()).to_pylist()
            unit = _NS_PER_UNIT[batch.schema.field("time").type.unit]
            keys = [(c, date_of_ns(t * unit) if t is not None else None) for c, t in zip(codes, times)]
        groups: Dict[Tuple[str, Optional[str]], List[int]] = OrderedDict()
        for i, key in enumerate(keys):
            groups.setdefault(key, []).append(i)
        parts = []
        for (code, day), rows in groups.items():
            if code is None or (day is None and table != layout.HISTORY_DAILY):
                raise SinkRejected(f"{table}: rows without a code or time cannot be placed in a partition")
            part = batch if len(groups) == 1 else batch.take(pa.array(rows, type=pa.int64()))
            parts.append((layout.file_path(self.root, table, day, batch_key, code=code), part))
        return parts

    def _sweep(self, folder: Path) -> None:
        with self._lock:
            if folder in self._swept:
                return
            self._swept.add(folder)
        removed = layout.clean_tmp(folder)
        with self._lock:
            self.tmp_cleaned += removed

    def _write_file(self, path: Path, batch: pa.Table) -> None:
        self._sweep(path.parent)
        if batch.num_rows == 0:
            self._remove(path)
            return
        options: Dict[str, Any] = {"compression": self.compression}
        if self.compression_level is not None:
            options["compression_level"] = self.compression_level

        def fill(tmp: Path) -> None:
            pq.write_table(batch, str(tmp), **options)

        try:
            layout.atomic_write(path, fill, durable=self.durable)
        except OSError as exc:
            error = SinkUnavailable if exc.errno in _TRANSIENT_ERRNOS else SinkRejected
            raise error(f"cannot write {path}: {exc}") from None
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise SinkRejected(f"cannot write {path}: {exc}") from None
        with self._lock:
            self.files_written += 1
            self.rows_written += batch.num_rows
            try:
                self.bytes_written += path.stat().st_size
            except OSError:
                pass

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            return
        if self.durable:
            layout.fsync_dir(path.parent)


_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
