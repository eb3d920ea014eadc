"""Start-up recovery and rolling in process, on real files: a journal left by a killed recorder is rolled
into Parquet (its gap rows too), rolling it again (a crash after the write, before the checkpoint)
replaces, never duplicates; rows without an exchange time are dated by the session they belong to."""
from __future__ import annotations

import shutil
from dataclasses import replace
from typing import List

import msgpack

from koabus.common.client.firehose import parse
from koabus.services.recorder.app import Recorder
from koabus.services.recorder.config import load_settings
from koabus.services.recorder.core import RecorderCore, Segment
from koabus.services.recorder.journal import EMPTY, GAP, LIVE, REPAIRED, START, Journal
from koabus.services.recorder.roller import SegmentRoller
from koabus.services.recorder.sinks import make_sink
from tests.services.recorder.recorder_proc import parquet_files, read_rows
from tests.services.recorder.test_core import T0, Bus

DAY_NS = 86400 * 1_000_000_000


def journal_like_intake(j: Journal, core: RecorderCore, pubs) -> None:
    """What the intake thread journals for `pubs`: each gap row first, then the message."""
    for pub in pubs:
        for gap in core.live(parse(pub.to_frames(), pub.recv_ns), pub.recv_ns):
            j.append(GAP, pub.recv_ns, (b"", b"", msgpack.packb(gap.to_payload())))
        j.append(LIVE, pub.recv_ns, pub.to_frames())


def leave_a_journal(lake: str, count: int) -> None:
    """What a recorder killed before its first roll leaves: a START marker and `count` messages."""
    j = Journal(lake)
    j.open()
    j.append(START, 1, EMPTY)
    core = RecorderCore()
    core.start()
    bus = Bus()
    journal_like_intake(j, core, [bus.pub("rt.trade.005930" if n % 2 else "rt.quote.000660",
                                          skip=1 if n == 7 else 0) for n in range(count)])
    j.flush()
    j.close()


def recover_and_roll(lake: str) -> Recorder:
    rec = Recorder(load_settings(None, {"lake": lake}))
    segments = rec.recover()
    roll(rec.journal, segments, rec.batch_key, lake)
    rec.journal.close()
    rec.rows = sum(s.rows for s in segments)
    return rec


def roll(journal: Journal, segments: List[Segment], key, lake: str) -> int:
    sink = make_sink("parquet", root=lake)
    roller = SegmentRoller(lake, [sink])
    rows = 0
    for seg in segments:
        result = roller.roll(seg.number, journal.path(seg.number), key(seg.number), seg.dater)
        assert result.error is None, result.error
        journal.commit(seg.number, seg.state)
        rows += result.rows
    sink.close()
    return rows


def test_a_left_journal_is_rolled_at_start_and_a_second_roll_of_it_replaces_the_files(tmp_path):
    lake = str(tmp_path / "lake")
    leave_a_journal(lake, 40)
    saved = tmp_path / "saved"
    shutil.copytree(tmp_path / "lake" / "_recorder", saved)

    first = recover_and_roll(lake)
    assert first.replayed_segments == 1
    files = parquet_files(tmp_path / "lake", "rt") + parquet_files(tmp_path / "lake", "gaps")
    rows = read_rows(tmp_path / "lake", "rt")
    gaps = read_rows(tmp_path / "lake", "gaps")
    assert len(rows) == 40 and len(gaps) == 2  # seq 8 was skipped: one '' row, one topic row
    assert {g["topic"] for g in gaps} == {"", "rt.trade.005930"}
    # the recovered core knows where the stream stood: the next message measures the restart hole
    assert first.core.positions.seq == 41 and first.core.positions.hole == "restart"

    # the process died after writing the files but before the checkpoint: the same segment again
    shutil.rmtree(tmp_path / "lake" / "_recorder")
    shutil.copytree(saved, tmp_path / "lake" / "_recorder")
    again = recover_and_roll(lake)
    assert again.replayed_segments == 1
    assert parquet_files(tmp_path / "lake", "rt") + parquet_files(tmp_path / "lake", "gaps") == files
    assert read_rows(tmp_path / "lake", "rt") == rows and read_rows(tmp_path / "lake", "gaps") == gaps

    # and once committed, a third start has only the second one's START marker to roll
    third = recover_and_roll(lake)
    assert third.replayed_segments == 1 and third.rows == 0
    assert len(read_rows(tmp_path / "lake", "rt")) == 40


def one_segment(lake: str, records) -> Segment:
    """A journal of one closed segment holding `records` ((kind, frames) in order)."""
    j = Journal(lake)
    j.open()
    for kind, frames in records:
        j.append(kind, T0, frames)
    number = j.rotate()
    j.close()
    return Segment(number, len(records), len(records), T0, [None, None], {})


def test_rows_without_an_exchange_time_go_to_the_date_of_the_session_they_belong_to(tmp_path):
    lake = tmp_path / "lake"
    virtual = T0 - 30 * DAY_NS  # the simulator's clock: 2025-05-03 09:05 KST; the wall clock is 2025-06-02
    bus = Bus()
    pubs = [bus.pub("rt.best.005930"), bus.pub("rt.trade.005930", event_ns=virtual)]
    pubs += [bus.pub("rt.best.005930") for _ in range(3)]
    # 주식우선호가 has no exchange time; the first one comes before anything dated in this epoch
    pubs = [p if p.topic.startswith("rt.trade") else replace(p, event_ns=None) for p in pubs]
    seg = one_segment(str(lake), [(LIVE, p.to_frames()) for p in pubs])
    roll(Journal(str(lake)), [seg], lambda n: f"k{n:04d}-0000000000000000-0000000000000001", str(lake))
    best = {p.parent.name: len(read_rows(lake, str(p.relative_to(lake).parent))) for p in parquet_files(lake, "rt/best")}
    assert best == {"date=2025-05-03": 3, "date=2025-06-02": 1}
    assert [p.parent.name for p in parquet_files(lake, "rt/trade")] == ["date=2025-05-03"]


def test_a_repaired_marker_marks_the_gap_rows_it_names(tmp_path):
    lake = str(tmp_path / "lake")
    bus = Bus()
    core = RecorderCore()
    j = Journal(lake)
    j.open()
    journal_like_intake(j, core, [bus.pub("rt.trade.005930"), bus.pub("rt.trade.005930", skip=2)])
    snap = bus.pub("rt.trade.005930")
    assert core.snapshot(parse(snap.to_frames(), T0), T0)
    ids = core.repaired("rt.trade.005930")
    j.append(REPAIRED, T0, (b"rt.trade.005930", b"", msgpack.packb(ids)))
    number = j.rotate()
    segment = core.take_segment(number, 0.0)
    j.close()
    roll(Journal(lake), [segment], lambda n: f"k{n:04d}-0000000000000000-0000000000000001", lake)
    gaps = read_rows(tmp_path / "lake", "gaps")
    assert sorted((g["topic"], g["repaired"]) for g in gaps) == [("", False), ("rt.trade.005930", True)]
