"""PostgresSink against the real server on 127.0.0.1:5432: types, idempotency, rollback, reconnects, and
the same rows as the Parquet sink for the same stream.

Each run creates its own database and drops it at the end; each test gets its own schema in it. The
server is required (CI runs it): if it cannot be reached the tests fail, they do not skip.
"""
from __future__ import annotations

import datetime as dt
import math
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pandas as pd
import psycopg
import pyarrow as pa
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from koabus.common.errors import Unavailable
from koabus.services.recorder.sinks import make_sink
from koabus.services.recorder.sinks.base import Sink, SinkError, SinkRejected, SinkUnavailable
from koabus.services.recorder.sinks.postgres import PostgresSink, pg_type
from tests.helpers import free_tcp_port, stop_process

SERVER_DSN = os.environ.get("KOABUS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres")
KST = "Asia/Seoul"
UTC_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
REPO = Path(__file__).resolve().parents[4]


@pytest.fixture(scope="module")
def pg_dsn():
    """A fresh database for this run (koabus_test_<pid>_<random>), dropped at the end."""
    try:
        admin = psycopg.connect(make_conninfo(SERVER_DSN, dbname="postgres"), autocommit=True,
                                connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"the PostgreSQL sink tests need a PostgreSQL server at {SERVER_DSN!r} "
                    f"(trust auth, user postgres; set KOABUS_TEST_PG_DSN to use another): {exc}",
                    pytrace=False)
    name = f"koabus_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(SERVER_DSN, dbname=name)
    finally:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.close()


@pytest.fixture
def schema() -> str:
    return f"t_{secrets.token_hex(6)}"


@pytest.fixture
def sink(pg_dsn, schema):
    s = PostgresSink(pg_dsn, schema=schema)
    yield s
    s.close()


def fetch(dsn: str, query, params: Sequence[Any] = ()) -> List[Tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def table_rows(dsn: str, schema: str, table: str, columns: Sequence[str]) -> List[Tuple[Any, ...]]:
    query = sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, table))
    return fetch(dsn, query)


def batches(dsn: str, schema: str) -> List[Tuple[str, str, str, int]]:
    query = sql.SQL("SELECT table_name, date::text, batch_key, rows FROM {} ORDER BY 1, 2, 3").format(
        sql.Identifier(schema, "_batches"))
    return fetch(dsn, query)


# ---- canonical values: what both sides must agree on ------------------------------------------------

