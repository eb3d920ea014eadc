"""Recorder benchmark: the bus into Parquet, with a real `koabus recorder` process and a bare publisher.

A publisher process (plain pyzmq PUB, real publication frames: realistic rt.trade bodies of the broker's
43 decoded FIDs encoded once with PublicationEncoder, a fresh envelope with seq/topic_seq per message)
feeds a `koabus recorder` subprocess (Parquet sink only, a temp lake, no broker: its router answers
nothing, intake records the PUB alone). Phases, each with a fresh recorder and lake:
- throughput: N messages sent as fast as possible (SNDHWM unbounded, so nothing is dropped: what the
  recorder cannot take queues in ZeroMQ); rows/s = rows in the lake / (first send .. the roll that
  completed the lake, `last_roll_time` of the heartbeat). Also the intake rate alone (messages received
  / time to receive them). With 1 roller process and with 2; segments of 50k records, 1 s roll interval.
- sustained: RATE msg/s paced for DURATION s (the broker's pub_hwm, 20,000, on the PUB, as live; the
  recorder's deployed settings but a 5 s roll interval);
  zero loss = rows in the lake == messages sent and no gap rows. Lag: the heartbeats' `lag_s` (the
  largest broker-to-recorder receive delay of each 200 ms beat): p99 and max; `lake_lag_s` max.
- burst: RATE for a while, 5x RATE for BURST_S, RATE again; peak RSS of the recorder and of its roller
  (sampled from /proc every 50 ms), loss as above.
- ceiling: the same rows from Python column lists straight into `pq.write_table` (zstd), one batch;
  the recorder's throughput is reported as a fraction of it.
KOABUS_BENCH_QUICK=1: 300k messages and 10 s phases instead of 1M and 60 s.

    python -m bench recorder          # with the bench runner (results in bench/results/)
    python -m bench.bench_recorder    # alone, prints JSON
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import zmq

QUICK = os.environ.get("KOABUS_BENCH_QUICK", "") not in ("", "0")
THROUGHPUT_N = 300_000 if QUICK else 1_000_000
RATE = 20_000
DURATION_S = 10.0 if QUICK else 60.0
BURST_S = 3.0 if QUICK else 10.0
CALM_S = 3.0 if QUICK else 10.0
BROKER_PUB_HWM = 20_000
CODES = ["005930", "000660", "035420", "051910", "006400", "035720", "068270", "005380"]
BODIES = 2_000
REPO = Path(__file__).resolve().parents[1]
_RUNNER = "import sys\nfrom koabus.common.cli.main import main\nsys.exit(main())\n"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trade_bodies(count: int) -> List[Dict[str, Any]]:
    """rt.trade bodies as the broker publishes them: the 43 FIDs decoded by its FieldTable."""
    from koabus.metadata.catalog import catalog
    from koabus.services.broker.decoding import FieldTable

    rt = catalog().realtype("trade")
    table = FieldTable(rt.fids, catalog())
    base = table.decode(["+70000" if catalog().fid(f).kind in ("price", "int", "signed") else
                         "1.25" if catalog().fid(f).kind == "float" else
                         "090000" if "time" in catalog().fid(f).kind else "+" for f in rt.fids])[0]
    rng = random.Random(11)
    out = []
    for n in range(count):
        values = dict(base, current_price=70000 + rng.randrange(-50, 50) * 100, volume=rng.randint(-500, 500),
                      cum_volume=1_000_000 + n * 7, trade_time=f"09:{(n // 60) % 60:02d}:{n % 60:02d}")
        out.append({"type": rt.name, "code": CODES[n % len(CODES)], "values": values})
    return out


# ------------------------------------------------------------------------------------------ publisher

def _publisher(endpoint: str, go, out, plan: List[List[float]], count: int, sndhwm: int) -> None:
    """Warm-up messages until `go`, then `plan`: [[rate or 0 = flat out, seconds or messages], ...]."""
    from koabus.common.protocol.publication import PublicationEncoder

    enc = PublicationEncoder()
    bodies = [enc.body(b) for b in trade_bodies(BODIES)]
    topics = [enc.topic(f"rt.trade.{c}") for c in CODES]
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, sndhwm)
    pub.setsockopt(zmq.LINGER, 5000)
    pub.bind(endpoint)
    epoch, seq = 777, 0
    topic_seq = [0] * len(CODES)
    warm = enc.topic("sys.bench.warm")
    while not go.wait(0.02):  # the recorder's SUB joins: ZeroMQ drops what is sent before
        seq += 1
        now = time.time_ns()
        pub.send_multipart([warm, enc.envelope("SYS", epoch, seq, seq, now, now), enc.body({})])
    first_send_ns = time.time_ns()
    sent = 0
    send = pub.send_multipart
    envelope = enc.envelope
    for rate, amount in plan:
        start = time.monotonic()
        target_total = sent + int(amount) if rate == 0 else None
        base = sent
        while True:
            if rate == 0:
                todo = target_total - sent
                if todo <= 0:
                    break
                todo = min(todo, 1000)
            else:
                elapsed = time.monotonic() - start
                if elapsed >= amount:
                    break
                todo = int(rate * elapsed) - (sent - base)
                if todo <= 0:
                    time.sleep(0.0005)
                    continue
            for _ in range(todo):
                seq += 1
                i = seq % len(CODES)
                topic_seq[i] += 1
                now = time.time_ns()
                send([topics[i], envelope("RT", epoch, seq, topic_seq[i], now, now), bodies[seq % BODIES]])
                sent += 1
    last_send_ns = time.time_ns()
    out.put({"sent": sent, "first_send_ns": first_send_ns, "last_send_ns": last_send_ns, "last_seq": seq})
    time.sleep(0.5)
    pub.close()
    ctx.term()


# ------------------------------------------------------------------------------------------ recorder

class Recorder:
    """A `koabus recorder` subprocess on a temp lake and its heartbeats."""

    def __init__(self, pub: str, lake: Path, **settings: Any):
        import yaml

        self.lake = lake
        self.status = f"tcp://127.0.0.1:{_port()}"
        config = {"flush_interval_s": 1.0, "roll_interval_s": 2.0, "heartbeat_ms": 200, "sinks": ["parquet"],
                  "logging": {"level": "WARNING"}}
        config.update(settings)
        path = lake.parent / f"{lake.name}.yaml"
        path.write_text(yaml.safe_dump(config))
        self.log = open(lake.parent / f"{lake.name}.log", "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _RUNNER, "recorder", "--config", str(path), "--lake", str(lake), "--pub", pub,
             "--router", f"tcp://127.0.0.1:{_port()}", "--status", self.status],
            cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=self.log)
        self.ctx = zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb.recorder")
        self.sub.connect(self.status)
        self.beats: List[Dict[str, Any]] = []
        self.rss_peak = {"recorder": 0, "roller": 0}

    def poll(self, timeout_ms: int = 50) -> Optional[Dict[str, Any]]:
        import msgpack

        if not self.sub.poll(timeout_ms):
            return None
        beat = msgpack.unpackb(self.sub.recv_multipart()[2], raw=False)
        self.beats.append(beat)
        return beat

    def sample_rss(self) -> None:
        from koabus.services.recorder.app import rss_bytes

        self.rss_peak["recorder"] = max(self.rss_peak["recorder"], rss_bytes(self.proc.pid))
        pids = (self.beats[-1].get("roller_pids") or []) if self.beats else []
        self.rss_peak["roller"] = max(self.rss_peak["roller"], sum(rss_bytes(p) for p in pids))

    def wait(self, predicate, timeout_s: float, sample: bool = False) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the recorder exited with {self.proc.returncode}")
            beat = self.poll(50)
            if sample:
                self.sample_rss()
            if beat is not None and predicate(beat):
                return beat
        raise RuntimeError(f"no heartbeat matched within {timeout_s} s; last {self.beats[-1:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.sub.close(0)
        self.log.close()


def _lake_counts(lake: Path) -> Dict[str, int]:
    import pyarrow.parquet as pq

    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (lake / "rt").rglob("*.parquet"))
    gaps = sum(pq.ParquetFile(p).metadata.num_rows for p in (lake / "gaps").rglob("*.parquet")) \
        if (lake / "gaps").exists() else 0
    return {"rows": rows, "gap_rows": gaps}


def _pct(values: List[float], p: float) -> Optional[float]:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100.0 * len(values)))]


def _phase(work: Path, name: str, plan: List[List[float]], sndhwm: int, expect: int, sample: bool = False,
           **settings: Any) -> Dict[str, Any]:
    """One recorder, one publisher, one plan; waits until everything sent is rolled (or a timeout)."""
    lake = work / name
    endpoint = f"tcp://127.0.0.1:{_port()}"
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    pub = ctx.Process(target=_publisher, args=(endpoint, go, out, plan, expect, sndhwm), daemon=True)
    pub.start()
    rec = Recorder(endpoint, lake, **settings)
    try:
        rec.wait(lambda b: b.get("received", 0) > 0, 60)
        warm_received = rec.beats[-1]["received"]
        go.set()
        result = None
        deadline = time.monotonic() + 600
        while result is None and time.monotonic() < deadline:
            beat = rec.poll(50)
            if sample:
                rec.sample_rss()
            if beat is not None and rec.proc.poll() is not None:
                raise RuntimeError("the recorder exited")
            try:
                result = out.get_nowait()
            except Exception:
                pass
        sent = result["sent"]
        # everything received (or lost) and rolled: the heartbeat says no row waits
        done = rec.wait(lambda b: b["rows_written"] + b["missing"] >= sent and b["buffered_rows"] == 0, 600, sample)
        received_at = next((b["time_ns"] for b in rec.beats if b["received"] - warm_received >= sent), None)
    finally:
        rec.stop()
        pub.join(10)
        if pub.is_alive():
            pub.kill()
    counts = _lake_counts(lake)
    running = [b for b in rec.beats if b.get("state") == "running"]
    lags = [b["lag_s"] for b in running if b.get("lag_s") is not None]
    span_s = done["last_roll_time"] - result["first_send_ns"] / 1e9
    figures = {
        "sent": sent, "rows": counts["rows"], "gap_rows": counts["gap_rows"], "missing": done["missing"],
        "lost": sent - counts["rows"],
        "send_s": round((result["last_send_ns"] - result["first_send_ns"]) / 1e9, 2),
        "rows_per_s": round(counts["rows"] / span_s) if span_s > 0 else None,
        "intake_per_s": round(sent / ((received_at - result["first_send_ns"]) / 1e9)) if received_at else None,
        "lag_p99_s": _pct(lags, 99), "lag_max_s": max(lags) if lags else None,
        "lake_lag_max_s": max((b["lake_lag_s"] for b in running), default=None),
        "rss_peak_mb": {k: round(v / 2**20, 1) for k, v in rec.rss_peak.items()} if sample else None,
    }
    shutil.rmtree(lake, ignore_errors=True)
    return figures


def ceiling(count: int) -> Dict[str, Any]:
    """The same rows from Python column lists straight to pq.write_table (zstd): the bare pyarrow rate."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from koabus.common.lake.schema import to_arrow
    from koabus.common.protocol import Publication

    bodies = trade_bodies(BODIES)
    pubs = [Publication(f"rt.trade.{CODES[n % 8]}", "RT", 777, n + 1, n // 8 + 1, 1_764_720_000_000_000_000 + n,
                        1_764_720_000_000_000_000 + n, bodies[n % BODIES]) for n in range(count)]
    columns = to_arrow("rt_trade", pubs).to_pydict()
    schema = to_arrow("rt_trade", pubs[:1]).schema
    del pubs
    path = Path(tempfile.mkdtemp(prefix="koabus-bench-ceiling-")) / "x.parquet"
    try:
        start = time.perf_counter()
        table = pa.Table.from_pydict(columns, schema=schema)
        pq.write_table(table, str(path), compression="zstd")
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    return {"rows": count, "columns": len(schema), "rows_per_s": round(count / seconds)}


