"""The recorder's write-ahead journal: every publication on disk before anything else happens to it.

Layout under `<lake>/_recorder/`:

    journal/<segment:012d>.jnl    append-only records, one segment per roll
    checkpoint.json               the last segment rolled into the sinks, and the gap tracker's state then

Record layout (little endian):

    u32 payload length, u32 crc32(payload), payload =
    u64 recv_wall_ns, u8 source << 4 | kind, u8 topic length, u16 envelope length, u32 body length,
    topic, envelope, body

The low four bits of the kind byte are the record's kind; the high four its source: 0 the broker's PUB
(the only source before other services were recorded, so older journals read unchanged), n the n-th
entry of the `services` list named in the latest START record (an older recorder would take such a
record for a corrupt tail: downgrade only with an empty journal). `kind` is LIVE (a publication as received), SNAPSHOT (a broker last-value item taken to repair a gap),
START (a recorder process began: the next live message tells the hole its absence left; its body frame
is a msgpack list of the names of the service sources 1, 2, ... it records, empty for none), REPAIRED
(a snapshot of the prefix in the topic frame completed; the body frame is a msgpack list of the ids of
the gap rows it repaired), GAP (one row of the gaps table, a msgpack map in the body frame, journaled
just before the message that revealed it) or OVERFLOW (intake paused because too much waited to be
rolled: the next live message tells the hole). A publication's frames are its own.

`append` only buffers; `flush` writes and fsyncs (the service calls it every flush_interval_s, so a
kill -9 loses at most that much). A segment is closed (fsynced) before it is rolled, so only the newest
segment can end in a torn record; `open` cuts it off there. `commit(segment, state)` replaces the
checkpoint atomically and deletes the rolled segments.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from koabus.common.filelock import FileLock, FileLocked
from koabus.common.lake.layout import recorder_dir

log = logging.getLogger(__name__)

LIVE = 0
SNAPSHOT = 1
START = 2
REPAIRED = 3
GAP = 4
OVERFLOW = 5
KINDS = (LIVE, SNAPSHOT, START, REPAIRED, GAP, OVERFLOW)
EMPTY = (b"", b"", b"")
#: source 0 is the broker; 1..MAX_SOURCE the recorded services (the kind byte's high four bits)
BROKER = 0
MAX_SOURCE = 15

_RECORD = struct.Struct("<II")
_PAYLOAD = struct.Struct("<QBBHI")
SEGMENT_SUFFIX = ".jnl"
CHECKPOINT_VERSION = 1
#: a record larger than this is corruption, not data (a publication frame is at most a few MB)
MAX_RECORD_BYTES = 64 << 20
#: in the recorder's folder: held by the one recorder process writing this lake
LOCK_FILE = "recorder.lock"


class JournalBusy(OSError):
    """Another recorder holds the lake's journal."""


def hold_lake(lake: str) -> FileLock:
    """Lock the lake's journal for this process: a second recorder would write into the same segments and
    checkpoint. Held until the process exits (the kernel frees it even after kill -9)."""
    root = recorder_dir(lake)
    root.mkdir(parents=True, exist_ok=True)
    try:
        return FileLock.acquire(str(root / LOCK_FILE))
    except FileLocked as exc:
        raise JournalBusy(f"the lake {lake} is being recorded by another recorder"
                          f"{f' (pid {exc.pid})' if exc.pid else ''}: give this one its own lake") from None


class JournalRecord(NamedTuple):
    """One journal record: what kind, when the recorder received it (wall ns), the three frames, and the
    source it came from (0 the broker). (A named tuple: a roll reads hundreds of thousands of them.)"""

    kind: int
    recv_wall_ns: int
    frames: Tuple[bytes, bytes, bytes]
    source: int = BROKER


@dataclass(frozen=True)
class Checkpoint:
    """Segments up to `rolled_through` are in the sinks; `state` is the core's state right after them."""

    rolled_through: int = 0
    state: Optional[Dict[str, Any]] = None


def encode_record(kind: int, recv_wall_ns: int, frames: Sequence[bytes], source: int = BROKER) -> bytes:
    if not 0 <= source <= MAX_SOURCE:
        raise ValueError(f"journal source {source} is not 0..{MAX_SOURCE}")
    topic, envelope, body = frames
    payload = b"".join((_PAYLOAD.pack(recv_wall_ns, source << 4 | kind, len(topic), len(envelope), len(body)),
                        topic, envelope, body))
    return _RECORD.pack(len(payload), zlib.crc32(payload)) + payload


