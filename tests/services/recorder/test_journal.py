"""The recorder's journal on real files: round trip, torn tails cut, checkpoint, rolled segments deleted."""
from __future__ import annotations

import json
import os

import pytest

from koabus.common.protocol import Publication
from koabus.services.recorder.journal import LIVE, SNAPSHOT, START, Journal, decode_records, encode_record


def frames(n: int):
    return tuple(Publication(f"rt.trade.{n:06d}", "RT", 5, n, n, None, 1000 + n,
                             {"values": {"price": n}}).to_frames())


def write(journal: Journal, count: int, start: int = 1) -> None:
    for n in range(start, start + count):
        journal.append(LIVE, 10_000 + n, frames(n))
    journal.flush()


def test_records_round_trip_through_a_segment(tmp_path):
    j = Journal(str(tmp_path))
    assert j.open() == []
    j.append(START, 1, (b"", b"", b""))
    write(j, 3)
    j.append(SNAPSHOT, 99, frames(7))
    closed = j.rotate()
    records = list(j.read(closed))
    assert [r.kind for r in records] == [START, LIVE, LIVE, LIVE, SNAPSHOT]
    assert records[2].recv_wall_ns == 10_002 and records[2].frames == frames(2)
    assert Publication.from_frames(list(records[4].frames)).seq == 7
    assert j.size_bytes == os.path.getsize(j.directory / f"{closed:012d}.jnl")


def test_unflushed_records_are_not_on_disk_and_flushed_ones_are(tmp_path):
    j = Journal(str(tmp_path))
    j.open()
    write(j, 2)
    j.append(LIVE, 1, frames(3))  # buffered only: what a kill -9 before the next flush loses
    data = (j.directory / f"{j.segment:012d}.jnl").read_bytes()
    assert len(decode_records(data)[0]) == 2


@pytest.mark.parametrize("damage", ["short", "crc", "garbage"])
def test_a_torn_or_corrupt_tail_is_cut_at_the_last_whole_record(tmp_path, damage):
    j = Journal(str(tmp_path))
    j.open()
    write(j, 5)
    path = j.directory / f"{j.segment:012d}.jnl"
    good = path.read_bytes()
    last = encode_record(LIVE, 1, frames(6))
    with open(path, "ab") as fh:
        if damage == "short":
            fh.write(last[:-3])  # the process died in the middle of a write
        elif damage == "crc":
            fh.write(last[:-1] + bytes([last[-1] ^ 0xFF]))
        else:
            fh.write(b"\x00\xff" * 7)
    again = Journal(str(tmp_path))
    pending = again.open()
    assert pending == [j.segment]
    assert path.read_bytes() == good
    assert [r.frames for r in again.read(j.segment)] == [frames(n) for n in range(1, 6)]
    assert again.truncated_bytes > 0
    assert again.segment == j.segment + 1  # never appends to an old segment


def test_commit_writes_the_checkpoint_atomically_and_deletes_rolled_segments(tmp_path):
    j = Journal(str(tmp_path))
    j.open()
    write(j, 2)
    first = j.rotate()
    write(j, 2, start=3)
    second = j.rotate()
    j.commit(first, {"seq": 2})
    names = sorted(p.name for p in j.directory.iterdir())
    assert names == [f"{second:012d}.jnl", f"{j.segment:012d}.jnl"]
    saved = json.loads(j.checkpoint_path.read_text())
    assert saved["rolled_through"] == first and saved["state"] == {"seq": 2}
    assert not list(j.root.glob("*.tmp"))

    again = Journal(str(tmp_path))
    pending = again.open()
    assert pending == [second, j.segment]  # the second and the (empty) current one were never rolled
    assert again.checkpoint.rolled_through == first and again.checkpoint.state == {"seq": 2}
    assert [r.frames for r in again.read(second)] == [frames(3), frames(4)]
    assert again.journal_id == j.journal_id  # batch keys stay the same across restarts


def test_segments_at_or_below_the_checkpoint_are_deleted_on_open(tmp_path):
    j = Journal(str(tmp_path))
    j.open()
    write(j, 1)
    seg = j.rotate()
    j.close()
    j.commit(seg, None)
    # a crash between the checkpoint and the deletion leaves the file behind
    (j.directory / f"{seg:012d}.jnl").write_bytes(encode_record(LIVE, 1, frames(1)))
    again = Journal(str(tmp_path))
    assert seg not in again.open()
    assert not (j.directory / f"{seg:012d}.jnl").exists()


def test_a_checkpoint_of_another_format_is_refused(tmp_path):
    j = Journal(str(tmp_path))
    j.open()
    j.checkpoint_path.write_text(json.dumps({"version": 99}))
    with pytest.raises(ValueError):
        Journal(str(tmp_path)).open()


def test_a_records_source_rides_in_the_kind_bytes_high_bits_and_old_records_read_as_the_broker(tmp_path):
    from koabus.services.recorder.journal import MAX_SOURCE

    plain, alert = encode_record(LIVE, 5, frames(1)), encode_record(LIVE, 6, frames(2), source=3)
    assert plain[16] == LIVE and alert[16] == 3 << 4 | LIVE  # after length, crc and the u64 time
    assert len(plain) == len(alert)  # no new field: an older journal reads unchanged
    data = plain + alert + encode_record(START, 7, (b"", b"", b"\x90"), MAX_SOURCE)
    records, good = decode_records(data)
    assert [(r.kind, r.source) for r in records] == [(LIVE, 0), (LIVE, 3), (START, MAX_SOURCE)]
    assert records[1].frames == frames(2) and good == len(data)
    with pytest.raises(ValueError):
        encode_record(LIVE, 1, frames(1), source=MAX_SOURCE + 1)
    j = Journal(str(tmp_path))
    j.open()
    j.append(LIVE, 1, frames(1), source=1)
    j.append(LIVE, 2, frames(2))
    assert [(r.source, r.frames) for r in j.read(j.rotate())] == [(1, frames(1)), (0, frames(2))]
