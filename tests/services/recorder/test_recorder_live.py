"""The recorder as a real process against a real broker on the simulated market (speed 20 virtual s/s).

Record then read back; kill -9 and restart; a gap cut into the bus; a burst far above the roll cadence.
Every wait is bounded and driven by what the bus or the heartbeats say, never by sleeping.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Dict, List, Set, Tuple

import pytest

from tests.common.client.live import BrokerProcess, TcpProxy
from tests.services.recorder.recorder_proc import (
    BarePublisher,
    Beats,
    BusWatcher,
    RecorderProcess,
    parquet_files,
    read_rows,
    warm_up,
)

CODES = ("005930", "000660")
FLUSH_S = 0.25


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield b
    b.stop()
    b.remove_state()


def recorder(tmp_path, broker, pub=None, name="rec", **settings) -> RecorderProcess:
    base = {"realtime": {"codes": list(CODES), "types": ["trade", "quote", "book"]},
            "flush_interval_s": FLUSH_S, "roll_interval_s": 1.0, "heartbeat_ms": 200}
    base.update(settings)
    return RecorderProcess(tmp_path / "lake", broker.router, pub or broker.pub, tmp_path / f"{name}.log", base)


Key = Tuple[int, int, str, int, int]


def live_keys(lake) -> Set[Key]:
    rows = read_rows(lake, "rt", ["epoch", "seq", "topic", "topic_seq", "recv_time", "snapshot"])
    return {(r["epoch"], r["seq"], r["topic"], r["topic_seq"], r["recv_time"]) for r in rows if not r["snapshot"]}


def overlap(seen: List[Key], recorded: Set[Key]) -> Tuple[Set[Key], Set[Key]]:
    """What the watcher and the recorder each hold of the seq range both were listening to."""
    lo = max(min(k[1] for k in recorded), min(k[1] for k in seen))
    hi = min(max(k[1] for k in recorded), max(k[1] for k in seen))
    return {k for k in seen if lo <= k[1] <= hi}, {k for k in recorded if lo <= k[1] <= hi}


def covered(key: Key, gaps: List[Dict]) -> bool:
    """`key` lies in a whole-stream gap row's seq range (or a topic row's topic_seq range)."""
    epoch, seq, topic, topic_seq, _ = key
    for g in gaps:
        if g["epoch"] != epoch:
            continue
        if g["topic"] == "" and g["first_seq"] <= seq <= g["last_seq"]:
            return True
        if g["topic"] == topic and g["first_seq"] <= topic_seq <= g["last_seq"]:
            return True
    return False


def test_recorded_rows_read_back_equal_what_a_subscriber_saw(tmp_path, broker):
    watcher = BusWatcher(broker.pub)
    watcher.start()
    watcher.ready.wait(5)
    rec = recorder(tmp_path, broker).start()
    beats = Beats(rec.status)
    try:
        beat = beats.wait_until(lambda b: b["rows_written"] >= 300, 60, rec)
        assert beat["service"] == "recorder" and beat["pid"] == rec.proc.pid
        for key in ("rows_written", "gaps", "lag_s", "lake_lag_s", "buffered_rows", "disk_bytes",
                    "journal_bytes", "last_roll_time"):
            assert key in beat
        assert beat["disk_bytes"] > 0 and beat["last_roll_time"] is not None
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        watcher.stop()
    recorded = live_keys(rec.lake)
    seen, kept = overlap(watcher.seen, recorded)
    assert len(seen) > 100
    assert kept == seen
    assert {k[2].split(".")[1] for k in kept} >= {"trade", "book"}
    assert {k[2].split(".")[2] for k in kept} <= set(CODES)
    assert read_rows(rec.lake, "gaps") == []
    # a clean stop rolled everything: the journal holds only the empty segment it ended on
    segments = list((rec.lake / "_recorder" / "journal").iterdir())
    assert len(segments) == 1 and segments[0].stat().st_size == 0


def test_kill_9_loses_at_most_a_flush_interval_and_the_hole_is_a_restart_gap(tmp_path, broker):
    watcher = BusWatcher(broker.pub)
    watcher.start()
    watcher.ready.wait(5)
    rec = recorder(tmp_path, broker).start()
    beats = Beats(rec.status)
    try:
        beats.wait_until(lambda b: b["rolls"] >= 2 and b["rows_written"] >= 100, 60, rec)
        before = {p: read_rows_of(p) for p in parquet_files(rec.lake, "rt")}
        assert before
        killed_ns = time.time_ns()
        rec.kill9()
        watcher.wait_count(len(watcher.seen) + 50, 30)  # the bus goes on while nobody records
        beats.close()
        rec.start()
        beats = Beats(rec.status)
        beats.wait_until(lambda b: b["gaps"] >= 1 and b["rows_written"] >= 50, 60, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        watcher.stop()
    for path, rows in before.items():  # the files written before the crash are intact
        assert read_rows_of(path) == rows
    gaps = read_rows(rec.lake, "gaps")
    restart = [g for g in gaps if g["kind"] == "restart" and g["topic"] == ""]
    assert len(restart) == 1, gaps
    hole = restart[0]
    assert hole["cause"].startswith("recorder restarted") and hole["missing"] > 0
    # the last journaled message is at most about one flush interval older than the kill
    assert killed_ns - hole["from_time"] < (FLUSH_S + 1.5) * 1e9
    # never silent: every message the bus published while we listened is recorded or inside a gap row
    recorded = live_keys(rec.lake)
    seen, kept = overlap(watcher.seen, recorded)
    missing = [k for k in seen - kept if not covered(k, gaps)]
    assert missing == []
    lost_by_crash = [k for k in seen - kept if k[4] <= killed_ns]
    assert all(killed_ns - k[4] < (FLUSH_S + 1.5) * 1e9 for k in lost_by_crash)


def read_rows_of(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read().to_pylist()


def test_a_gap_cut_into_the_bus_is_a_gaps_row_and_repaired_from_the_snapshot(tmp_path, broker):
    proxy = TcpProxy(int(broker.pub.rsplit(":", 1)[1]))
    watcher = BusWatcher(broker.pub)
    watcher.start()
    watcher.ready.wait(5)
    rec = recorder(tmp_path, broker, pub=proxy.endpoint).start()
    beats = Beats(rec.status)
    try:
        beats.wait_until(lambda b: b["rows_written"] >= 50, 60, rec)
        proxy.cut(1.0)  # the recorder's SUB loses what is published for a second
        beats.wait_until(lambda b: b["gaps"] >= 1, 30, rec)
        # the snapshot that repairs it follows the gap: on a busy market the rolls alone come first
        beats.wait_until(lambda b: b["repaired"] >= 1, 30, rec)
        beats.wait_until(lambda b: b["buffered_rows"] == 0 or b["rolls"] >= 1, 30, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        watcher.stop()
        proxy.close()
    gaps = read_rows(rec.lake, "gaps")
    assert gaps and {g["kind"] for g in gaps} == {"gap"}
    whole = [g for g in gaps if g["topic"] == ""]
    assert whole and all(g["missing"] == g["last_seq"] - g["first_seq"] + 1 > 0 for g in gaps)
    recorded = live_keys(rec.lake)
    by_seq = {k[1]: k for k in watcher.seen}
    for g in whole:  # the range really was on the bus and really is absent from the lake
        lost = [by_seq[s] for s in range(g["first_seq"], g["last_seq"] + 1) if s in by_seq]
        assert not set(lost) & recorded
    topic_rows = [g for g in gaps if g["topic"]]
    assert topic_rows
    repaired = [g for g in topic_rows if g["repaired"]]
    assert repaired  # the broker's snapshot held a value of the topic from after the hole
    rows = read_rows(rec.lake, "rt", ["topic", "epoch", "topic_seq", "snapshot"])
    for g in repaired:  # and the lake holds it: from the snapshot, or live when that came first (busy market)
        assert any(r["topic"] == g["topic"] and r["epoch"] == g["epoch"] and r["topic_seq"] > g["last_seq"]
                   for r in rows), g


#: synthetic trades per virtual second on top of the simulated market: x20 speed = 2,000 a wall second,
#: over 10 times what the watchlist publishes, against a buffer that holds 1 s of it. Not more: the
#: broker making them, the intake and the roller share these 2 cores, and a roller given a third of
#: one core rolls ~5,000 rows/s (2,000-row segments; bench/ measures its speed, not this test)
BURST_EPS = 100
BURST_BUFFER_ROWS = 2000


@pytest.fixture
def burst_broker(tmp_path):
    sim = {"config": {"synthetic_rate_eps": BURST_EPS}}  # on top of the tests' market (a tenth of realistic)
    b = BrokerProcess(speed=20.0, log_path=tmp_path / "burst-broker.log", settings={"sim": sim}).start()
    yield b
    b.stop()
    b.remove_state()


def test_a_burst_keeps_memory_bounded_and_the_heartbeat_shows_the_back_pressure(tmp_path, burst_broker):
    watcher = BusWatcher(burst_broker.pub)
    watcher.start()
    watcher.ready.wait(5)
    rec = recorder(tmp_path, burst_broker, roll_interval_s=30.0, max_buffer_rows=BURST_BUFFER_ROWS).start()
    beats = Beats(rec.status)
    try:
        last = beats.wait_until(lambda b: b["rows_written"] >= 10 * BURST_BUFFER_ROWS, 90, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        watcher.stop()
    running = [b for b in beats.seen if b["state"] == "running"]
    assert running
    # segments close at max_buffer_rows records and the roller keeps up: once the start's backlog is
    # rolled (the roller starting, and the simulator catching up the seconds the start cost it), rows
    # waiting for it stay within a segment being written plus the one being filled. They wait in the
    # journal on disk; the recorder itself holds none
    settled = running[len(running) // 2:]
    assert max(b["buffered_rows"] - b["gaps"] for b in settled) <= 2 * BURST_BUFFER_ROWS
    assert all(b["rss_bytes"] > 0 and b["roller_rss_bytes"] > 0 for b in running)
    assert any(b["buffered_rows"] > 0 for b in running) and any(b["lake_lag_s"] > 0 for b in running)
    assert all(b["lag_s"] >= 0 for b in running)
    # the 30 s roll interval never came: the segment bound made every roll
    assert last["rolls"] >= last["rows_written"] // (2 * BURST_BUFFER_ROWS)
    assert last["journal_bytes"] >= 0 and last["disk_bytes"] > 0
    # and nothing was lost silently: what the bus published is recorded or inside a gap row
    recorded = live_keys(rec.lake)
    seen, kept = overlap(watcher.seen, recorded)
    gaps = read_rows(rec.lake, "gaps")
    assert len(seen) >= 10 * BURST_BUFFER_ROWS // 2
    assert [k for k in seen - kept if not covered(k, gaps)] == []
    assert len(read_rows(rec.lake, "rt", ["seq"])) >= last["rows_written"]


def test_a_broker_restart_is_an_epoch_row_and_recording_resumes_in_the_new_epoch(tmp_path):
    b = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log").start()
    rec = recorder(tmp_path, b).start()
    beats = Beats(rec.status)
    try:
        first = beats.wait_until(lambda x: x["rows_written"] >= 50, 60, rec)
        old_epoch = first["broker_epoch"]
        b.kill9()
        b.start()
        # the recorder re-registers its codes with the new broker by itself and keeps recording
        turned = beats.wait_until(lambda x: x["broker_epoch"] != old_epoch and x["gaps"] >= 1, 60, rec)
        # the old epoch's rows still buffered when the new one began are written first (at the
        # realistic trade intensity hundreds of them): only rows beyond those are the new epoch's
        backlog = turned["rows_written"] + turned["buffered_rows"]
        new = beats.wait_until(lambda x: x["rows_written"] >= backlog + 50, 60, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        b.stop()
        b.remove_state()
    gaps = read_rows(rec.lake, "gaps")
    epoch_rows = [g for g in gaps if g["kind"] == "epoch"]
    assert len(epoch_rows) == 1, gaps
    assert epoch_rows[0]["topic"] == "" and epoch_rows[0]["epoch"] == new["broker_epoch"]
    assert "new epoch" in epoch_rows[0]["cause"]
    rows = read_rows(rec.lake, "rt", ["epoch", "topic", "snapshot"])
    fresh = {r["topic"] for r in rows if r["epoch"] == new["broker_epoch"] and not r["snapshot"]}
    seen = Counter((r["epoch"] == new["broker_epoch"], r["snapshot"], r["topic"]) for r in rows)
    assert {t.split(".")[2] for t in fresh} == set(CODES), (old_epoch, new["broker_epoch"], dict(seen))
    assert any(r["epoch"] == old_epoch for r in rows)


def test_without_a_broker_it_waits_beats_connecting_and_stops_cleanly(tmp_path):
    from tests.helpers import free_tcp_port

    nobody = f"tcp://127.0.0.1:{free_tcp_port()}"
    rec = RecorderProcess(tmp_path / "lake", nobody, f"tcp://127.0.0.1:{free_tcp_port()}", tmp_path / "rec.log",
                          {"heartbeat_ms": 200}).start()
    beats = Beats(rec.status)
    try:
        beat = beats.wait_until(lambda x: x["state"] == "connecting", 30, rec)
        assert beat["rows_written"] == 0 and beat["buffered_rows"] == 0 and beat["broker"] == "connecting"
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()


def test_with_both_sinks_postgres_holds_the_same_rows_as_the_parquet_files(tmp_path, broker):
    import os
    import uuid

    import psycopg
    from psycopg import sql

    admin = os.environ.get("KOABUS_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres")
    db = f"koabus_test_rec_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(admin + " dbname=postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    try:
        dsn = f"{admin} dbname={db}"
        rec = recorder(tmp_path, broker, sinks=["parquet", "postgres"], postgres={"dsn": dsn}).start()
        beats = Beats(rec.status)
        try:
            beats.wait_until(lambda b: b["rows_written"] >= 200, 60, rec)
            assert rec.stop() == 0
        finally:
            beats.close()
            rec.stop()
        parquet = {(r["topic"], r["epoch"], r["seq"], r["snapshot"])
                   for r in read_rows(rec.lake, "rt", ["topic", "epoch", "seq", "snapshot"])}
        with psycopg.connect(dsn) as conn:
            tables = [t for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'koabus' "
                "AND table_name LIKE 'rt\\_%'")]
            stored = set()
            for table in tables:
                query = sql.SQL("SELECT topic, epoch, seq, snapshot FROM {}").format(sql.Identifier("koabus", table))
                stored |= set(conn.execute(query).fetchall())
        assert len(parquet) >= 200 and stored == parquet
    finally:
        with psycopg.connect(admin + " dbname=postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


def bare_recorder(tmp_path, publisher, **settings) -> RecorderProcess:
    """A recorder on a bare PUB; its router answers nothing (no broker at all)."""
    from tests.helpers import free_tcp_port

    base = {"flush_interval_s": FLUSH_S, "roll_interval_s": 1.0, "heartbeat_ms": 200}
    base.update(settings)
    return RecorderProcess(tmp_path / "lake", f"tcp://127.0.0.1:{free_tcp_port()}", publisher.endpoint,
                           tmp_path / "rec.log", base)


def test_intake_records_a_bare_pub_with_no_broker_answering_requests(tmp_path):
    publisher = BarePublisher()
    rec = bare_recorder(tmp_path, publisher).start()
    beats = Beats(rec.status)
    try:
        warm_up(publisher, beats)
        publisher.publish(3000)
        beat = beats.wait_until(lambda b: b["rows_written"] >= 3000 and b["buffered_rows"] == 0, 60, rec)
        assert beat["state"] == "running" and beat["broker"] == "connecting" and beat["intake"] == "running"
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        publisher.close()
    seqs = sorted(r["seq"] for r in read_rows(rec.lake, "rt", ["seq"]))
    assert seqs == list(range(seqs[0], publisher.seq + 1))  # every message from the first heard on
    assert read_rows(rec.lake, "gaps") == []


def test_the_roller_dies_with_a_killed_recorder(tmp_path):
    from tests.services.recorder.recorder_proc import process_gone

    publisher = BarePublisher()
    rec = bare_recorder(tmp_path, publisher, rollers=2).start()
    beats = Beats(rec.status)
    pids: List[int] = []
    try:
        beat = beats.wait_until(lambda b: len(b.get("roller_pids") or ()) == 2, 60, rec)
        pids = beat["roller_pids"]
        assert beat["roller_rss_bytes"] > 0 and rec.proc.pid not in pids
        rec.kill9()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(process_gone(p) for p in pids):
            time.sleep(0.1)
        orphans = [p for p in pids if not process_gone(p)]
    finally:
        beats.close()
        rec.stop()
        publisher.close()
        for pid in pids:  # never leave one behind, even when the test fails
            if not process_gone(pid):
                import os
                import signal

                os.kill(pid, signal.SIGKILL)
    assert orphans == []


def test_too_much_unrolled_journal_pauses_intake_and_the_loss_is_overflow_gap_rows(tmp_path):
    publisher = BarePublisher(body_bytes=1000)
    # 1 MiB of journal waiting pauses intake; segments only close on time (1 s), not on size
    rec = bare_recorder(tmp_path, publisher, max_unrolled_bytes=1 << 20, max_buffer_rows=10_000_000).start()
    beats = Beats(rec.status)
    try:
        warm_up(publisher, beats)
        publisher.publish(20_000)  # ~20 MB at once: far more than 1 MiB before the first roll
        gap_beat = None
        for _ in range(600):  # then a trickle, until the first message after the pause measured the hole
            publisher.publish(20)
            gap_beat = beats.poll_until(lambda b: b["gaps"] >= 1, 0.1)
            if gap_beat is not None:
                break
        assert gap_beat is not None, beats.seen[-1:]
        beats.wait_until(lambda b: b["buffered_rows"] == 0 and b["intake"] == "running", 60, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        publisher.close()
    assert any(b["pauses"] >= 1 and b["dropped"] > 0 for b in beats.seen)
    gaps = read_rows(rec.lake, "gaps")
    whole = [g for g in gaps if g["topic"] == ""]
    assert whole and {g["kind"] for g in whole} == {"overflow"}
    assert all("max_unrolled_bytes" in g["cause"] for g in gaps)
    # never silent: from the first recorded message on, every seq is in the lake or in an overflow row
    seqs = sorted(r["seq"] for r in read_rows(rec.lake, "rt", ["seq"]))
    holes = {s for g in whole for s in range(g["first_seq"], g["last_seq"] + 1)}
    assert not holes & set(seqs)
    assert sorted(holes | set(seqs)) == list(range(seqs[0], seqs[-1] + 1))
    assert sum(g["missing"] for g in whole) > 0


def test_a_killed_roller_is_replaced_and_its_segment_rolled_again(tmp_path):
    import os
    import signal

    publisher = BarePublisher()
    rec = bare_recorder(tmp_path, publisher).start()
    beats = Beats(rec.status)
    try:
        warm_up(publisher, beats)
        publisher.publish(500)
        first = beats.wait_until(lambda b: b["rows_written"] >= 500 and b["roller_pids"], 60, rec)
        os.kill(first["roller_pids"][0], signal.SIGKILL)
        publisher.publish(500)
        beat = beats.wait_until(lambda b: b["rows_written"] >= 1000 and b["buffered_rows"] == 0, 60, rec)
        assert beat["roller_pids"] and beat["roller_pids"] != first["roller_pids"]
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        publisher.close()
    seqs = sorted(r["seq"] for r in read_rows(rec.lake, "rt", ["seq"]))
    assert seqs == list(range(seqs[0], publisher.seq + 1))


def test_a_second_recorder_on_the_same_lake_is_refused_with_one_line(tmp_path):
    publisher = BarePublisher()
    first = bare_recorder(tmp_path, publisher).start()
    beats = Beats(first.status)
    second = None
    try:
        warm_up(publisher, beats)  # the first one holds the lake by now
        second = RecorderProcess(first.lake, first.router, first.pub, tmp_path / "second.log").start()
        second.proc.wait(60)
        assert second.proc.returncode == 2, second.log_tail()
        lines = [line for line in second.log_tail().splitlines() if line.strip()]
        assert len(lines) == 1 and "is being recorded by another recorder" in lines[0], lines
        assert f"pid {first.proc.pid}" in lines[0]
        assert first.proc.poll() is None
    finally:
        if second is not None:
            second.stop()
        beats.close()
        first.stop()
        publisher.close()
