"""The roller: a child process that turns closed journal segments into Parquet/PostgreSQL batches.

Decoding bodies and building Arrow tables costs ~20 us a row; in its own process it never takes the
GIL from the intake thread. The recorder starts it as `python -m koabus.services.recorder.roller` and
talks JSON lines over its stdin/stdout (between our own two processes; nothing from the bus):

    -> {"lake": ..., "sinks": [...], "postgres": {"dsn": ..., "schema": ...}}       once, first
    -> {"op": "roll", "segment": N, "path": ..., "key": ..., "dater": [epoch, ns]}
    <- {"segment": N, "rows": r, "gap_rows": g, "bytes": b, "error": null|text, "retry": bool, "rejected": bool}
    -> {"op": "stop"}                                                                close the sinks, exit 0

A segment is rolled in journal order: LIVE and SNAPSHOT records become rows of their (table, trading
date) (the date from `RowDater`, started from the state the recorder passes; a service's records, e.g.
alerts, by their own exchange or receive time, never moving the broker's dater), GAP records rows of the
gaps table, REPAIRED records mark the gap rows they name. Every (table, date) is written to every sink
under the segment's batch key, so rolling a segment again replaces, never duplicates. The roller holds
at most one segment's Arrow tables and `CHUNK_ROWS` decoded bodies at a time.

It exits when its parent dies (stdin closes, or the parent pid changes), so a `kill -9` of the
recorder leaves no orphan behind.
"""
from __future__ import annotations

import gc
import json
import logging
import os
import select
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Tuple

import msgpack

from koabus.common.client.firehose import parse

from .core import GapRow, RollResult, RowDater, day_text, kst_day
from .journal import GAP, LIVE, REPAIRED, SNAPSHOT, JournalRecord, decode_records

log = logging.getLogger(__name__)

#: bodies decoded before they become an Arrow table (bounds the roller's memory)
CHUNK_ROWS = 10_000
#: bytes of a segment file read at a time
READ_BYTES = 8 << 20
#: how often an idle roller checks that its parent is alive
PARENT_CHECK_S = 1.0


class Row(NamedTuple):
    """One recorded publication, as `to_arrow` reads it."""

    topic: str
    epoch: int
    seq: int
    topic_seq: int
    event_ns: Optional[int]
    recv_ns: int
    body: Any


def read_segment(path: Path) -> Iterator[JournalRecord]:
    """The records of a closed segment, read a few MB at a time."""
    with open(path, "rb") as fh:
        rest = b""
        while True:
            chunk = fh.read(READ_BYTES)
            if not chunk:
                break
            data = rest + chunk if rest else chunk
            records, good = decode_records(data)
            yield from records
            rest = data[good:]
        if rest:
            log.warning("%s: %d bytes after the last whole record ignored", path, len(rest))


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not allowed")


def unpack_envelope(frame: bytes) -> Tuple[Any, ...]:
    """A journaled envelope's 7 values (ValueError when it is not one)."""
    try:
        env = msgpack.unpackb(frame, use_list=False, ext_hook=_no_ext, timestamp=0, max_ext_len=0)
    except Exception:
        raise ValueError("not an envelope") from None
    if type(env) is not tuple or len(env) != 7 or type(env[2]) is not int or type(env[6]) is not int \
            or (env[5] is not None and type(env[5]) is not int):
        raise ValueError("not an envelope")
    return env


def _body(frame: bytes) -> Any:
    try:
        body = msgpack.unpackb(frame, raw=False, strict_map_key=False, ext_hook=_no_ext, timestamp=0, max_ext_len=0)
    except Exception:  # any malformation: the row is kept, its values null
        return {}
    return body if isinstance(body, dict) else {}