def canon(value: Any) -> Any:
    """One comparable form per value: instants as UTC microseconds, dates/times as ISO text, NaN as 'nan'."""
    if isinstance(value, dt.datetime):
        assert value.tzinfo is not None, "timestamps are stored with their zone"
        return ("instant_us", (value - UTC_EPOCH) // dt.timedelta(microseconds=1))
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def arrow_canon_columns(table: pa.Table) -> Dict[str, List[Any]]:
    """The columns of an arrow table in canonical form; timestamps via their integer value, ns floored
    to microseconds (PostgreSQL's precision)."""
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": None}
    out: Dict[str, List[Any]] = {}
    for name, col in zip(table.column_names, table.columns):
        if pa.types.is_timestamp(col.type):
            ints = col.cast(pa.int64()).to_pylist()
            unit = scale[col.type.unit]
            out[name] = [None if v is None else ("instant_us", v // 1000 if unit is None else v * unit)
                         for v in ints]
        else:
            out[name] = [canon(v) for v in col.to_pylist()]
    return out


def arrow_canon_rows(table: pa.Table) -> List[Tuple[Any, ...]]:
    cols = arrow_canon_columns(table)
    return list(zip(*cols.values())) if cols else []


def sort_key(row: Tuple[Any, ...]):
    return tuple((0, "") if v is None else (1, repr(v)) for v in row)


def every_type_table() -> pa.Table:
    return pa.table({
        "event_time": pa.array([1764720000123456789, None, 1, 1764720000999999999], pa.timestamp("ns", tz=KST)),
        "stamp_s": pa.array([1764720000, -1, None, 0], pa.timestamp("s", tz=KST)),
        "big": pa.array([2 ** 63 - 1, -(2 ** 63), None, 0], pa.int64()),
        "small": pa.array([2 ** 31 - 1, None, -5, 0], pa.int32()),
        "ratio": pa.array([0.1 + 0.2, float("nan"), None, float("-inf")], pa.float64()),
        "text": pa.array(["", 'a "quoted", comma\nnew line \\ back\ttab', None, "삼성전자 ,NULL"], pa.string()),
        "flag": pa.array([True, False, None, True], pa.bool_()),
        "day": pa.array([dt.date(2026, 12, 3), None, dt.date(1970, 1, 1), dt.date(9999, 12, 31)], pa.date32()),
        "clock": pa.array([dt.time(9, 0, 0), dt.time(0, 0), None, dt.time(23, 59, 59)], pa.time32("s")),
    })


def small_table(seqs: Sequence[int], label: str) -> pa.Table:
    return pa.table({"seq": pa.array(list(seqs), pa.int64()),
                     "label": pa.array([f"{label}{s}" for s in seqs], pa.string())})


# ---- the sink on its own ----------------------------------------------------------------------------

def test_every_column_type_round_trips(sink, pg_dsn, schema):
    batch = every_type_table()
    sink.write("rt_types", "2026-12-03", batch, "e1-1-4")

    types = dict(fetch(pg_dsn, "SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_schema = %s AND table_name = %s", (schema, "rt_types")))
    assert types == {
        "event_time": "timestamp with time zone", "stamp_s": "timestamp with time zone", "big": "bigint",
        "small": "integer", "ratio": "double precision", "text": "text", "flag": "boolean", "day": "date",
        "clock": "time without time zone", "date": "date", "_batch": "bigint"}
    got = table_rows(pg_dsn, schema, "rt_types", batch.column_names + ["date"])
    want = [row + ("2026-12-03",) for row in arrow_canon_rows(batch)]
    assert sorted(([canon(v) for v in row] for row in got), key=sort_key) == sorted(
        (list(row) for row in want), key=sort_key)
    assert batches(pg_dsn, schema) == [("rt_types", "2026-12-03", "e1-1-4", 4)]


def test_text_that_means_something_to_copy_stays_text(sink, pg_dsn, schema):
    values = ["\\.", "\\N", "NULL", "", " ", "\r\n", '"', ",", "\\", "a\u3000b"]
    sink.write("rt_text", "2026-12-03", pa.table({"s": pa.array(values + [None], pa.string())}), "k")
    assert sorted(table_rows(pg_dsn, schema, "rt_text", ["s"]), key=sort_key) == sorted(
        [(v,) for v in values + [None]], key=sort_key)


def test_nanoseconds_are_truncated_not_rounded(sink, pg_dsn, schema):
    ns = 1764720000_999_999_999  # rounding would carry into the next second
    sink.write("rt_ns", "2026-12-03", pa.table({"t": pa.array([ns], pa.timestamp("ns", tz=KST))}), "k")
    (stored,), = table_rows(pg_dsn, schema, "rt_ns", ["t"])
    assert canon(stored) == ("instant_us", ns // 1000)


def test_writing_a_key_again_replaces_its_rows(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1, 2, 3], "first"), "e1-1-3")
    sink.write("rt_trade", "2026-12-03", small_table([4, 5], "other"), "e1-4-5")
    sink.write("rt_trade", "2026-12-04", small_table([9], "next day, same key"), "e1-1-3")
    sink.write("rt_trade", "2026-12-03", small_table([1, 2], "again"), "e1-1-3")

    rows = sorted(table_rows(pg_dsn, schema, "rt_trade", ["date", "seq", "label"]))
    assert [(d.isoformat(), s, label) for d, s, label in rows] == [
        ("2026-12-03", 1, "again1"), ("2026-12-03", 2, "again2"),
        ("2026-12-03", 4, "other4"), ("2026-12-03", 5, "other5"),
        ("2026-12-04", 9, "next day, same key9")]
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "e1-1-3", 2),
                                       ("rt_trade", "2026-12-03", "e1-4-5", 2),
                                       ("rt_trade", "2026-12-04", "e1-1-3", 1)]


def test_an_empty_batch_records_its_key_and_clears_a_rewrite(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1, 2], "x"), "k")
    sink.write("rt_trade", "2026-12-03", small_table([], "x"), "k")
    assert table_rows(pg_dsn, schema, "rt_trade", ["seq"]) == []
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "k", 0)]


