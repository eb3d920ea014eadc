"""Compaction over real Parquet lakes: merged partitions read the same through the Lake query, past days only,
idempotent, safe with the recorder's journal, and no duplicate rows after a crash at any step (raised in
process, and a real process killed with SIGKILL)."""
from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest

from koabus.common.lake import compact as lake_compact
from koabus.common.lake import layout
from koabus.common.lake.compact import COMPACTED_NAME, LakeBusy, compact, finish_interrupted, merged_keys
from koabus.common.lake.history import HistoryStore
from koabus.common.lake.query import Lake
from koabus.common.lake.schema import history_to_arrow, to_arrow
from koabus.services.recorder.sinks import make_sink
from tests.common.lake.query_lake import CODES, DAY, KST, NEXT_DAY, record_day, trade
from tests.common.lake.test_history import daily_row, minute_row
from tests.helpers import stop_process

REPO = Path(__file__).resolve().parents[3]
TODAY = "2026-12-01"  # the lake's days are in the past


# ---- helpers

@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template")
    record_day(root)
    for litter in root.rglob("*.tmp"):  # the query tests' litter: here a temp file must be ours
        litter.unlink()
    return root


@pytest.fixture
def root(template, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(template, copy)
    return copy


def lake_view(root):
    """Everything a reader sees: every rt_trade row, ticks and 5-minute bars per code and day, the gaps."""
    with Lake(root) as lake:
        view = {"rows": lake.sql("SELECT * FROM rt_trade ORDER BY recv_time, epoch, seq, snapshot"),
                "gaps": lake.gaps()}
        for day in (DAY, NEXT_DAY):
            for code in CODES:
                view[f"ticks {code} {day}"] = lake.ticks(code, day)
                view[f"bars {code} {day}"] = lake.bars(code, day, "5 minutes")
    return view


def assert_same_view(before, after):
    assert before.keys() == after.keys()
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame.reset_index(drop=True), after[name].reset_index(drop=True), obj=name)


def files(root, table="rt_trade", day=DAY, code=None):
    return [p.name for p in layout.list_files(root, table, date=day, code=code)]


def stamps(root):
    """(name, inode, mtime) of every data file: proof that a partition was not rewritten."""
    return sorted((str(p.relative_to(root)), p.stat().st_ino, p.stat().st_mtime_ns)
                  for p in Path(root).rglob("*.parquet") if "_recorder" not in p.parts)


def write_trades(root, key, pubs, snapshot=False):
    sink = make_sink("parquet", root=str(root), durable=False)
    day = datetime.fromtimestamp(pubs[0].event_ns / 1e9, KST).date().isoformat()
    sink.write("rt_trade", day, to_arrow("rt_trade", pubs, [snapshot] * len(pubs)), key)
    sink.close()


# ---- merging

def test_a_past_day_becomes_one_file_and_reads_the_same(root):
    before = lake_view(root)
    sources = files(root)
    rows = sum(pq.read_metadata(str(p)).num_rows for p in layout.list_files(root, "rt_trade", date=DAY))
    untouched = [s for s in stamps(root) if f"date={DAY}" not in s[0] or "gaps" in s[0]]
    assert len(sources) > 1

    report = compact(root, today=TODAY, durable=False)

    assert files(root) == [COMPACTED_NAME]
    assert_same_view(before, lake_view(root))
    [result] = report.partitions
    assert (result.table, result.date, result.action) == ("rt_trade", DAY, "compacted")
    assert (result.files_before, result.files_after, result.merged, result.rows) == (len(sources), 1, len(sources), rows)
    assert report.files_removed == len(sources) - 1 and report.bytes_saved == result.bytes_before - result.bytes_after
    path = layout.partition_dir(root, "rt_trade", DAY) / COMPACTED_NAME
    assert merged_keys(path) == {s[: -len(".parquet")] for s in sources}
    data = pq.read_table(str(path))
    order = list(zip(data.column("recv_time").to_pylist(), data.column("epoch").to_pylist(),
                     data.column("seq").to_pylist()))
    assert order == sorted(order)
    # single-file partitions (the next day's trades, each day's gaps) were not rewritten
    assert [s for s in stamps(root) if f"date={DAY}" not in s[0] or "gaps" in s[0]] == untouched


def test_a_second_run_changes_nothing(root):
    compact(root, today=TODAY, durable=False)
    after_first = stamps(root)
    report = compact(root, today=TODAY, durable=False)
    assert report.partitions == () and stamps(root) == after_first


def test_the_current_day_and_later_are_never_touched(root):
    before = stamps(root)
    assert compact(root, today=DAY, durable=False).partitions == ()
    # an explicit later cut-off is capped at today
    report = compact(root, before="2030-01-01", today=DAY, durable=False)
    assert report.before == DAY and report.partitions == () and stamps(root) == before
    assert compact(root, before=DAY, today=TODAY, durable=False).partitions == ()
    assert stamps(root) == before