def decode_records(data: bytes) -> Tuple[List[JournalRecord], int]:
    """The whole records at the start of `data` and the offset where the good part ends (a torn or
    corrupt record, or the end)."""
    out: List[JournalRecord] = []
    pos, end = 0, len(data)
    view = memoryview(data)
    while pos + _RECORD.size <= end:
        length, crc = _RECORD.unpack_from(data, pos)
        start = pos + _RECORD.size
        if length < _PAYLOAD.size or length > MAX_RECORD_BYTES or start + length > end:
            break
        payload = view[start:start + length]
        if zlib.crc32(payload) != crc:
            break
        recv_ns, kind, t_len, e_len, b_len = _PAYLOAD.unpack_from(payload, 0)
        source, kind = kind >> 4, kind & 0x0F
        if kind not in KINDS or _PAYLOAD.size + t_len + e_len + b_len != length:
            break
        p = start + _PAYLOAD.size
        out.append(JournalRecord(kind, recv_ns, (data[p:p + t_len], data[p + t_len:p + t_len + e_len],
                                                 data[p + t_len + e_len:start + length]), source))
        pos = start + length
    return out, pos


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class Journal:
    """The journal directory of one recorder. Appends and flushes from one thread; `commit` may run in
    another (it touches only closed segments and the checkpoint)."""

    def __init__(self, lake: str):
        self.root = recorder_dir(lake)
        self.directory = self.root / "journal"
        self.checkpoint_path = self.root / "checkpoint.json"
        self.id_path = self.root / "journal_id"
        #: names this journal in batch keys, so a journal started afresh never reuses an old file name
        self.journal_id = ""
        self.checkpoint = Checkpoint()
        self.segment = 0
        self._file: Optional[BinaryIO] = None
        self._buffer: List[bytes] = []
        self._buffered_bytes = 0
        self._lock = threading.Lock()
        self._sizes: Dict[int, int] = {}
        self.truncated_bytes = 0

    # ---- opening and recovery ----------------------------------------------------------------

    def open(self) -> List[int]:
        """Read the checkpoint, delete rolled segments, cut a torn tail, start a new segment.

        Returns the segments written but not rolled (oldest first): the caller replays them.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        self.journal_id = self._read_or_make_id()
        self.checkpoint = self._read_checkpoint()
        pending = []
        for number in self._segments():
            path = self._path(number)
            if number <= self.checkpoint.rolled_through:
                path.unlink()
                continue
            pending.append(number)
        for number in pending:
            data = self._path(number).read_bytes()
            _, good = decode_records(data)
            if good < len(data):
                log.warning("journal segment %d: cutting %d bytes of a torn or corrupt tail",
                            number, len(data) - good)
                self.truncated_bytes += len(data) - good
                with open(self._path(number), "r+b") as fh:
                    fh.truncate(good)
                    fh.flush()
                    os.fsync(fh.fileno())
            self._sizes[number] = good
        last = max([self.checkpoint.rolled_through, *pending]) if pending else self.checkpoint.rolled_through
        self._start_segment(last + 1)
        return pending

    def _read_or_make_id(self) -> str:
        try:
            text = self.id_path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = ""
        if len(text) == 12 and text.isalnum():
            return text
        text = secrets.token_hex(6)
        tmp = self.id_path.with_name(self.id_path.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(text + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.id_path)
        _fsync_dir(self.root)
        return text

    def segment_size(self, number: int) -> int:
        with self._lock:
            return self._sizes.get(number, 0)

    def _read_checkpoint(self) -> Checkpoint:
        try:
            data = json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Checkpoint()
        if not isinstance(data, dict) or data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"{self.checkpoint_path}: not a recorder checkpoint (version {CHECKPOINT_VERSION})")
        state = data.get("state")
        return Checkpoint(int(data.get("rolled_through", 0)), state if isinstance(state, dict) else None)

    def _segments(self) -> List[int]:
        out = []
        for path in self.directory.glob("*" + SEGMENT_SUFFIX):
            stem = path.name[:-len(SEGMENT_SUFFIX)]
            if stem.isdigit():
                out.append(int(stem))
        return sorted(out)

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:012d}{SEGMENT_SUFFIX}"

    def path(self, number: int) -> Path:
        """The file of segment `number` (the roller reads closed segments from it)."""
        return self._path(number)

    def _start_segment(self, number: int) -> None:
        self.segment = number
        self._file = open(self._path(number), "ab")
        _fsync_dir(self.directory)
        with self._lock:
            self._sizes[number] = 0

    # ---- writing -----------------------------------------------------------------------------

    def append(self, kind: int, recv_wall_ns: int, frames: Sequence[bytes], source: int = BROKER) -> None:
        """Buffer one record (written and made durable by the next `flush`)."""
        record = encode_record(kind, recv_wall_ns, frames, source)
        self._buffer.append(record)
        self._buffered_bytes += len(record)

    def flush(self, durable: bool = True) -> None:
        """Write what is buffered and, when `durable`, fsync it."""
        if self._file is None:
            return
        if self._buffer:
            self._file.write(b"".join(self._buffer))
            with self._lock:
                self._sizes[self.segment] = self._sizes.get(self.segment, 0) + self._buffered_bytes
            self._buffer.clear()
            self._buffered_bytes = 0
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def rotate(self) -> int:
        """Close the current segment (flushed, fsynced) and start the next; returns the closed one."""
        self.flush()
        closed = self.segment
        if self._file is not None:
            self._file.close()
        self._start_segment(closed + 1)
        return closed

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None

    # ---- reading and committing --------------------------------------------------------------

    def read(self, number: int) -> Iterator[JournalRecord]:
        """The records of a closed segment, in order."""
        records, _ = decode_records(self._path(number).read_bytes())
        return iter(records)

    def commit(self, number: int, state: Optional[Dict[str, Any]]) -> None:
        """Segments up to `number` are in the sinks: say so atomically, then delete them."""
        tmp = self.checkpoint_path.with_name(self.checkpoint_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"version": CHECKPOINT_VERSION, "rolled_through": number, "state": state}, fh,
                      separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.checkpoint_path)
        _fsync_dir(self.root)
        self.checkpoint = Checkpoint(number, state)
        for old in self._segments():
            if old <= number and old != self.segment:
                try:
                    self._path(old).unlink()
                except FileNotFoundError:
                    pass
                with self._lock:
                    self._sizes.pop(old, None)

    @property
    def buffered_bytes(self) -> int:
        """Bytes appended but not yet written to the file."""
        return self._buffered_bytes

    @property
    def size_bytes(self) -> int:
        """Bytes in the journal's segments (written and buffered)."""
        with self._lock:
            return sum(self._sizes.values()) + self._buffered_bytes