def test_a_batch_that_fails_mid_copy_leaves_nothing(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1, 2, 3], "kept"), "k1")
    n = 40_000  # several COPY chunks reach the server before the bad row
    bad = pa.table({"seq": pa.array(range(n), pa.int64()),
                    "label": pa.array(["ok"] * (n - 1) + ["NUL \x00 is not storable"], pa.string())})

    with pytest.raises(SinkRejected) as replaced:
        sink.write("rt_trade", "2026-12-03", bad, "k1")
    with pytest.raises(SinkRejected):
        sink.write("rt_trade", "2026-12-03", bad, "k2")

    assert "rt_trade" in str(replaced.value)
    assert sorted(table_rows(pg_dsn, schema, "rt_trade", ["seq", "label"])) == [
        (1, "kept1"), (2, "kept2"), (3, "kept3")]
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "k1", 3)]
    sink.write("rt_trade", "2026-12-03", small_table([7], "after"), "k2")  # the sink still works
    assert len(table_rows(pg_dsn, schema, "rt_trade", ["seq"])) == 4


CHILD_KILLED_MID_COPY = """
import sys
import pyarrow as pa
from koabus.services.recorder.sinks import postgres

whole = postgres._csv_chunks


def first_chunk_then_hang(data):
    chunks = whole(data)
    yield next(chunks)
    yield next(chunks)  # psycopg has sent the first chunk once it asks for the second
    print("SENT", flush=True)
    sys.stdin.read()  # until killed
    yield from chunks


postgres._csv_chunks = first_chunk_then_hang
dsn, schema = sys.argv[1:3]
n = 100_000
batch = pa.table({"seq": pa.array(range(n), pa.int64()), "label": pa.array(["new"] * n)})
postgres.PostgresSink(dsn, schema=schema).write("rt_trade", "2026-12-03", batch, "k1")
"""


