"""The Parquet sink on real files: round trip, idempotent batch keys, crash leftovers, concurrent readers."""
from __future__ import annotations

import subprocess
import sys
import threading
from datetime import date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from koabus.common.clock import KST
from koabus.common.errors import InvalidRequest
from koabus.common.lake import layout, schema
from koabus.common.protocol.publication import Publication
from koabus.services.recorder.sinks import Sink, SinkError, SinkRejected, make_sink
from koabus.services.recorder.sinks.parquet import ParquetSink

EPOCH = 42
DAY = "2026-12-03"
BASE_NS = int(datetime(2026, 12, 3, 9, 0, 0, tzinfo=KST).timestamp()) * 1_000_000_000


def _trades(first_seq: int, count: int, price: int = 70000) -> pa.Table:
    pubs = []
    for seq in range(first_seq, first_seq + count):
        sec = 9 * 3600 + seq % 3600
        values = {"trade_time": f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}",
                  "current_price": price + seq, "volume": -seq if seq % 2 else seq, "change_rate": 0.25}
        pubs.append(Publication.from_frames(Publication(
            "rt.trade.005930", "RT", EPOCH, seq, seq, BASE_NS + seq * 1_000_000, BASE_NS + seq * 1_000_001,
            {"type": "주식체결", "code": "005930", "values": values}).to_frames()))
    return schema.to_arrow("rt_trade", pubs)


def _read(root, table="rt_trade", date=None) -> pa.Table:
    return schema.read_table(layout.list_files(root, table, date=date), table)


def test_make_sink_builds_a_parquet_sink(tmp_path):
    sink = make_sink("parquet", root=tmp_path)
    assert isinstance(sink, ParquetSink) and isinstance(sink, Sink) and sink.name == "parquet"
    with pytest.raises(InvalidRequest):
        make_sink("kafka")


def test_round_trip(tmp_path):
    sink = ParquetSink(tmp_path)
    batch = _trades(1, 500)
    sink.write("rt_trade", DAY, batch, layout.batch_key(1, 1, 500))
    sink.flush()
    files = layout.list_files(tmp_path, "rt_trade")
    assert files == [tmp_path / "rt/trade/date=2026-12-03" / (layout.batch_key(1, 1, 500) + ".parquet")]
    assert pq.ParquetFile(files[0]).metadata.row_group(0).column(0).compression == "ZSTD"
    back = _read(tmp_path)
    assert back.equals(batch)
    assert sink.rows_written == 500 and sink.files_written == 1 and sink.bytes_written == files[0].stat().st_size


