"""`koabus query` over a lake recorded through the ParquetSink: tables, CSV/JSON, --out files and errors."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from koabus.common.cli.main import main
from koabus.common.lake.query import Lake
from tests.common.lake.query_lake import DAY, record_day

BARS_SQL = f"SELECT * FROM bars('005930', '{DAY}', '5 minutes')"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    record_day(root)
    return root


@pytest.fixture(scope="module")
def bars(root):
    with Lake(root) as lake:
        return lake.bars("005930", DAY, "5 minutes")


def run(capsys, *argv):
    code = main(["query", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_query_prints_a_table(capsys, root, bars):
    code, out, err = run(capsys, BARS_SQL, "--lake", root, "--limit", 3)
    assert code == 0 and err == ""
    header = next(line for line in out.splitlines() if "open" in line)
    assert [w for w in header.replace("┃", " ").split()] == list(bars.columns)
    first = bars.iloc[0]
    assert f"{first['open']:,}" in out and f"{DAY} 09:00" in out
    assert f"{bars.iloc[3]['time']:%H:%M}" not in out  # --limit 3


def test_a_long_result_is_cut_to_a_screenful_and_says_so(capsys, root):
    code, out, _ = run(capsys, f"SELECT * FROM ticks WHERE date = '{DAY}'", "--lake", root)
    assert code == 0 and "first 40 rows shown" in out


def test_csv_and_json_on_stdout(capsys, root, bars):
    code, out, _ = run(capsys, BARS_SQL, "--lake", root, "--format", "csv")
    assert code == 0
    frame = pd.read_csv(io.StringIO(out), dtype={"code": str})
    assert frame["close"].tolist() == bars["close"].tolist()
    assert pd.to_datetime(frame["time"]).tolist() == bars["time"].tolist()
    code, out, _ = run(capsys, BARS_SQL, "--lake", root, "--format", "json", "--limit", 2)
    records = json.loads(out)
    assert [r["volume"] for r in records] == bars["volume"].head(2).tolist()
    assert records[0]["time"] == bars["time"].iloc[0].isoformat() and records[0]["code"] == "005930"


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_out_files_round_trip(capsys, root, bars, tmp_path, suffix):
    path = tmp_path / "sub" / f"bars.{suffix}"
    code, out, err = run(capsys, BARS_SQL, "--lake", root, "--out", path)
    assert code == 0 and out == "" and f"wrote {len(bars)} rows" in err
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no .part left behind
    if suffix == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(path), bars)
    else:
        back = pd.read_csv(path, dtype={"code": str})
        back["time"] = pd.to_datetime(back["time"]).dt.tz_convert("Asia/Seoul")
        pd.testing.assert_frame_equal(back, bars, check_dtype=False)


def test_tables_lists_rows_and_date_ranges(capsys, root):
    code, out, _ = run(capsys, "--tables", "--lake", root, "--format", "json")
    assert code == 0
    tables = {t["table"]: t for t in json.loads(out)}
    assert sorted(tables) == ["gaps", "rt_trade"]
    assert tables["gaps"]["rows"] == 3 and tables["rt_trade"]["first_date"] == DAY
    code, out, _ = run(capsys, "--tables", "--lake", root)
    assert code == 0 and "rt_trade" in out and DAY in out


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT * FROM no_such_table", "SELECT CAST('x' AS INTEGER)"])
def test_a_bad_statement_is_one_line_and_exit_2(capsys, root, sql):
    code, out, err = run(capsys, sql, "--lake", root)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("koabus query: ")


def test_an_unknown_output_suffix_is_refused(capsys, root, tmp_path):
    code, _, err = run(capsys, BARS_SQL, "--lake", root, "--out", tmp_path / "bars.xlsx")
    assert code == 2 and ".csv or .parquet" in err and not (tmp_path / "bars.xlsx").exists()


def test_an_empty_lake_says_so(capsys, tmp_path):
    for argv in (["SELECT 1"], ["--tables"]):
        code, out, err = run(capsys, *argv, "--lake", tmp_path / "none")
        assert code == 1 and out == ""
        assert "holds no data yet" in err and str(tmp_path / "none") in err and len(err.splitlines()) == 1


def test_sql_or_tables_is_required(capsys, root):
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "--lake", root)
    assert exit_info.value.code == 2


def test_the_alerts_table_is_a_view_with_the_alert_bodies(capsys, tmp_path):
    from datetime import datetime

    from koabus.common.clock import KST
    from koabus.common.lake import layout
    from koabus.common.lake.schema import to_arrow
    from koabus.common.protocol.publication import Publication
    from koabus.services.alerting.alert import Alert
    from koabus.services.recorder.sinks import make_sink

    moment = int(datetime.fromisoformat(f"{DAY}T10:15:00").replace(tzinfo=KST).timestamp()) * 10 ** 9
    alerts = [Alert(f"rule{n % 2}", "price", "critical" if n else "info", f"title {n}", f"text {n}", code="005930",
                    time_ns=moment + n * 10 ** 9, dedup_key=str(n), values={"price": 60_000 + n, "tags": ["a", n]},
                    notify=("log",) * (n % 3)) for n in range(5)]
    pubs = [Publication(f"alert.{a.rule}", "ALERT", 9, n + 1, n // 2 + 1, a.time_ns, a.time_ns + 1000, a.to_body())
            for n, a in enumerate(alerts)]
    sink = make_sink("parquet", root=str(tmp_path), durable=False)
    sink.write("alerts", DAY, to_arrow("alerts", pubs), layout.batch_key(1, 0, 4))
    sink.close()
    code, out, err = run(capsys, "select * from alerts order by seq", "--lake", tmp_path, "--format", "json")
    assert code == 0 and err == ""
    rows = json.loads(out)
    assert [(r["rule"], r["severity"], r["title"], r["dedup_key"], json.loads(r["values"]), r["notify"])
            for r in rows] == [(a.rule, a.severity, a.title, a.dedup_key, a.values, ",".join(a.notify))
                               for a in alerts]
    assert {r["date"] for r in rows} == {DAY} and rows[0]["event_time"].startswith(f"{DAY}T10:15:00")
    code, out, _ = run(capsys, "--tables", "--lake", tmp_path, "--format", "json")
    assert code == 0 and [(t["table"], t["rows"]) for t in json.loads(out)] == [("alerts", 5)]