def poll(predicate, timeout_s: float = 10.0) -> bool:
    """`predicate()` until true or `timeout_s` passes (the server finishes on its own clock)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())


def test_a_writer_killed_mid_copy_leaves_the_previous_rows(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1, 2, 3], "old"), "k1")
    proc = subprocess.Popen([sys.executable, "-c", CHILD_KILLED_MID_COPY, pg_dsn, schema], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        line = proc.stdout.readline()
        assert line == b"SENT\n", proc.stderr.read().decode() if proc.poll() is not None else line
        copying = "SELECT pid, tuples_processed FROM pg_stat_progress_copy WHERE datname = current_database()"
        assert poll(lambda: any(done > 0 for _, done in fetch(pg_dsn, copying)))
        (child_backend, _), = fetch(pg_dsn, copying)
        proc.kill()
        proc.wait(10)
    finally:
        stop_process(proc)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            pipe.close()
    gone = "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = %s"
    assert poll(lambda: fetch(pg_dsn, gone, (child_backend,))[0][0])  # the server rolled it back

    assert sorted(table_rows(pg_dsn, schema, "rt_trade", ["seq", "label"])) == [(1, "old1"), (2, "old2"),
                                                                                (3, "old3")]
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "k1", 3)]


def test_a_growing_schema_adds_columns(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1], "a"), "k1")
    grown = small_table([2], "b").append_column("extra", pa.array([2.5], pa.float64()))
    sink.write("rt_trade", "2026-12-03", grown, "k2")

    assert sorted(table_rows(pg_dsn, schema, "rt_trade", ["seq", "label", "extra"])) == [
        (1, "a1", None), (2, "b2", 2.5)]


def test_a_column_whose_type_changed_is_rejected(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1], "a"), "k1")
    changed = pa.table({"seq": pa.array(["1"], pa.string()), "label": pa.array(["b"])})
    with pytest.raises(SinkRejected, match="seq"):
        sink.write("rt_trade", "2026-12-03", changed, "k2")
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "k1", 1)]


def test_a_table_or_schema_dropped_behind_its_back_is_created_again(sink, pg_dsn, schema):
    sink.write("rt_trade", "2026-12-03", small_table([1], "a"), "k1")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(schema, "rt_trade")))
    sink.write("rt_trade", "2026-12-03", small_table([2], "b"), "k2")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    sink.write("rt_trade", "2026-12-03", small_table([3], "c"), "k3")

    assert table_rows(pg_dsn, schema, "rt_trade", ["seq"]) == [(3,)]
    assert batches(pg_dsn, schema) == [("rt_trade", "2026-12-03", "k3", 1)]


def test_names_from_the_wire_are_identifiers_not_sql(sink, pg_dsn, schema):
    hostile = 'rt_x"; DROP TABLE _batches; --'
    column = 'v" text); DROP SCHEMA public; --'
    sink.write(hostile, "2026-12-03", pa.table({column: pa.array([1], pa.int64())}), "k")

    assert table_rows(pg_dsn, schema, hostile, [column]) == [(1,)]
    assert batches(pg_dsn, schema) == [(hostile, "2026-12-03", "k", 1)]
    assert fetch(pg_dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'public'") == [(1,)]


def test_bad_arguments_are_refused_before_any_io():
    s = PostgresSink(f"host=127.0.0.1 port={free_tcp_port()} user=postgres", attempts=1)
    for table, date, key in [("rt_trade", "20261203", "k"), ("rt_trade", "2026-12-03", ""),
                             ("_batches", "2026-12-03", "k"), ("x" * 64, "2026-12-03", "k")]:
        with pytest.raises(SinkRejected):
            s.write(table, date, small_table([1], "a"), key)
    with pytest.raises(SinkRejected, match="reserved"):
        s.write("rt_trade", "2026-12-03", pa.table({"_batch": [1]}), "k")
    assert s.connects == 0
    with pytest.raises(ValueError, match="dsn"):
        PostgresSink("host=127.0.0.1 user")


def test_made_by_the_factory_it_is_a_sink_and_refuses_writes_once_closed(pg_dsn, schema):
    s = make_sink("postgres", dsn=pg_dsn, schema=schema)
    assert isinstance(s, PostgresSink) and isinstance(s, Sink)
    s.write("rt_trade", "2026-12-03", small_table([1], "a"), "k")
    s.flush()
    s.close()
    with pytest.raises(SinkError, match="closed"):
        s.write("rt_trade", "2026-12-03", small_table([2], "b"), "k2")
    assert table_rows(pg_dsn, schema, "rt_trade", ["seq"]) == [(1,)]


def test_every_arrow_type_of_the_lake_has_a_column_type():
    assert [pg_type(t) for t in (pa.int64(), pa.int32(), pa.float64(), pa.string(), pa.bool_(), pa.date32(),
                                 pa.time32("s"), pa.timestamp("ns", tz=KST), pa.timestamp("s", tz=KST))] == [
        "bigint", "integer", "double precision", "text", "boolean", "date", "time without time zone",
        "timestamp with time zone", "timestamp with time zone"]
    with pytest.raises(SinkRejected):
        pg_type(pa.binary())


def lake_tables() -> List[str]:
    from koabus.metadata.catalog import catalog

    rt = [f"rt_{r.slug or r.gidc}" for r in catalog().realtypes()]
    return rt + ["ch_order", "ch_balance", "ch_fo_balance", "cond", "sys", "gaps", "alerts", "history_daily",
                 "history_minute1"]


def test_every_lake_table_can_be_created_from_its_arrow_schema(sink, pg_dsn, schema):
    from koabus.common.lake.schema import arrow_schema

    refused = {}
    for table in lake_tables():
        try:
            sink.write(table, "2026-12-03", arrow_schema(table).empty_table(), "empty")
        except SinkRejected as exc:
            refused[table] = str(exc)
    assert refused == {}
    created = fetch(pg_dsn, "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (schema,))
    assert created == [(len(lake_tables()) + 1,)]  # and _batches


def test_reconnects_after_the_connection_is_killed(pg_dsn, schema):
    sleeps: List[float] = []
    s = PostgresSink(pg_dsn, schema=schema, sleep=sleeps.append)
    try:
        s.write("rt_trade", "2026-12-03", small_table([1], "before"), "k1")
        killed = fetch(pg_dsn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = current_database() AND application_name = 'koabus-recorder'")
        assert killed == [(1,)]
        s.write("rt_trade", "2026-12-03", small_table([2], "after"), "k2")
    finally:
        s.close()
    assert sorted(table_rows(pg_dsn, schema, "rt_trade", ["seq", "label"])) == [(1, "before1"), (2, "after2")]
    assert s.connects == 2
    assert sleeps == [0.2]


def test_an_unreachable_server_raises_unavailable_after_bounded_backoff():
    sleeps: List[float] = []
    s = PostgresSink(f"host=127.0.0.1 port={free_tcp_port()} user=postgres", attempts=4, backoff_s=0.5,
                     max_backoff_s=1.5, connect_timeout_s=2, sleep=sleeps.append)
    with pytest.raises(SinkUnavailable) as raised:
        s.write("rt_trade", "2026-12-03", small_table([1], "a"), "k")
    assert isinstance(raised.value, Unavailable)
    assert raised.value.details == {"table": "rt_trade", "attempts": 4}
    assert sleeps == [0.5, 1.0, 1.5]
    assert "dsn" not in repr(s) and "port" not in repr(s)


# ---- the same stream through the Parquet sink and this one -------------------------------------------

def _raw_value(rng: random.Random, kind: str) -> str:
    """A raw OCX string of a value kind, as the control sends it (blank now and then)."""
    if rng.random() < 0.08:
        return ""
    if kind in ("int",):
        return str(rng.randint(0, 10 ** 12))
    if kind == "signed":
        return rng.choice(["+", "-", ""]) + str(rng.randint(0, 10 ** 6))
    if kind == "price":
        return rng.choice(["+", "-", ""]) + str(rng.randrange(1000, 900_000, 100))
    if kind == "float":
        return f"{rng.choice(['+', '-'])}{rng.uniform(0, 30):.2f}"
    if kind == "date":
        return rng.choice(["20261203", "20261204", "00000000"])
    if kind in ("time", "maybe_time"):
        return rng.choice(["000000", f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d}"])
    if kind == "datetime":
        return "20261203" + f"{rng.randint(9, 15):02d}3000"
    if kind == "bool":
        return rng.choice(["1", "0"])
    if kind == "code":
        return rng.choice(["A005930", "000660"])
    return rng.choice(["+", "-", "2", "ab", "삼성전자", 'a "q", b', "back\\slash", "multi\nline", " "])


def _wire_values(rng: random.Random, fids: Sequence[int]) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """Typed wire values of `fids` made by the broker's own decoding table, plus the raw strings."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import FieldTable

    table = FieldTable(fids, catalog())
    raws = [_raw_value(rng, catalog().fid(f).kind if catalog().has_fid(f) else "str") for f in fids]
    values, _ = table.decode(raws)
    return values, {str(f): r for f, r in zip(fids, raws)}


