"""Helpers for recorder process tests: a real `koabus recorder` subprocess, its heartbeats, a plain SUB
that sees what the bus published, and the lake read back with pyarrow."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import msgpack
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
import zmq

from koabus.common.protocol import Publication
from koabus.common.protocol.publication import PublicationEncoder
from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
_RUNNER = "import sys\nfrom koabus.common.cli.main import main\nsys.exit(main())\n"


class RecorderProcess:
    """`koabus recorder` in a child process; stderr goes to `log_path`."""

    def __init__(self, lake: Path, router: str, pub: str, log_path: Path, settings: Optional[Dict[str, Any]] = None,
                 args: Tuple[str, ...] = ()):
        self.lake = Path(lake)
        self.router = router
        self.pub = pub
        self.status = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.log_path = Path(log_path)
        self.config = self.log_path.with_suffix(".yaml")
        # no service sources unless a test asks: an alerting service running on this host stays out
        self.config.write_text(yaml.safe_dump({"services": [], **(settings or {})}))
        self.args = args
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> RecorderProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _RUNNER, "recorder", "--config", str(self.config), "--lake", str(self.lake),
                 "--router", self.router, "--pub", self.pub, "--status", self.status, *self.args],
                cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ))
        return self

    def stop(self, grace_s: float = 20.0) -> Optional[int]:
        """SIGTERM and wait: the exit code (SIGKILL after `grace_s`)."""
        if self.proc is None:
            return None
        stop_process(self.proc, grace_s)
        rc, self.proc = self.proc.returncode, None
        return rc

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Beats:
    """The recorder's heartbeats on its status PUB."""

    def __init__(self, endpoint: str):
        self.ctx = zmq.Context.instance()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb.recorder")
        self.sub.connect(endpoint)
        self.seen: List[Dict[str, Any]] = []

    def wait_until(self, predicate: Callable[[Dict[str, Any]], bool], timeout_s: float,
                   proc: Optional[RecorderProcess] = None) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.proc is not None and proc.proc.poll() is not None:
                raise AssertionError(f"the recorder exited: {proc.log_tail()}")
            if self.sub.poll(200):
                body = Publication.from_frames(self.sub.recv_multipart()).body
                self.seen.append(body)
                if predicate(body):
                    return body
        tail = proc.log_tail() if proc is not None else ""
        raise AssertionError(f"no heartbeat matched within {timeout_s} s; last: "
                             f"{self.seen[-1] if self.seen else None}\n{tail}")

    def poll_until(self, predicate: Callable[[Dict[str, Any]], bool], timeout_s: float) -> Optional[Dict[str, Any]]:
        """The first heartbeat within `timeout_s` that matches, else None."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.sub.poll(50):
                body = Publication.from_frames(self.sub.recv_multipart()).body
                self.seen.append(body)
                if predicate(body):
                    return body
        return None

    def close(self) -> None:
        self.sub.close(0)


class BarePublisher:
    """A plain PUB numbering publications like a broker (seq over all, topic_seq per topic), nothing
    else: no ROUTER, no heartbeats. Bodies are padded to about `body_bytes`."""

    def __init__(self, body_bytes: int = 200, epoch: int = 4242):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 0)
        self.endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.sock.bind(self.endpoint)
        self.epoch = epoch
        self.seq = 0
        self.topic_seq: Dict[str, int] = {}
        self.pad = "x" * max(0, body_bytes - 120)
        self.encoder = PublicationEncoder()

    def publish(self, count: int = 1, codes: Tuple[str, ...] = ("005930", "000660")) -> None:
        for _ in range(count):
            self.seq += 1
            code = codes[self.seq % len(codes)]
            topic = f"rt.trade.{code}"
            n = self.topic_seq[topic] = self.topic_seq.get(topic, 0) + 1
            now = time.time_ns()
            body = {"type": "주식체결", "code": code,
                    "values": {"current_price": 70000 + self.seq % 100, "volume": 10, "trade_time": "09:00:00",
                               "pad": self.pad}}
            self.sock.send_multipart(self.encoder.frames(topic, "RT", self.epoch, self.seq, n, now, now, body))

    def publish_alert(self, rule: str, values: Dict[str, Any], skip: int = 0) -> Dict[str, Any]:
        """An ALERT as the alerting service publishes it (`alert.<rule>`, body Alert.to_body()); `skip`
        alerts of the rule are numbered but never sent (lost on the way). Returns the body."""
        from koabus.services.alerting.alert import Alert

        self.seq += 1 + skip
        topic = f"alert.{rule}"
        n = self.topic_seq[topic] = self.topic_seq.get(topic, 0) + 1 + skip
        now = time.time_ns()
        body = Alert(rule, "price", "warning", f"{rule} #{n}", f"{rule} fired ({n})", code="005930", time_ns=now,
                     dedup_key=f"005930:{n}", values=values, notify=("log", "telegram")).to_body()
        self.sock.send_multipart(self.encoder.frames(topic, "ALERT", self.epoch, self.seq, n, now, now, body))
        return body

    def close(self) -> None:
        self.sock.close(0)


def warm_up(publisher: BarePublisher, beats: Beats, timeout_s: float = 30.0) -> Dict[str, Any]:
    """Publish a message every ~50 ms until the recorder's heartbeat says it received one (the SUB is
    connected: ZeroMQ drops what a PUB sends before that). Returns that heartbeat."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publisher.publish(1)
        beat = beats.poll_until(lambda b: b.get("received", 0) > 0, 0.05)
        if beat is not None:
            return beat
    raise AssertionError(f"the recorder received nothing in {timeout_s} s; last beat "
                         f"{beats.seen[-1] if beats.seen else None}")


def process_gone(pid: int) -> bool:
    """`pid` has exited (or is a zombie waiting for a parent that never reaps)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


class BusWatcher(threading.Thread):
    """A plain SUB on the broker's PUB that keeps (epoch, seq, topic, topic_seq, recv_ns) of `prefix`."""

    def __init__(self, pub: str, prefix: str = "rt."):
        super().__init__(daemon=True)
        self.pub = pub
        self.prefix = prefix
        self.seen: List[Tuple[int, int, str, int, int]] = []
        self._halt = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)
        sub.setsockopt(zmq.SUBSCRIBE, self.prefix.encode())
        sub.connect(self.pub)
        self.ready.set()
        try:
            while not self._halt.is_set():
                if sub.poll(100):
                    topic, envelope, _body = sub.recv_multipart()
                    _v, _t, epoch, seq, topic_seq, _ev, recv_ns = msgpack.unpackb(envelope)
                    self.seen.append((epoch, seq, topic.decode(), topic_seq, recv_ns))
        finally:
            sub.close(0)

    def wait_count(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.seen) >= count, f"the bus published {len(self.seen)} of {count} messages"

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def parquet_files(lake: Path, folder: str) -> List[Path]:
    return sorted(p for p in (lake / folder).rglob("*.parquet"))


def read_rows(lake: Path, folder: str, columns: Optional[List[str]] = None) -> List[Dict[str, Any]]:
    """Every row of the Parquet files under `folder` (e.g. 'rt', 'gaps') as dicts; timestamps as epoch ns."""
    rows: List[Dict[str, Any]] = []
    for path in parquet_files(lake, folder):
        table = pq.ParquetFile(path).read(columns=columns)
        for n, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                table = table.set_column(n, field.name, table.column(n).cast(pa.int64()))
        rows += table.to_pylist()
    return rows