def test_a_dry_run_says_what_it_would_do_and_does_nothing(root):
    before = stamps(root)
    count = len(files(root))
    report = compact(root, today=TODAY, dry_run=True)
    [result] = report.partitions
    assert (result.files_before, result.files_after, result.merged) == (count, 1, count)
    assert stamps(root) == before and not (root / lake_compact.LOCK_NAME).exists()


def test_a_batch_arriving_after_compaction_is_kept_apart_then_merged(root):
    compact(root, today=TODAY, durable=False)
    before = lake_view(root)
    moment = datetime.fromisoformat(f"{DAY}T15:10:00").replace(tzinfo=KST)
    late = [trade("005930", moment + timedelta(seconds=i), 61_000 + i, 10, 3, 9_000 + i, 9_000 + i) for i in range(5)]
    write_trades(root, layout.batch_key(50, 0, 4), late)
    with_late = lake_view(root)
    assert len(with_late["rows"]) == len(before["rows"]) + len(late)
    assert files(root) == [layout.batch_key(50, 0, 4) + ".parquet", COMPACTED_NAME]

    report = compact(root, today=TODAY, durable=False)

    assert files(root) == [COMPACTED_NAME] and report.partitions[0].merged == 1
    assert_same_view(with_late, lake_view(root))
    assert layout.batch_key(50, 0, 4) in merged_keys(layout.partition_dir(root, "rt_trade", DAY) / COMPACTED_NAME)


def test_rows_too_large_for_memory_are_streamed_in_batch_order(root):
    before = lake_view(root)
    report = compact(root, today=TODAY, durable=False, memory_limit_bytes=0)
    assert report.partitions[0].streamed and files(root) == [COMPACTED_NAME]
    assert_same_view(before, lake_view(root))


def test_history_partitions_are_merged_but_never_the_history_stores_own_file(tmp_path):
    root = tmp_path / "lake"
    day = date(2025, 5, 28)
    HistoryStore(root, durable=False).write_minute_day("005930", 1, day, [minute_row(day, "0901")])
    store_file = layout.file_path(root, "history_minute1", day.isoformat(), "bars", code="005930")
    store_bytes = store_file.read_bytes()
    sink = make_sink("parquet", root=str(root), durable=False)
    for n, hhmm in enumerate(("0902", "0903")):
        sink.write("history_minute1", "", history_to_arrow("history_minute1", "005930", [minute_row(day, hhmm)]),
                   f"sync-{n}")
    for n, close in enumerate((70_000, 71_000)):
        row = daily_row(date(2025, 5, 26 + n), close, first=True)
        sink.write("history_daily", "", history_to_arrow("history_daily", "005930", [row]), f"sync-{n}")
    sink.close()
    with Lake(root) as lake:
        minute_before = lake.sql("SELECT * FROM history_minute1 ORDER BY time")
        daily_before = lake.sql("SELECT * FROM history_daily ORDER BY date")

    report = compact(root, today=TODAY, durable=False)

    assert sorted((p.table, p.code, p.date) for p in report.partitions) == [
        ("history_daily", "005930", None), ("history_minute1", "005930", day.isoformat())]
    assert files(root, "history_minute1", day.isoformat(), "005930") == ["bars.parquet", COMPACTED_NAME]
    assert store_file.read_bytes() == store_bytes
    assert files(root, "history_daily", None, "005930") == [COMPACTED_NAME]
    with Lake(root) as lake:
        pd.testing.assert_frame_equal(minute_before, lake.sql("SELECT * FROM history_minute1 ORDER BY time"))
        pd.testing.assert_frame_equal(daily_before, lake.sql("SELECT * FROM history_daily ORDER BY date"))


def test_a_broken_partition_is_reported_and_the_others_still_compact(root):
    for name in ("a.parquet", "b.parquet"):
        (layout.partition_dir(root, "gaps", NEXT_DAY) / name).write_bytes(b"not parquet")
    report = compact(root, today=TODAY, durable=False)
    [failed] = report.failed
    assert (failed.table, failed.date) == ("gaps", NEXT_DAY) and failed.error
    assert files(root) == [COMPACTED_NAME]
    assert "a.parquet" in files(root, "gaps", NEXT_DAY)


def test_one_compactor_at_a_time(root):
    with lake_compact._Lock(root):
        with pytest.raises(LakeBusy):
            compact(root, today=TODAY, durable=False)
        with pytest.raises(LakeBusy):
            finish_interrupted(root)
    assert compact(root, today=TODAY, durable=False).partitions


# ---- the recorder's journal

@pytest.fixture
def journal(root):
    from koabus.services.recorder.app import Recorder
    from koabus.services.recorder.journal import Journal

    j = Journal(str(root))
    j.open()
    # the recorder's own batch key of a segment of this journal
    j.key = lambda number: Recorder.batch_key(SimpleNamespace(journal=j), number)
    yield j
    j.close()