def publication_stream(count: int = 600):
    """A seeded stream across KST midnight: trades and quotes of two codes, orders, conditions, system
    events; some without exchange time. Yields Publications in sequence order."""
    from koabus.common.protocol.publication import Publication
    from koabus.metadata.catalog import catalog

    rng = random.Random(11)
    cat = catalog()
    start_ns = 1764773990_000_000_000  # 2025-12-03 23:59:50 KST
    topic_seq: Dict[str, int] = {}
    for seq in range(1, count + 1):
        code = rng.choice(["005930", "000660"])
        pick = rng.random()
        if pick < 0.45:
            rt = cat.realtype("trade")
            values, _ = _wire_values(rng, rt.fids)
            topic, kind, body = f"rt.trade.{code}", "RT", {"type": rt.name, "code": code, "values": values}
        elif pick < 0.75:
            rt = cat.realtype("quote")
            values, _ = _wire_values(rng, rt.fids)
            topic, kind, body = f"rt.quote.{code}", "RT", {"type": rt.name, "code": code, "values": values}
        elif pick < 0.87:
            values, raw = _wire_values(rng, cat.chejan_fids("0"))
            topic, kind = "ch.8123456711.order", "CHEJAN"
            body = {"gubun": "0", "account": "8123456711", "code": code, "order_no": f"{seq:07d}",
                    "client_order_id": rng.choice([None, f"c-{seq}"]), "values": values, "raw": raw}
        elif pick < 0.94:
            topic, kind = "cond.3", "COND"
            body = {"index": 3, "name": "급등 \"조건\"", "code": code, "kind": rng.choice(["I", "D"])}
        else:
            topic, kind = rng.choice(["sys.conn", "sys.throttle", "sys.msg"]), "SYS"
            body = {"state": "connected", "code": 0, "message": "접속, ok", "wait_s": 0.25}
        topic_seq[topic] = topic_seq.get(topic, 0) + 1
        recv_ns = start_ns + seq * 37_000_123 + rng.randint(0, 999)
        event_ns = None if kind in ("COND", "SYS") or rng.random() < 0.1 else recv_ns - rng.randint(0, 10 ** 7)
        yield Publication(topic, kind, 7, seq, topic_seq[topic], event_ns, recv_ns, body)


