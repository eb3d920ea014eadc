"""The lake layout: table names <-> folders, partitions, listing, batch keys and atomic writes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from koabus.common.errors import InvalidRequest, NotFound
from koabus.common.lake import layout


@pytest.mark.parametrize("table, folder", [
    ("rt_trade", "rt/trade"), ("rt_index_breadth", "rt/index_breadth"), ("ch_order", "ch/order"),
    ("ch_fo_balance", "ch/fo_balance"), ("cond", "cond"), ("sys", "sys"), ("gaps", "gaps"), ("alerts", "alerts"),
    ("history_daily", "history/daily"), ("history_minute1", "history/minute1"),
    ("history_minute60", "history/minute60"),
])
def test_table_names_map_to_folders_and_back(table, folder):
    assert layout.folder_of(table) == folder
    assert layout.table_of_folder(folder) == table


@pytest.mark.parametrize("table", ["rt_", "rt_../x", "rt_a/b", "ch_cash", "history_minute0", "history_weekly",
                                   "trade", "", "_recorder", "rt_" + "x" * 65])
def test_unknown_or_unsafe_table_names_are_refused(table):
    with pytest.raises(NotFound):
        layout.folder_of(table)


def test_table_of_folder_ignores_other_folders():
    for folder in ("_recorder", "rt", "rt/trade/date=2026-01-02", "history", "ch/cash", "misc/x"):
        assert layout.table_of_folder(folder) is None


def test_partition_dirs_are_hive_style(tmp_path):
    assert layout.partition_dir(tmp_path, "rt_trade", "2026-12-03") == tmp_path / "rt/trade/date=2026-12-03"
    assert layout.partition_dir(tmp_path, "history_daily", code="005930") == tmp_path / "history/daily/code=005930"
    assert (layout.partition_dir(tmp_path, "history_minute5", "2026-12-03", "005930")
            == tmp_path / "history/minute5/code=005930/date=2026-12-03")
    assert layout.file_path(tmp_path, "gaps", "2026-12-03", "k1") == tmp_path / "gaps/date=2026-12-03/k1.parquet"


@pytest.mark.parametrize("date", ["2026-1-2", "20261203", "../../etc", None, "2026-12-03/x"])
def test_partition_dir_refuses_bad_dates(tmp_path, date):
    with pytest.raises(InvalidRequest):
        layout.partition_dir(tmp_path, "rt_trade", date)


def test_partition_dir_needs_the_code_of_history_tables(tmp_path):
    with pytest.raises(InvalidRequest):
        layout.partition_dir(tmp_path, "history_daily")
    with pytest.raises(InvalidRequest):
        layout.partition_dir(tmp_path, "history_daily", code="../x")


def test_batch_keys_are_deterministic_and_sort_in_journal_order():
    assert layout.batch_key(3, 10, 200) == layout.batch_key(3, 10, 200)
    keys = [layout.batch_key(1, 0, 9), layout.batch_key(1, 10, 99), layout.batch_key(2, 0, 5),
            layout.batch_key(10, 0, 5)]
    assert sorted(keys) == keys
    assert layout.batch_key("seg7", 1, 1).startswith("seg7-")
    for bad in ((1, 5, 4), (1, -1, 3), ("a/b", 1, 2), ("_x", 1, 2)):
        with pytest.raises(InvalidRequest):
            layout.batch_key(*bad)


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_listing_skips_tmp_files_and_underscore_folders(tmp_path):
    a = _touch(layout.file_path(tmp_path, "rt_trade", "2026-12-02", "b"))
    b = _touch(layout.file_path(tmp_path, "rt_trade", "2026-12-03", "a"))
    _touch(layout.tmp_path(layout.file_path(tmp_path, "rt_trade", "2026-12-03", "c")))
    _touch(tmp_path / "rt/trade/_scratch/x.parquet")
    _touch(tmp_path / "rt/trade/date=2026-12-03/.hidden.parquet")
    _touch(tmp_path / "_recorder/journal/000001.log")
    c = _touch(layout.file_path(tmp_path, "history_minute1", "2026-12-03", "k", code="005930"))
    d = _touch(layout.file_path(tmp_path, "history_daily", None, "k", code="000660"))

    assert layout.list_files(tmp_path, "rt_trade") == [a, b]
    assert layout.list_files(tmp_path, "rt_trade", date="2026-12-03") == [b]
    assert layout.list_files(tmp_path, "rt_quote") == []
    assert layout.list_dates(tmp_path, "rt_trade") == ["2026-12-02", "2026-12-03"]
    assert layout.list_files(tmp_path, "history_minute1", code="005930") == [c]
    assert layout.list_dates(tmp_path, "history_minute1") == ["2026-12-03"]
    assert layout.list_codes(tmp_path, "history_daily") == ["000660"]
    assert layout.list_files(tmp_path, "history_daily") == [d]
    assert layout.list_tables(tmp_path) == ["history_daily", "history_minute1", "rt_trade"]


def test_glob_pattern_matches_exactly_the_listed_files(tmp_path):
    import glob

    for table, date, code in (("rt_trade", "2026-12-03", None), ("history_minute1", "2026-12-03", "005930"),
                              ("history_daily", None, "005930"), ("gaps", "2026-12-03", None)):
        final = _touch(layout.file_path(tmp_path, table, date, "k", code=code))
        _touch(layout.tmp_path(final))
        assert sorted(glob.glob(layout.glob_pattern(tmp_path, table))) == [str(final)]


def test_atomic_write_replaces_and_leaves_no_tmp(tmp_path):
    final = tmp_path / "d" / "k.parquet"
    layout.atomic_write(final, lambda tmp: tmp.write_text("one"))
    layout.atomic_write(final, lambda tmp: tmp.write_text("two"))
    assert final.read_text() == "two"
    assert sorted(p.name for p in final.parent.iterdir()) == ["k.parquet"]


def test_atomic_write_that_fails_keeps_the_old_file(tmp_path):
    final = tmp_path / "k.parquet"
    layout.atomic_write(final, lambda tmp: tmp.write_text("old"))

    def broken(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        layout.atomic_write(final, broken)
    assert final.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["k.parquet"]


def test_clean_tmp_removes_a_dead_writers_files_and_keeps_live_ones(tmp_path):
    # a real process that exits: its pid is then dead (and not ours)
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True, timeout=30)
    dead_pid = int(proc.stdout)
    part = tmp_path / "rt/trade/date=2026-12-03"
    dead = _touch(part / f"k.parquet.{dead_pid}_1.tmp")
    nameless = _touch(part / "k.parquet.tmp")
    ours_stale = _touch(part / f"j.parquet.{os.getpid()}_999999.tmp")  # same pid, not being written
    live_other = _touch(part / f"m.parquet.{os.getppid()}_1.tmp")  # the parent process is alive
    journal_tmp = _touch(tmp_path / "_recorder/journal/x.tmp")

    assert layout.clean_tmp(tmp_path) == 3
    assert not dead.exists() and not nameless.exists() and not ours_stale.exists()
    assert live_other.exists() and journal_tmp.exists()
    assert layout.clean_tmp(tmp_path, include_live=True) == 1
    assert not live_other.exists()


def test_clean_tmp_keeps_the_file_this_process_is_writing(tmp_path):
    final = tmp_path / "k.parquet"
    counts = []

    def write(tmp):
        tmp.write_text("x")
        counts.append(layout.clean_tmp(tmp_path))
        assert tmp.exists()

    layout.atomic_write(final, write)
    assert counts == [0] and final.read_text() == "x"


def test_make_dirs_reports_the_folders_it_created(tmp_path):
    (tmp_path / "rt").mkdir()
    created = layout.make_dirs(tmp_path / "rt/trade/date=2026-12-03")
    assert created == [tmp_path / "rt/trade/date=2026-12-03", tmp_path / "rt/trade"]
    assert layout.make_dirs(tmp_path / "rt/trade/date=2026-12-03") == []