def test_files_of_uncommitted_journal_segments_are_never_merged(root, journal):
    moment = datetime.fromisoformat(f"{DAY}T15:20:00").replace(tzinfo=KST)
    for segment in (2, 3, 4):
        pubs = [trade("000660", moment + timedelta(seconds=10 * segment + i), 90_000, 5, 4, 100 * segment + i,
                      100 * segment + i) for i in range(3)]
        write_trades(root, journal.key(segment), pubs)
    journal.commit(3, None)
    before = lake_view(root)
    total = len(files(root))

    report = compact(root, today=TODAY, durable=False)

    assert files(root) == sorted([journal.key(4) + ".parquet", COMPACTED_NAME])
    assert report.partitions[0].held == 1 and report.partitions[0].merged == total - 1
    assert_same_view(before, lake_view(root))

    journal.commit(4, None)  # the recorder committed the segment: it can never be rolled again
    report = compact(root, today=TODAY, durable=False)
    assert files(root) == [COMPACTED_NAME] and report.partitions[0].merged == 1
    assert_same_view(before, lake_view(root))


def test_an_unreadable_checkpoint_holds_back_every_recorder_file(root, journal):
    moment = datetime.fromisoformat(f"{DAY}T15:20:00").replace(tzinfo=KST)
    write_trades(root, journal.key(2), [trade("000660", moment, 90_000, 5, 4, 500, 500)])
    journal.commit(9, None)
    (layout.recorder_dir(root) / "checkpoint.json").write_text("{torn", encoding="utf-8")
    report = compact(root, today=TODAY, durable=False)
    assert report.notes and "checkpoint" in report.notes[0]
    assert journal.key(2) + ".parquet" in files(root) and report.partitions[0].held == 1


# ---- crashes

class Crash(Exception):
    pass


def step_log(template, tmp_path):
    """The hook calls of one full compaction of the template (which steps, in what order)."""
    copy = tmp_path / "probe"
    shutil.copytree(template, copy)
    calls = []
    compact(copy, today=TODAY, durable=False, hook=lambda step, folder: calls.append(step))
    return calls


def test_a_crash_at_any_step_leaves_no_duplicates_once_recovered(template, tmp_path):
    before = lake_view(template)
    calls = step_log(template, tmp_path)
    assert {"planned", "writing", "written", "replaced", "unlinked", "done"} <= set(calls)
    saw_window = False
    for index, step in enumerate(calls):
        root = tmp_path / f"crash{index}"
        shutil.copytree(template, root)
        count = iter(range(len(calls)))

        def hook(name, folder, index=index, count=count):
            if next(count) == index:
                raise Crash(name)

        with pytest.raises(Crash):
            compact(root, today=TODAY, durable=False, hook=hook)
        names = files(root)
        assert not [n for n in os.listdir(layout.partition_dir(root, "rt_trade", DAY)) if n.endswith(".tmp")]
        if COMPACTED_NAME in names and len(names) > 1:  # the window: sources beside the file holding them
            saw_window = True
            assert len(lake_view(root)["rows"]) > len(before["rows"])
        finish_interrupted(root)
        assert_same_view(before, lake_view(root))  # recovered: old files, or the compacted file alone
        compact(root, today=TODAY, durable=False)
        assert files(root) == [COMPACTED_NAME], step
        assert_same_view(before, lake_view(root))
    assert saw_window


def read_line(proc, timeout_s=60.0):
    """One line of the child's stdout, or '' if it ends or `timeout_s` passes first."""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if selector.select(deadline - time.monotonic()):
                return proc.stdout.readline()
    return ""


@pytest.mark.parametrize("step, occurrence", [("written", 1), ("unlinked", 3)])
def test_a_compaction_killed_with_sigkill_recovers_without_duplicates(root, step, occurrence):
    before = lake_view(root)
    proc = subprocess.Popen([sys.executable, "-m", "tests.common.lake.compact_proc", str(root), TODAY, step,
                             str(occurrence)], cwd=str(REPO), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        line = read_line(proc)
        assert line.startswith(f"at {step}"), line
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        stop_process(proc)
        proc.stdin.close()
        proc.stdout.close()
    folder = layout.partition_dir(root, "rt_trade", DAY)
    if step == "written":  # killed with the complete temp file not yet renamed: old files only
        assert COMPACTED_NAME not in files(root) and any(n.endswith(".tmp") for n in os.listdir(folder))
    else:  # killed between deleting the sources: the new file and some sources it holds
        assert COMPACTED_NAME in files(root) and len(files(root)) > 1
    finish_interrupted(root)
    assert_same_view(before, lake_view(root))
    report = compact(root, today=TODAY)
    assert files(root) == [COMPACTED_NAME] and report.failed == []
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
    assert_same_view(before, lake_view(root))