def same_stream_batches(roll_size: int = 97):
    """(table, date, batch, batch_key) as the recorder rolls the stream: per roll, per (table, date);
    one roll written twice (a re-roll after a crash), plus a gaps batch."""
    from koabus.common.lake.schema import group_publications, history_to_arrow, rows_to_arrow, to_arrow

    pubs = list(publication_stream())
    written = []
    for first in range(0, len(pubs), roll_size):
        roll = pubs[first:first + roll_size]
        key = f"e7-{roll[0].seq}-{roll[-1].seq}"
        for (table, date), group in sorted(group_publications(roll).items()):
            flags = [p.seq % 11 == 0 for p in group]
            written.append((table, date, to_arrow(table, group, flags), key))
    written += [w for w in written if w[3] == written[len(written) // 2][3]]  # the same roll again
    gaps = rows_to_arrow("gaps", [
        {"detected_time": pubs[10].recv_ns, "topic": "rt.trade.005930", "epoch": 7, "first_seq": 4,
         "last_seq": 6, "missing": 3, "kind": "gap", "cause": None, "repaired": True,
         "from_time": pubs[9].recv_ns, "to_time": None},
        {"detected_time": pubs[20].recv_ns, "topic": "", "epoch": 7, "first_seq": 1, "last_seq": 1,
         "missing": 1, "kind": "restart", "cause": "recorder restarted", "repaired": False}])
    written.append(("gaps", "2025-12-03", gaps, "e7-gaps-1"))
    for code in ("005930", "000660"):  # history, as sync writes it: partitioned by its own columns
        days = [{"date": f"202512{d:02d}", "open": "+70000", "high": "71000", "low": "-69000",
                 "current_price": 70500 + d, "volume": 1000 * d, "trade_value": None if d == 2 else d,
                 "adjustment_flags": "", "adjustment_ratio": "1.5", "adjustment_event": "권리락",
                 "prev_close": "70000"} for d in (1, 2, 3)]
        written.append(("history_daily", "", history_to_arrow("history_daily", code, days, True),
                        f"daily-{code}"))
        minutes = [{"trade_time": f"20251203{h:02d}5900", "open": 1, "high": 2, "low": 1, "current_price": 2,
                    "volume": h} for h in (9, 15, 23)] + [{"trade_time": "20251204000000", "open": 3,
                                                           "high": 3, "low": 3, "current_price": 3, "volume": 0}]
        written.append(("history_minute1", "", history_to_arrow("history_minute1", code, minutes),
                        f"minute1-{code}"))
    return written


def read_parquet_table(root, table: str) -> pa.Table:
    """Every Parquet file of a table, plus its Hive partition values (e.g. `date`) as text columns
    where the file does not hold that column itself."""
    import pyarrow.parquet as pq

    from koabus.common.lake.layout import table_dir

    base = table_dir(root, table)
    parts = []
    for path in sorted(base.rglob("*.parquet")):
        data = pq.ParquetFile(path).read()
        for folder in path.relative_to(base).parent.parts:
            key, _, value = folder.partition("=")
            if key not in data.column_names:
                data = data.append_column(key, pa.array([value] * data.num_rows, pa.string()))
        parts.append(data)
    assert parts, f"no Parquet files for {table}"
    return pa.concat_tables(parts)


def test_parquet_and_postgres_hold_the_same_rows(tmp_path, sink, pg_dsn, schema):
    from koabus.services.recorder.sinks.parquet import ParquetSink

    parquet = ParquetSink(tmp_path)
    written = same_stream_batches()
    for table, date, batch, key in written:
        parquet.write(table, date, batch, key)
        sink.write(table, date, batch, key)
    parquet.flush()
    sink.flush()
    parquet.close()

    tables = sorted({t for t, _, _, _ in written})
    assert {"rt_trade", "rt_quote", "ch_order", "cond", "sys", "gaps", "history_daily", "history_minute1"} <= set(
        tables)
    assert {d for _, d, _, _ in written} >= {"2025-12-03", "2025-12-04"}
    for table in tables:
        from_files = read_parquet_table(tmp_path, table)
        columns = from_files.column_names
        files_rows = arrow_canon_rows(from_files)
        pg_rows = [tuple(canon(v) for v in row) for row in table_rows(pg_dsn, schema, table, columns)]
        left = pd.DataFrame(sorted(files_rows, key=sort_key), columns=columns, dtype=object)
        right = pd.DataFrame(sorted(pg_rows, key=sort_key), columns=columns, dtype=object)
        assert len(left) > 0
        pd.testing.assert_frame_equal(left, right, check_exact=True, obj=table)
