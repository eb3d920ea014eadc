"""`koabus lake info|compact` over a lake recorded through the ParquetSink."""
from __future__ import annotations

import re
import shutil

import pyarrow.parquet as pq
import pytest

from koabus.common.cli.main import main
from koabus.common.lake import layout
from koabus.common.lake.compact import COMPACTED_NAME
from tests.common.lake.query_lake import DAY, NEXT_DAY, record_day


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template")
    record_day(root)
    return root


@pytest.fixture
def root(template, tmp_path):
    copy = tmp_path / "lake"
    shutil.copytree(template, copy)
    return copy


def run(capsys, *argv):
    code = main(["lake", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def line_of(out, first_word):
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [first_word])


def test_info_sums_files_rows_and_dates_per_table(capsys, root):
    paths = layout.list_files(root, "rt_trade")
    rows = sum(pq.read_metadata(str(p)).num_rows for p in paths)
    code, out, err = run(capsys, "info", "--lake", root)
    assert code == 0 and err == ""
    cells = line_of(out, "rt_trade")
    assert cells[1:5] == ["2", DAY, NEXT_DAY, str(len(paths))] and cells[5] == f"{rows:,}"
    assert line_of(out, "gaps")[1] == "2"


def test_info_of_one_table_lists_its_partitions(capsys, root):
    code, out, _ = run(capsys, "info", "--lake", root, "--table", "rt_trade")
    assert code == 0
    assert line_of(out, DAY)[1] == str(len(layout.list_files(root, "rt_trade", date=DAY)))
    assert line_of(out, NEXT_DAY)[1] == "1"


def test_compact_dry_run_then_compact_then_nothing_left(capsys, root):
    sources = layout.list_files(root, "rt_trade", date=DAY)
    code, out, _ = run(capsys, "compact", "--lake", root, "--before", NEXT_DAY, "--dry-run")
    assert code == 0 and "would compact 1 partition(s)" in out
    assert layout.list_files(root, "rt_trade", date=DAY) == sources

    code, out, _ = run(capsys, "compact", "--lake", root, "--before", NEXT_DAY)
    assert code == 0 and re.search(rf"compacted 1 partition\(s\): {len(sources) - 1} file\(s\) fewer", out)
    assert [p.name for p in layout.list_files(root, "rt_trade", date=DAY)] == [COMPACTED_NAME]
    assert len(layout.list_files(root, "rt_trade", date=NEXT_DAY)) == 1

    code, out, _ = run(capsys, "compact", "--lake", root, "--before", NEXT_DAY)
    assert code == 0 and "nothing to compact" in out
    code, out, _ = run(capsys, "info", "--lake", root, "--table", "rt_trade")
    assert line_of(out, DAY)[-1] == "yes"


def test_bad_options_exit_2_with_one_line(capsys, root):
    code, _, err = run(capsys, "compact", "--lake", root, "--before", "yesterday")
    assert code == 2 and err.startswith("koabus lake:") and "YYYY-MM-DD" in err
    code, _, err = run(capsys, "compact", "--lake", root, "--table", "rt_no/such")
    assert code == 2 and "unknown lake table" in err
    code, _, err = run(capsys, "info", "--lake", root, "--table", "nope")
    assert code == 2 and "unknown lake table" in err
    assert run(capsys)[0] == 2