def test_duckdb_sees_the_date_partition(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    sink = ParquetSink(tmp_path)
    sink.write("rt_trade", DAY, _trades(1, 10), "a")
    sink.write("rt_trade", "2026-12-04", _trades(11, 5), "b")
    (tmp_path / "rt/trade/date=2026-12-04/b.parquet.1_1.tmp").write_bytes(b"PAR1 half a file")
    con = duckdb.connect()
    try:
        rows = con.execute("SELECT date, count(*), min(current_price) FROM read_parquet(?, hive_partitioning=true) "
                           "GROUP BY date ORDER BY date", [layout.glob_pattern(tmp_path, "rt_trade")]).fetchall()
    finally:
        con.close()
    assert rows == [(date(2026, 12, 3), 10, 70001), (date(2026, 12, 4), 5, 70011)]


def test_rewriting_a_batch_key_replaces_it(tmp_path):
    sink = ParquetSink(tmp_path)
    key = layout.batch_key(7, 100, 199)
    sink.write("rt_trade", DAY, _trades(100, 100), key)
    sink.write("rt_trade", DAY, _trades(200, 50), layout.batch_key(7, 200, 249))
    sink.write("rt_trade", DAY, _trades(100, 100, price=80000), key)  # the re-roll after a crash
    back = _read(tmp_path)
    assert back.num_rows == 150
    assert sorted(back.column("seq").to_pylist()) == list(range(100, 250))
    assert max(back.column("current_price").to_pylist()[:100]) == 80199
    assert len(layout.list_files(tmp_path, "rt_trade")) == 2


def test_an_empty_batch_replaces_the_key_with_nothing(tmp_path):
    sink = ParquetSink(tmp_path)
    sink.write("rt_trade", DAY, _trades(1, 3), "k")
    sink.write("rt_trade", DAY, schema.arrow_schema("rt_trade").empty_table(), "k")
    assert layout.list_files(tmp_path, "rt_trade") == []


def test_history_batches_are_split_by_their_partitions(tmp_path):
    sink = ParquetSink(tmp_path)
    daily = pa.concat_tables([
        schema.history_to_arrow("history_daily", code, [
            {"date": "2026-12-02", "current_price": 100, "open": 1, "high": 2, "low": 1, "volume": 5},
            {"date": "2026-12-03", "current_price": 101, "open": 1, "high": 2, "low": 1, "volume": 6}])
        for code in ("005930", "000660")])
    sink.write("history_daily", "", daily, "sync-1")
    assert layout.list_codes(tmp_path, "history_daily") == ["000660", "005930"]
    assert _read(tmp_path, "history_daily").num_rows == 4
    minute = schema.history_to_arrow("history_minute1", "005930", [
        {"trade_time": "20261202153000", "current_price": 100, "open": 1, "high": 2, "low": 1, "volume": 5},
        {"trade_time": "20261203090000", "current_price": 101, "open": 1, "high": 2, "low": 1, "volume": 6}])
    sink.write("history_minute1", "", minute, "sync-1")
    assert layout.list_dates(tmp_path, "history_minute1") == ["2026-12-02", "2026-12-03"]
    files = layout.list_files(tmp_path, "history_minute1", date="2026-12-03")
    assert [f.parent.parent.name for f in files] == ["code=005930"]
    assert schema.read_table(files, "history_minute1").column("close").to_pylist() == [101]


def test_bad_names_are_rejected_and_a_closed_sink_refuses(tmp_path):
    sink = ParquetSink(tmp_path)
    with pytest.raises(SinkRejected):
        sink.write("rt_../../x", DAY, _trades(1, 1), "k")
    with pytest.raises(SinkRejected):
        sink.write("rt_trade", "../2026", _trades(1, 1), "k")
    with pytest.raises(SinkRejected):
        sink.write("rt_trade", DAY, _trades(1, 1), "../k")
    (tmp_path / "rt" / "quote").mkdir(parents=True)
    (tmp_path / "rt" / "quote" / f"date={DAY}").write_text("a file where a folder belongs")
    with pytest.raises(SinkError):
        sink.write("rt_quote", DAY, _trades(1, 1), "k")
    sink.close()
    with pytest.raises(SinkError):
        sink.write("rt_trade", DAY, _trades(1, 1), "k")
    assert layout.list_files(tmp_path, "rt_trade") == []


_CRASHING_WRITER = r"""
import sys
import pyarrow as pa, pyarrow.parquet as pq
from koabus.common.lake import layout

final = layout.file_path(sys.argv[1], "rt_trade", "2026-12-03", "crash")

def fill(tmp):
    with pq.ParquetWriter(str(tmp), pa.schema([("x", pa.int64())])) as writer:
        writer.write_table(pa.table({"x": list(range(1000))}))
        print(tmp, flush=True)      # half written: tell the test, then wait to be killed
        sys.stdin.read()

layout.atomic_write(final, fill)
"""


def test_a_tmp_left_by_a_killed_writer_is_ignored_by_readers_and_cleaned(tmp_path):
    sink = ParquetSink(tmp_path)
    sink.write("rt_trade", DAY, _trades(1, 10), "before")
    proc = subprocess.Popen([sys.executable, "-c", _CRASHING_WRITER, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        tmp_name = proc.stdout.readline().strip()
        proc.kill()  # kill -9 while the file is half written
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        proc.stdin.close()
        proc.stdout.close()
    leftover = tmp_path / "rt/trade/date=2026-12-03" / tmp_name.rsplit("/", 1)[-1]
    assert leftover.exists() and leftover.name.endswith(".tmp")

    assert [f.name for f in layout.list_files(tmp_path, "rt_trade")] == ["before.parquet"]
    assert _read(tmp_path).num_rows == 10

    reopened = ParquetSink(tmp_path)  # what a restarted recorder does
    assert reopened.tmp_cleaned == 1 and not leftover.exists()
    assert _read(tmp_path).num_rows == 10


def test_concurrent_readers_never_see_half_files(tmp_path):
    sink = ParquetSink(tmp_path)
    rows_per_batch = 2000
    versions = [_trades(1, rows_per_batch, price=p) for p in (70000, 80000, 90000)]
    sink.write("rt_trade", DAY, versions[0], "same")
    stop = threading.Event()
    seen = []
    errors = []

    def reader():
        reads = 0
        while not stop.is_set() and reads < 5000:
            reads += 1
            for path in layout.list_files(tmp_path, "rt_trade"):
                try:
                    table = pq.read_table(path)
                except FileNotFoundError:
                    continue  # replaced between listing and opening: the next listing has it
                except Exception as exc:  # a half file would land here
                    errors.append(repr(exc))
                    return
                seen.append((path.name, table.num_rows, table.column("current_price")[0].as_py()))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for round_no in range(30):
            sink.write("rt_trade", DAY, versions[round_no % 3], "same")  # replace in place
            sink.write("rt_trade", DAY, versions[round_no % 3], f"new-{round_no:03d}")  # appear
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert not errors
    assert seen, "the readers read nothing"
    assert {rows for _, rows, _ in seen} == {rows_per_batch}
    assert {first for _, _, first in seen} <= {70001, 80001, 90001}
    assert len(layout.list_files(tmp_path, "rt_trade")) == 31
    assert not list(tmp_path.rglob("*.tmp"))


def test_old_partitions_are_swept_before_the_first_write_into_them(tmp_path):
    dead = tmp_path / "rt/trade/date=2026-11-01" / "x.parquet.999999999_1.tmp"  # beyond any pid_max
    recent = tmp_path / "rt/trade/date=2026-12-03" / "y.parquet.999999999_1.tmp"
    for path in (dead, recent):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"half")
    (tmp_path / "rt/trade/date=2026-12-02").mkdir()
    (tmp_path / "rt/trade/date=2026-11-15").mkdir()
    sink = ParquetSink(tmp_path)
    assert sink.tmp_cleaned == 1 and not recent.exists() and dead.exists()
    sink.write("rt_trade", "2026-11-01", _trades(1, 2), "late")
    assert sink.tmp_cleaned == 2 and not dead.exists()
    assert [f.name for f in layout.list_files(tmp_path, "rt_trade")] == ["late.parquet"]