def run() -> Dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="koabus-bench-recorder-"))
    results: Dict[str, Any] = {"quick": QUICK}
    try:
        # segments of 50k rows (several rollers share the work), a short roll interval (the last, partial
        # segment waits for it), SUB queue unbounded (the publisher is flat out, nothing may drop)
        big = {"roll_interval_s": 1.0, "flush_interval_s": 0.5, "max_buffer_rows": 50_000, "rcvhwm": 0,
               "max_unrolled_bytes": 8 << 30}
        results["throughput_1_roller"] = _phase(work, "t1", [[0, THROUGHPUT_N]], 0, THROUGHPUT_N, rollers=1, **big)
        results["throughput_2_rollers"] = _phase(work, "t2", [[0, THROUGHPUT_N]], 0, THROUGHPUT_N, rollers=2, **big)
        live = {"roll_interval_s": 5.0}  # the deployed settings otherwise (flush 1 s, 200k-record segments)
        results["sustained"] = _phase(work, "s", [[RATE, DURATION_S]], BROKER_PUB_HWM, int(RATE * DURATION_S),
                                      **live)
        results["burst"] = _phase(work, "b", [[RATE, CALM_S], [5 * RATE, BURST_S], [RATE, CALM_S]], BROKER_PUB_HWM,
                                  int(RATE * (2 * CALM_S + 5 * BURST_S)), sample=True, **live)
        results["ceiling"] = ceiling(min(THROUGHPUT_N, 300_000))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    best = max(results["throughput_1_roller"]["rows_per_s"] or 0, results["throughput_2_rollers"]["rows_per_s"] or 0)
    s, b = results["sustained"], results["burst"]
    results["summary"] = {
        "rows_per_s_bus_to_parquet": best,
        "intake_per_s": max(results["throughput_1_roller"]["intake_per_s"] or 0,
                            results["throughput_2_rollers"]["intake_per_s"] or 0),
        "zero_loss_at_20k": s["lost"] == 0 and s["gap_rows"] == 0,
        "sustained_sent": s["sent"], "sustained_rows": s["rows"], "sustained_gap_rows": s["gap_rows"],
        "lag_p99_s": s["lag_p99_s"], "lake_lag_max_s": s["lake_lag_max_s"],
        "burst_rss_peak_mb": b["rss_peak_mb"], "burst_lost": b["lost"], "burst_gap_rows": b["gap_rows"],
        "ceiling_rows_per_s": results["ceiling"]["rows_per_s"],
        "ratio_to_ceiling": round(best / results["ceiling"]["rows_per_s"], 3),
        "targets": {"rows_per_s": 100_000, "loss_at_20k": 0},
    }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