class SegmentRoller:
    """Segments -> Arrow tables per (table, date) -> every sink. Also used in process by tests."""

    def __init__(self, lake: str, sinks: List[Any]):
        self.lake = lake
        self.sinks = sinks
        self._tables: Dict[bytes, Optional[str]] = {}

    def tables(self, path: Path, dater_state: Optional[List[Any]]) -> Tuple[List[Tuple[str, str, Any]], int, int]:
        """([(table, date, arrow table)], data rows, gap rows) of the segment at `path`."""
        import pyarrow as pa

        from koabus.common.lake.schema import rows_to_arrow, table_of, to_arrow

        dater = RowDater(dater_state)
        groups: Dict[Tuple[str, int], Tuple[List[Row], List[bool]]] = {}
        done: Dict[Tuple[str, int], List[Any]] = {}
        gaps: List[GapRow] = []
        tables = self._tables
        rows = 0

        def convert(key: Tuple[str, int]) -> None:
            pubs, flags = groups.pop(key)
            done.setdefault(key, []).append(to_arrow(key[0], pubs, flags))

        see, day = dater.see, dater.day
        for kind, _recv, frames, source in read_segment(path):
            if kind == LIVE or kind == SNAPSHOT:
                topic = frames[0]
                table = tables.get(topic, "")
                if table == "":
                    raw = parse(frames, 0)  # the first of its topic: checked in full, the journal is a file
                    table = tables[topic] = table_of(topic.decode("ascii")) if raw is not None else None
                if table is None:
                    continue
                try:
                    _v, _t, epoch, seq, topic_seq, event_ns, recv_ns = unpack_envelope(frames[1])
                except ValueError:
                    log.warning("%s: a journaled publication with a bad envelope skipped", path)
                    continue
                if source:  # another service (its own epoch and clock): dated by its own times only
                    key = (table, kst_day(event_ns if event_ns is not None else recv_ns))
                else:
                    see(epoch, event_ns)
                    key = (table, day(epoch, event_ns, recv_ns))
                group = groups.get(key)
                if group is None:
                    group = groups[key] = ([], [])
                group[0].append(Row(topic.decode("ascii"), epoch, seq, topic_seq, event_ns, recv_ns, _body(frames[2])))
                group[1].append(kind == SNAPSHOT)
                rows += 1
                if len(group[0]) >= CHUNK_ROWS:
                    convert(key)
            elif kind == GAP:
                gap = GapRow.from_payload(_body(frames[2]))
                if gap is not None:
                    gaps.append(gap)
            elif kind == REPAIRED:
                try:
                    ids = set(msgpack.unpackb(frames[2], use_list=True)) if frames[2] else set()
                except Exception:
                    ids = set()
                gaps = [replace(g, repaired=True) if g.id in ids else g for g in gaps] if ids else gaps
        for key in list(groups):
            convert(key)
        out: List[Tuple[str, str, Any]] = []
        for (table, day), parts in sorted(done.items()):
            out.append((table, day_text(day), parts[0] if len(parts) == 1 else pa.concat_tables(parts)))
        by_day: Dict[int, List[GapRow]] = {}
        for gap in gaps:
            by_day.setdefault(gap.day, []).append(gap)
        for day, day_gaps in sorted(by_day.items()):
            out.append(("gaps", day_text(day), rows_to_arrow("gaps", [g.to_row() for g in day_gaps])))
        return out, rows, len(gaps)

    def roll(self, segment: int, path: Path, key: str, dater_state: Optional[List[Any]]) -> RollResult:
        """Write segment `segment` to every sink under `key`."""
        from koabus.common.lake import layout

        from .sinks import SinkRejected, SinkUnavailable

        result = RollResult(segment)
        gc.disable()  # hundreds of thousands of short-lived dicts: the cyclic GC would rescan them all
        try:
            tables, result.rows, result.gap_rows = self.tables(path, dater_state)
        except OSError as exc:
            result.error, result.retry = f"reading journal segment {segment}: {exc}", True
            return result
        except Exception as exc:  # a bug, not the data: the recorder stops rolling and keeps the journal
            log.exception("rolling journal segment %d failed", segment)
            result.error = f"journal segment {segment}: {type(exc).__name__}: {exc}"
            return result
        finally:
            gc.enable()
        try:
            for sink in self.sinks:
                for table, date, data in tables:
                    try:
                        sink.write(table, date, data, key)
                    except SinkRejected as exc:
                        log.error("sink %s rejected %s %s (%d rows): %s", getattr(sink, "name", sink), table,
                                  date, data.num_rows, exc)
                        result.error = f"{table} {date} rejected: {exc}"
                        result.rejected = True
                sink.flush()
        except (SinkUnavailable, OSError) as exc:
            result.error, result.retry = f"sink: {exc}", True
            return result
        except Exception as exc:
            log.exception("writing journal segment %d failed", segment)
            result.error, result.retry = f"sink: {type(exc).__name__}: {exc}", True
            return result
        if result.rejected:
            keep = Path(path).parent.parent / "rejected"
            keep.mkdir(exist_ok=True)
            shutil.copy2(path, keep)
        for table, date, _data in tables:
            try:
                result.bytes += layout.file_path(self.lake, table, date, key).stat().st_size
            except Exception:  # a sink without files (PostgreSQL only), or a bad key
                pass
        return result


def make_sinks(config: Dict[str, Any]) -> List[Any]:
    from .sinks import make_sink

    sinks = []
    for kind in config.get("sinks") or ("parquet",):
        if kind == "parquet":
            sinks.append(make_sink("parquet", root=config["lake"]))
        else:
            pg = config.get("postgres") or {}
            sinks.append(make_sink("postgres", dsn=pg.get("dsn", ""), schema=pg.get("schema", "koabus")))
    return sinks


def _lines(stream: Any, parent: int) -> Iterator[Optional[Dict[str, Any]]]:
    """Commands from the parent; None on EOF or when the parent is gone."""
    fd = stream.fileno()
    while True:
        ready, _, _ = select.select([fd], [], [], PARENT_CHECK_S)
        if os.getppid() != parent:
            return
        if not ready:
            continue
        line = stream.readline()
        if not line:
            return
        try:
            data = json.loads(line)
        except ValueError:
            log.error("roller: not a command: %r", line[:80])
            continue
        if isinstance(data, dict):
            yield data


def main() -> int:
    """The roller process: config line, then roll commands until stop or the parent's end."""
    parent = os.getppid()
    stdin, stdout = sys.stdin.buffer, sys.stdout
    commands = _lines(stdin, parent)
    config = next(commands, None)
    if config is None:
        return 0
    logging.basicConfig(level=str(config.get("log_level") or "INFO").upper(), stream=sys.stderr,
                        format="%(asctime)s roller[%(process)d] %(levelname)s %(name)s: %(message)s")
    roller = SegmentRoller(config["lake"], make_sinks(config))
    stdout.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    stdout.flush()
    try:
        for command in commands:
            op = command.get("op")
            if op == "stop":
                break
            if op != "roll":
                continue
            started = time.monotonic()
            result = roller.roll(int(command["segment"]), Path(command["path"]), str(command["key"]),
                                 command.get("dater"))
            result.seconds = round(time.monotonic() - started, 3)
            reply = result.__dict__
            try:
                stdout.write(json.dumps(reply) + "\n")
                stdout.flush()
            except (BrokenPipeError, OSError):
                break
    finally:
        for sink in roller.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.warning("closing sink %s: %s", sink, exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
