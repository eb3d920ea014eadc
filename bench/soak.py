"""Soak and fault suite: the whole stack under supervisor through a simulated trading day, faults injected, a report.

One run (`run_soak(SoakConfig(...))`):
1. a temp run dir gets a supervisord.conf and one YAML per service (broker on the simulated control,
   recorder, alerting, bars, strategy, web), every port a free one on 127.0.0.1 and every state file
   in the run dir; supervisord starts them all and the run waits until each one beats (`sys.hb*`) and
   the broker is logged in;
2. the virtual clock runs a day from before the pre-open auction to the after-hours session at
   `speed`; `codes` codes are registered for realtime; `consumers` SUB processes count seq/topic_seq;
   `orders` orders go through the broker (raw protocol, each with its own client_order_id, retried
   with the same id after a broker crash);
3. at seeded random moments: `kill -9` of each service's process (supervisor restarts it; recovery =
   kill to the first heartbeat of the new process, the broker's "logged in" measured apart), a control
   disconnect and a -200 storm (both through the simulated server's rate limits, see `_sim_limits`: no
   simulator change was needed), and one consumer stopped (SIGSTOP) for `stall_s`; the broker's faults
   run one at a time (a lock), each on a logged-in broker, so each one's effect and recovery is its own;
4. checks, written as bench/results/soak-<label>-<UTC stamp>.json and .md: loss accounting (what the reference
   consumers saw of rt.* against the recorder's lake and its gap rows; duplicates in the lake), orders
   (SendOrders per order in the simulated exchange's store, the broker's final state against the
   exchange's order history opw00007), recovery per service, peak RSS per service against its bound.

`python -m bench.soak [--short] [--seed N] [--keep]` runs it from the command line (the report goes to
bench/results/); tests/soak runs both sizes. The simulated listing holds 336 codes, so the full run
registers all of them when asked for 500 (`codes_registered` in the report).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import yaml
import zmq

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
SERVICES = ("broker", "recorder", "alerting", "bars", "strategy", "web")
ACCOUNT = "8000000011"
ORDER_CODE = "005930"
#: the reference consumers (they keep every rt.* key for the loss check); the last consumer is the stalled one
REFERENCE_CONSUMERS = 2


@dataclass
class SoakConfig:
    """One soak run. Times: `*_s` wall seconds unless named virtual."""

    codes: int = 500
    speed: float = 250.0  # virtual seconds per wall second
    day_start: str = "2024-03-06T08:30:00+09:00"  # a Wednesday, before the pre-open auction
    day_end: str = "2024-03-06T16:20:00+09:00"  # into the after-hours session
    trade_intensity: float = 0.1
    #: the simulator's own bound: past this many events waiting for the Qt loop it skips the realtime stream
    #: of a tick (counted by the simulator) instead of queueing without bound
    max_pending_events: int = 50_000
    consumers: int = 4
    stall_s: float = 30.0
    orders: int = 12
    seed: int = 20240306
    #: services that get a kill -9 each (all of them by default)
    kill: Tuple[str, ...] = SERVICES
    disconnect: bool = True
    #: kill the recorder only while no broker fault runs (and hold broker faults until it is back): the
    #: short run does, so make test stays deterministic; the full run lets them overlap (a recorder down
    #: across a broker restart: the old epoch's unheard tail is a gap row to UNKNOWN_LAST_SEQ)
    serialize_recorder_kill: bool = False
    storm: bool = True
    storm_calls: int = 8
    #: (calls, wall seconds) of the simulated server's query windows, see `_sim_limits`
    storm_window: Tuple[int, float] = (3, 2.0)
    disconnect_window: Tuple[int, float] = (12, 20.0)
    tr_backoff_wall_s: float = 2.5
    #: faults fall in this share of the day (wall), each in its own slot
    fault_window: Tuple[float, float] = (0.12, 0.85)
    #: peak RSS bound per service in MB (the broker's is its own limits.max_rss_mb, set from here); the
    #: recorder's counts its roller processes too
    rss_bound_mb: Dict[str, int] = field(default_factory=lambda: {
        "broker": 1536, "recorder": 1024, "alerting": 512, "bars": 512, "strategy": 512, "web": 512})
    recovery_target_s: float = 5.0
    ready_timeout_s: float = 90.0
    recovery_timeout_s: float = 60.0
    label: str = "full"

    @property
    def day_wall_s(self) -> float:
        start, end = datetime.fromisoformat(self.day_start), datetime.fromisoformat(self.day_end)
        return (end - start).total_seconds() / self.speed


def short_config(seed: Optional[int] = None) -> SoakConfig:
    """The shortened run of `make test`: 10 codes at half the intensity, the end of the pre-open auction,
    the open and the first 25 minutes at 60x (30 s wall), 6 orders; the stall scaled by the day's share
    (30 s of the full day's wall time). Sized for a shared 2-core machine."""
    full = SoakConfig()
    short = SoakConfig(codes=10, speed=60.0, trade_intensity=0.05, orders=6, day_start="2024-03-06T08:55:00+09:00",
                       day_end="2024-03-06T09:25:00+09:00", seed=full.seed if seed is None else seed, label="short",
                       serialize_recorder_kill=True)
    short.stall_s = round(full.stall_s * short.day_wall_s / full.day_wall_s, 1)
    return short


# -- small helpers ---------------------------------------------------------------------------------
def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _koabus() -> str:
    exe = BIN / "koabus"
    return str(exe) if exe.exists() else "koabus"


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def _proc_table() -> Dict[int, Tuple[int, int]]:
    """pid -> (ppid, rss_kb) of every process this user can read."""
    out: Dict[int, Tuple[int, int]] = {}
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            out[int(name)] = (int(fields[1]), int(fields[21]) * page_kb)
        except (OSError, IndexError, ValueError):
            continue
    return out


def tree_rss_mb(pid: int, table: Dict[int, Tuple[int, int]]) -> float:
    """RSS of `pid` and its descendants (the recorder's roller processes), MB."""
    children: Dict[int, List[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    total_kb, todo, seen = 0, [pid], set()
    while todo and len(seen) < 1000:
        p = todo.pop()
        if p in seen or p not in table:
            continue
        seen.add(p)
        total_kb += table[p][1]
        todo += children.get(p, [])
    return total_kb / 1024.0


# -- the run dir -----------------------------------------------------------------------------------
@dataclass
class Layout:
    """Every endpoint and path of one run."""

    root: Path
    router: str
    pub: str
    status: Dict[str, str]
    bars_snapshot: str
    web_port: int

    @classmethod
    def make(cls, root: Path) -> Layout:
        ep = lambda: f"tcp://127.0.0.1:{free_port()}"  # noqa: E731
        return cls(root, ep(), ep(), {s: ep() for s in SERVICES if s != "broker"}, ep(), free_port())

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def state(self) -> Path:
        return self.root / "state"

    @property
    def socket_path(self) -> Path:
        return self.root / "run" / "supervisor.sock"

    def heartbeat_endpoints(self) -> List[str]:
        return [self.pub, *self.status.values()]


def _sim_limits(cfg: SoakConfig) -> Dict[str, Any]:
    """The simulated server's query limits, in wall terms at `speed` (the limits count virtual time).

    The broker runs quote TRs one after the other, so these windows are sized for its TR rate on a loaded
    machine (~1 to 2 a second). Window 0 (`storm_window`: 3 calls per 2 s): queries beyond it get -200
    (the storm: `storm_calls` TRs at once; the broker pauses `tr_backoff_wall_s` and retries). Window 1
    (`disconnect_window`: 12 calls per 20 s), an "undisclosed" stricter one: crossing it drops the
    connection (OnEventConnect -106), as the real server's popup and forced logout do; TRs paced just under
    window 0 for a while trigger it on purpose. A storm of 8 plus the services' own few TRs stays under it.
    The broker's own pacer is loosened so these limits, not it, decide."""
    s = cfg.speed
    (n0, w0), (n1, w1) = cfg.storm_window, cfg.disconnect_window
    return {"tr_windows": [[n0, w0 * s], [n1, w1 * s]], "disconnect_on_strict_overflow": True}


def write_configs(cfg: SoakConfig, lay: Layout) -> Path:
    """supervisord.conf and the services' YAML under `lay.root`; returns the supervisord.conf path."""
    conf_dir = lay.root / "conf"
    for d in (conf_dir, lay.root / "log", lay.root / "run", lay.state, lay.lake):
        d.mkdir(parents=True, exist_ok=True)
    s = cfg.speed
    broker = {
        "backend": "sim", "router": lay.router, "pub": lay.pub, "state_dir": str(lay.state),
        "sim": {"speed": s, "start": cfg.day_start,
                "config": {"market_config": {"trade_intensity": cfg.trade_intensity}, "limits": _sim_limits(cfg),
                           "max_pending_events": cfg.max_pending_events}},
        "pacing": {"tr_windows": [[100_000, 1.0]], "tr_backoff_s": cfg.tr_backoff_wall_s * s},
        "limits": {"max_rss_mb": cfg.rss_bound_mb["broker"]},
        "logging": {"level": "WARNING"},
    }
    base = lambda name: yaml.safe_load((REPO / "deploy" / f"{name}.yaml").read_text())  # noqa: E731
    recorder = {**base("recorder"), "router": lay.router, "pub": lay.pub, "status": lay.status["recorder"],
                "lake": str(lay.lake), "services": [{"endpoint": lay.status["alerting"], "prefixes": ["alert."]}],
                "flush_interval_s": 0.5, "roll_interval_s": 5.0, "heartbeat_ms": 500, "logging": {"level": "WARNING"}}
    others = [lay.status[n] for n in ("recorder", "bars", "strategy", "web")]
    alerting = {**base("alerting"), "router": lay.router, "pub": lay.pub, "status": lay.status["alerting"],
                "rules": str(REPO / "deploy" / "alerts.yaml"), "watch_services": others, "heartbeat_ms": 500,
                "logging": {"level": "WARNING"}}
    # no backfill: its chart TRs would spend the strict query window the disconnect fault relies on
    bars = {**base("bars"), "router": lay.router, "pub": lay.pub, "publish": lay.status["bars"],
            "snapshot": lay.bars_snapshot, "backfill": False, "heartbeat_ms": 500, "logging": {"level": "WARNING"}}
    strategy = {**base("strategy"), "file": str(REPO / "examples" / "strategies" / "ma_cross.py"),
                "router": lay.router, "pub": lay.pub, "status": lay.status["strategy"], "heartbeat_ms": 500,
                "state_dir": str(lay.state / "strategy"), "logging": {"level": "WARNING"}}
    web = {**base("web"), "port": lay.web_port, "router": lay.router, "pub": lay.pub, "bars": lay.status["bars"],
           "alerts": lay.status["alerting"], "status": lay.status["web"], "lake_root": str(lay.lake),
           "services": [lay.status[n] for n in ("recorder", "alerting", "bars", "strategy")], "heartbeat_ms": 500,
           "logging": {"level": "WARNING"}}
    for name, data in (("broker", broker), ("recorder", recorder), ("alerting", alerting), ("bars", bars),
                       ("strategy", strategy), ("web", web)):
        (conf_dir / f"{name}.yaml").write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    koabus = _koabus()
    commands = {
        "broker": f"{koabus} broker --config {conf_dir / 'broker.yaml'}",
        "recorder": f"{koabus} recorder --config {conf_dir / 'recorder.yaml'}",
        "alerting": f"{koabus} alerting --config {conf_dir / 'alerting.yaml'}",
        "bars": f"{koabus} bars --config {conf_dir / 'bars.yaml'}",
        "strategy": f"{koabus} strategy {REPO / 'examples' / 'strategies' / 'ma_cross.py'} "
                    f"--config {conf_dir / 'strategy.yaml'}",
        "web": f"{koabus} web --config {conf_dir / 'web.yaml'}",
    }
    lines = [
        "[unix_http_server]", f"file = {lay.socket_path}", "chmod = 0700", "",
        "[supervisord]", f"logfile = {lay.root / 'log' / 'supervisord.log'}",
        f"pidfile = {lay.root / 'run' / 'supervisord.pid'}", f"childlogdir = {lay.root / 'log'}",
        f"directory = {REPO}", "nodaemon = true", "minfds = 1024", "",
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "", "[supervisorctl]", f"serverurl = unix://{lay.socket_path}", "",
    ]
    for n, name in enumerate(SERVICES):
        lines += [f"[program:{name}]", f"command = {commands[name]}", f"directory = {REPO}",
                  'environment = QT_QPA_PLATFORM="offscreen"', f"priority = {10 + 10 * min(n, 3)}",
                  "autostart = true",
                  # as deploy/supervisord.conf: the strategy's orderly exits are not restarted
                  "autorestart = unexpected" if name == "strategy" else "autorestart = true",
                  *(["exitcodes = 0,1,2"] if name == "strategy" else []),
                  "startsecs = 1", "startretries = 5", "stopsignal = TERM", "stopwaitsecs = 20",
                  "redirect_stderr = true", f"stdout_logfile = {lay.root / 'log' / (name + '.log')}",
                  "stdout_logfile_maxbytes = 50MB", "stdout_logfile_backups = 0", ""]
    path = conf_dir / "supervisord.conf"
    path.write_text("\n".join(lines))
    return path


# -- the bus ---------------------------------------------------------------------------------------
class Requests:
    """A DEALER speaking the broker's protocol; `call` waits for REPLY/END/ERROR of one request, bounded."""

    def __init__(self, router: str):
        self.router = router
        self.rid = 0
        self.dealer: Optional[zmq.Socket] = None
        self._open()

    def _open(self) -> None:
        if self.dealer is not None:
            self.dealer.close(0)
        self.dealer = zmq.Context.instance().socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(self.router)

    def send(self, op: str, args: Optional[Dict[str, Any]] = None) -> int:
        from koabus.common.protocol import Request, encode_client

        self.rid += 1
        self.dealer.send_multipart(encode_client(Request(self.rid, op, args or {})))
        return self.rid

    def drain(self, wait_ms: int = 0) -> List[Any]:
        """Every broker message waiting now (after at most `wait_ms`), decoded; malformed ones skipped."""
        from koabus.common.protocol import decode_broker

        out = []
        if not self.dealer.poll(wait_ms):
            return out
        for _ in range(10_000):
            try:
                frames = self.dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                out.append(decode_broker(frames))
            except Exception:  # wire data: skipped, never trusted
                continue
        return out

    def call(self, op: str, args: Optional[Dict[str, Any]] = None, timeout_s: float = 10.0) -> Tuple[str, Any]:
        """("ok", result) / ("error", message) / ("timeout", None); PARTs of a TR are collected."""
        rid = self.send(op, args)
        deadline = time.monotonic() + timeout_s
        parts = []
        while time.monotonic() < deadline:
            for msg in self.drain(100):
                if getattr(msg, "request_id", None) != rid:
                    continue
                if msg.TYPE == "REPLY":
                    return "ok", msg.result
                if msg.TYPE == "PART":
                    parts.append(msg.data)
                elif msg.TYPE == "END":
                    return "ok", parts
                elif msg.TYPE == "ERROR":
                    return "error", msg
        self._open()  # a reply may still come: a fresh socket keeps it out of the next call
        return "timeout", None

    def close(self) -> None:
        if self.dealer is not None:
            self.dealer.close(0)
            self.dealer = None


@dataclass
class Beat:
    service: str
    pid: int
    state: str
    at_s: float  # monotonic


class Heartbeats(threading.Thread):
    """Every `sys.hb*` of the broker's PUB and the services' status PUBs, with the local time heard."""

    def __init__(self, endpoints: List[str]):
        super().__init__(name="soak-heartbeats", daemon=True)
        self.endpoints = endpoints
        self.beats: List[Beat] = []
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def run(self) -> None:
        from koabus.common.heartbeat import service_of
        from koabus.common.protocol import Publication

        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb")
        for ep in self.endpoints:
            sub.connect(ep)
        try:
            while not self.halt.is_set():
                if not sub.poll(100):
                    continue
                try:
                    pub = Publication.from_frames(sub.recv_multipart(zmq.NOBLOCK))
                except Exception:  # malformed or not ready: skipped
                    continue
                name = service_of(pub.topic)
                body = pub.body if isinstance(pub.body, dict) else {}
                pid = body.get("pid")
                if name is None or not isinstance(pid, int):
                    continue
                with self.lock:
                    self.beats.append(Beat(name, pid, str(body.get("state", "")), time.monotonic()))
        finally:
            sub.close(0)

    def latest(self, service: str) -> Optional[Beat]:
        with self.lock:
            for b in reversed(self.beats):
                if b.service == service:
                    return b
        return None

    def first_after(self, service: str, since_s: float, pred: Callable[[Beat], bool]) -> Optional[Beat]:
        with self.lock:
            for b in self.beats:
                if b.service == service and b.at_s >= since_s and pred(b):
                    return b
        return None

    def wait(self, service: str, since_s: float, pred: Callable[[Beat], bool], timeout_s: float) -> Optional[Beat]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.first_after(service, since_s, pred)
            if found is not None:
                return found
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


class RssSampler(threading.Thread):
    """Peak RSS (process and descendants) per service, sampled from /proc every `interval_s`."""

    def __init__(self, pids: Callable[[], Dict[str, int]], interval_s: float = 0.5):
        super().__init__(name="soak-rss", daemon=True)
        self.pids = pids
        self.interval_s = interval_s
        self.peak_mb: Dict[str, float] = {}
        self.samples = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.interval_s):
            try:
                current = self.pids()
            except Exception:  # supervisor busy or gone: the next sample
                continue
            table = _proc_table()
            for name, pid in current.items():
                if pid:
                    self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), tree_rss_mb(pid, table))
            self.samples += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


# -- consumers -------------------------------------------------------------------------------------
def consume(pub: str, out: str, keep_keys: bool, max_s: float) -> int:
    """A consumer process: SUB on `rt.` until SIGTERM (or `max_s`); counts, topic_seq gaps per epoch,
    messages per wall second; with `keep_keys` every (epoch, seq, topic, topic_seq) into `out`.npz."""
    import msgpack
    import numpy as np

    halt = []
    signal.signal(signal.SIGTERM, lambda *_: halt.append(1))
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"rt.")
    sock.connect(pub)
    received, gaps, gap_msgs = 0, 0, 0
    last: Dict[bytes, int] = {}
    epoch_now = None
    per_s: Dict[int, int] = {}
    topics: Dict[bytes, int] = {}
    keys: Dict[int, Tuple[List[int], List[int], List[int]]] = {}
    started = time.monotonic()
    while not halt and time.monotonic() - started < max_s:
        if not sock.poll(100):
            continue
        for _ in range(5000):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if len(frames) < 2:
                continue
            topic = frames[0]
            try:
                _v, _kind, epoch, seq, topic_seq = msgpack.unpackb(frames[1])[:5]
            except Exception:  # malformed: skipped
                continue
            received += 1
            sec = int(time.time())
            per_s[sec] = per_s.get(sec, 0) + 1
            if epoch != epoch_now:
                epoch_now = epoch
                last.clear()
            prev = last.get(topic)
            if prev is not None and topic_seq != prev + 1:
                gaps += 1
                gap_msgs += max(0, topic_seq - prev - 1)
            last[topic] = topic_seq
            if keep_keys:
                e = keys.get(epoch)
                if e is None:
                    e = keys[epoch] = ([], [], [])
                t = topics.get(topic)
                if t is None:
                    t = topics[topic] = len(topics)
                e[0].append(seq)
                e[1].append(t)
                e[2].append(topic_seq)
    sock.close(0)
    summary = {"received": received, "gaps": gaps, "gap_messages": gap_msgs,
               "peak_per_s": max(per_s.values(), default=0), "per_s": sorted(per_s.items()),
               "epochs": sorted(keys) if keep_keys else [], "topics": [t.decode() for t in topics]}
    if keep_keys:
        arrays = {}
        for epoch, (seqs, tix, tseqs) in keys.items():
            arrays[f"seq_{epoch}"] = np.asarray(seqs, dtype=np.int64)
            arrays[f"tix_{epoch}"] = np.asarray(tix, dtype=np.int32)
            arrays[f"tseq_{epoch}"] = np.asarray(tseqs, dtype=np.int64)
        np.savez(out + ".npz", **arrays)
    Path(out + ".json").write_text(json.dumps(summary))
    return 0


class Consumer:
    """One consumer process (`python -m bench.soak consume ...`)."""

    def __init__(self, pub: str, out: Path, keep_keys: bool, max_s: float, log: Path):
        self.out = out
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.soak", "consume", pub, str(out), "1" if keep_keys else "0",
                 str(max_s)], cwd=str(REPO), stdout=fh, stderr=fh, start_new_session=True)
        self.stalled_s: List[Tuple[float, float]] = []

    def stall(self, seconds: float) -> None:
        """SIGSTOP now, SIGCONT after `seconds` (a timer thread)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGSTOP)
        self.stalled_s.append((started, seconds))
        threading.Timer(seconds, self.resume).start()

    def resume(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def finish(self, timeout_s: float = 60.0) -> Dict[str, Any]:
        self.resume()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        path = Path(str(self.out) + ".json")
        return json.loads(path.read_text()) if path.exists() else {"error": f"exit {self.proc.returncode}"}


# -- the stack -------------------------------------------------------------------------------------
class Stack:
    """supervisord and its programs for one run; `stop()` always leaves no process behind."""

    def __init__(self, cfg: SoakConfig, lay: Layout):
        self.cfg = cfg
        self.lay = lay
        self.conf = write_configs(cfg, lay)
        self.proc: Optional[subprocess.Popen] = None
        self.sup = None
        self.seen_pids: Dict[str, set] = {s: set() for s in SERVICES}

    def start(self) -> None:
        from koabus.common.cli.stack import Supervisor

        exe = BIN / "supervisord"
        with open(self.lay.root / "log" / "supervisord.out", "ab") as fh:
            self.proc = subprocess.Popen([str(exe) if exe.exists() else "supervisord", "-c", str(self.conf)],
                                         cwd=str(REPO), stdout=fh, stderr=fh, start_new_session=True)
        self.sup = Supervisor(str(self.lay.socket_path))
        deadline = time.monotonic() + 30
        while not self.sup.alive():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"supervisord did not start: {self.log_tail('supervisord.out')}")
            time.sleep(0.1)

    def pids(self) -> Dict[str, int]:
        """Program -> pid of what supervisor runs now (0: not running)."""
        out = {}
        for p in self.sup.processes():
            out[p["name"]] = int(p.get("pid") or 0)
            if out[p["name"]]:
                self.seen_pids.setdefault(p["name"], set()).add(out[p["name"]])
        return out

    def states(self) -> Dict[str, str]:
        return {p["name"]: p["statename"] for p in self.sup.processes()}

    def log_tail(self, name: str, chars: int = 2000) -> str:
        path = self.lay.root / "log" / (name if "." in name else name + ".log")
        try:
            return path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """supervisor's orderly shutdown (each program SIGTERM, the recorder rolls its journal), bounded;
        then SIGKILL of anything left: supervisord's group and every program pid ever seen."""
        if self.proc is None:
            return
        try:
            self.pids()
        except Exception:  # supervisor already gone
            pass
        try:
            if self.sup is not None and self.sup.alive():
                self.sup.shutdown()
        except Exception:  # already shutting down
            pass
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            pass
        for pid in {p for pids in self.seen_pids.values() for p in pids}:
            if _pid_alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(10)
        self.proc = None


# -- the run ---------------------------------------------------------------------------------------
class Soak:
    """Drives one run; `report` accumulates what the checks read."""

    def __init__(self, cfg: SoakConfig, root: Path):
        self.cfg = cfg
        self.rng = random.Random(cfg.seed)
        self.lay = Layout.make(root)
        self.stack = Stack(cfg, self.lay)
        self.hb = Heartbeats(self.lay.heartbeat_endpoints())
        self.rss = RssSampler(self.stack_pids)
        self.req: Optional[Requests] = None
        self.consumers: List[Consumer] = []
        self.events: List[Dict[str, Any]] = []  # the fault log
        self.recoveries: Dict[str, Dict[str, Any]] = {}
        self.orders: List[Dict[str, Any]] = []
        self.codes: List[str] = []
        self.t0 = time.monotonic()
        self.broker_pid = 0
        self.status_peaks = {"outbox_dropped": 0}
        self.last_price = 70000
        self.workers: List[threading.Thread] = []
        #: the broker's faults (kill, storm, disconnect) one at a time: each is measured on a settled broker
        self.broker_faults = threading.Lock()
        self.counters_before: Dict[str, int] = {}
        self.counters_after: Dict[str, int] = {}

    def stack_pids(self) -> Dict[str, int]:
        return self.stack.pids()

    def log(self, what: str, **more: Any) -> None:
        entry = {"t_s": round(time.monotonic() - self.t0, 3), "event": what, **more}
        self.events.append(entry)
        print(f"[soak {entry['t_s']:8.2f}] {what} {more if more else ''}", file=sys.stderr, flush=True)

    # -- phases -------------------------------------------------------------------------------
    def start(self) -> None:
        self.stack.start()
        self.hb.start()
        self.rss.start()
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        missing = list(SERVICES)
        while missing and time.monotonic() < deadline:
            missing = [s for s in SERVICES if self.hb.latest(s) is None
                       or (s == "broker" and self.hb.latest(s).state != "connected")]
            time.sleep(0.2)
        if missing:
            raise RuntimeError(f"not ready within {self.cfg.ready_timeout_s} s: {missing}; supervisor "
                               f"{self.stack.states()}\n" + "\n".join(f"--- {m}\n{self.stack.log_tail(m)}"
                                                                     for m in missing))
        self.broker_pid = self.hb.latest("broker").pid
        self.req = Requests(self.lay.router)
        self.log("ready", pids={s: self.hb.latest(s).pid for s in SERVICES})

    def pick_codes(self) -> None:
        """The recorder's watchlist first, then KOSPI's, KOSDAQ's and the rest of the listing, up to `codes`."""
        codes: List[str] = []
        for market in ("0", "10", ""):
            kind, listing = self.req.call("call", {"method": "GetCodeListByMarket", "args": [market]}, 15)
            if kind != "ok":
                raise RuntimeError(f"no code list of market {market}: {kind} {listing}")
            codes += [c for c in listing.split(";") if c]
        watch = list(yaml.safe_load((REPO / "deploy" / "recorder.yaml").read_text())["realtime"]["codes"])
        ordered = list(dict.fromkeys(watch + [c for c in codes if len(c) == 6 and c.isdigit()]))
        self.codes = ordered[:self.cfg.codes]
        self.log("codes", count=len(self.codes))

    def subscribe(self) -> bool:
        kind, result = self.req.call("subscribe", {"codes": self.codes, "types": ["trade", "quote"]}, 30)
        self.log("subscribe", codes=len(self.codes), outcome=kind)
        return kind == "ok"

    def start_consumers(self) -> None:
        max_s = self.cfg.day_wall_s + self.cfg.ready_timeout_s + 120
        for i in range(self.cfg.consumers):
            self.consumers.append(Consumer(self.lay.pub, self.lay.root / f"consumer{i}", i < REFERENCE_CONSUMERS,
                                           max_s, self.lay.root / "log" / f"consumer{i}.log"))

    def schedule(self, day_started_s: float) -> List[Tuple[float, str]]:
        """(monotonic time, fault) pairs, one fault per slot of the fault window, order and offset seeded."""
        faults = [f"kill:{s}" for s in self.cfg.kill]
        faults += ["disconnect"] * self.cfg.disconnect + ["storm"] * self.cfg.storm + ["stall"]
        self.rng.shuffle(faults)
        lo, hi = self.cfg.fault_window
        slot = (hi - lo) * self.cfg.day_wall_s / len(faults)
        return [(day_started_s + lo * self.cfg.day_wall_s + (i + self.rng.uniform(0.0, 0.6)) * slot, f)
                for i, f in enumerate(faults)]

    # -- faults -------------------------------------------------------------------------------
    def kill(self, service: str) -> None:
        pid = self.stack.pids().get(service, 0)
        if not pid:
            self.log("kill skipped", service=service, reason="not running")
            self.recoveries[service] = {"killed": False}
            return
        killed_s = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        self.log("kill -9", service=service, pid=pid)
        self.recoveries[service] = {"killed": True, "pid": pid, "killed_s": killed_s}
        if service != "broker":  # kill_broker waits itself, holding the broker's fault lock
            threading.Thread(target=self._await_recovery, args=(service, pid, killed_s), daemon=True).start()

    def kill_broker(self, req: Optional[Requests] = None) -> None:
        """The broker's kill, after any other broker fault finished and once it is logged in."""
        with self.broker_faults:
            self.broker_connected(self.cfg.recovery_timeout_s, req)
            self.kill("broker")
            self._await_recovery("broker", self.recoveries["broker"].get("pid", 0),
                                 self.recoveries["broker"].get("killed_s", time.monotonic()))

    def kill_recorder(self, req: Optional[Requests] = None) -> None:
        """The recorder's kill while no broker fault runs; broker faults wait until it beats again."""
        with self.broker_faults:
            self.kill("recorder")
            rec = self.recoveries["recorder"]
            if rec.get("killed"):
                self.hb.wait("recorder", rec["killed_s"], lambda b: b.pid != rec["pid"], self.cfg.recovery_timeout_s)

    def _await_recovery(self, service: str, pid: int, killed_s: float) -> None:
        rec = self.recoveries[service]
        if not rec.get("killed"):
            return
        beat = self.hb.wait(service, killed_s, lambda b: b.pid != pid, self.cfg.recovery_timeout_s)
        if beat is None:
            rec["recovered"] = False
            self.log("not recovered", service=service)
            return
        rec.update(recovered=True, new_pid=beat.pid, recovery_s=round(beat.at_s - killed_s, 3))
        if service == "broker":
            ready = self.hb.wait(service, killed_s, lambda b: b.pid != pid and b.state == "connected",
                                 self.cfg.recovery_timeout_s)
            rec["logged_in_s"] = round(ready.at_s - killed_s, 3) if ready else None
            rec["recovered"] = ready is not None
        self.log("recovered", service=service,
                 **{k: v for k, v in rec.items() if k in ("new_pid", "recovery_s", "logged_in_s")})

    def broker_connected(self, timeout_s: float, req: Optional[Requests] = None) -> bool:
        req = req or self.req
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            kind, status = req.call("status", None, 2)
            if kind == "ok" and status.get("connected"):
                return True
            time.sleep(0.2)
        return False

    def _tr_burst(self, count: int, req: Optional[Requests] = None) -> List[int]:
        req = req or self.req
        codes = self.codes or [ORDER_CODE]
        return [req.send("tr", {"code": "opt10001", "inputs": {"종목코드": codes[i % len(codes)]}})
                for i in range(count)]

    def storm(self, req: Optional[Requests] = None) -> None:
        """`storm_calls` quote TRs at once: the simulated server answers -200 beyond its first window."""
        req = req or self.req
        with self.broker_faults:
            self._storm(req)

    def _storm(self, req: Requests) -> None:
        if not self.broker_connected(self.cfg.recovery_timeout_s, req):
            self.log("storm skipped", reason="broker not connected")
            return
        before = self._counters(req)
        ids = set(self._tr_burst(self.cfg.storm_calls, req))
        outcome: Dict[str, int] = {"ok": 0}
        deadline = time.monotonic() + 30
        while ids and time.monotonic() < deadline:
            for msg in req.drain(100):
                rid = getattr(msg, "request_id", None)
                if rid in ids and msg.TYPE in ("END", "ERROR", "REPLY"):
                    ids.discard(rid)
                    key = "ok" if msg.TYPE != "ERROR" else f"error:{getattr(msg, 'kind', '')}"
                    outcome[key] = outcome.get(key, 0) + 1
        after = self._counters(req)
        overloads = after.get("overload.-200", 0) - before.get("overload.-200", 0)
        self.log("-200 storm", calls=self.cfg.storm_calls, answered=outcome, unanswered=len(ids),
                 overload_200=overloads)
        self.storm_result = {"calls": self.cfg.storm_calls, "answered": outcome, "unanswered": len(ids),
                             "overload_200": overloads}

    def disconnect(self, req: Optional[Requests] = None) -> None:
        """Quote TRs paced just under window 0, a few in flight, until the strict window drops the control's
        connection (the broker's status says so); then time until it is logged in again."""
        req = req or self.req
        with self.broker_faults:
            self._disconnect(req)

    def _disconnect(self, req: Requests) -> None:
        if not self.broker_connected(self.cfg.recovery_timeout_s, req):
            self.log("disconnect skipped", reason="broker not connected")
            return
        n0, w0 = self.cfg.storm_window
        gap_s = w0 / n0 * 1.1  # just under window 0: no -200 (and no backoff) on the way
        started = time.monotonic()
        dropped_s = None
        in_flight: set = set()
        next_status = next_send = 0.0
        for _ in range(5000):  # bounded by the 45 s below as well
            now = time.monotonic()
            if now - started > 45.0:
                break
            if len(in_flight) < 10 and now >= next_send:
                in_flight.update(self._tr_burst(1, req))
                next_send = now + gap_s
            for msg in req.drain(max(1, int((next_send - time.monotonic()) * 1000))):
                if msg.TYPE in ("END", "ERROR", "REPLY"):
                    in_flight.discard(getattr(msg, "request_id", None))
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + 0.5
                beat = self.hb.latest("broker")
                if beat is not None and beat.state not in ("connected", ""):
                    dropped_s = time.monotonic()
                    break
                kind, status = req.call("status", None, 2)
                if kind == "ok" and not status.get("connected"):
                    dropped_s = time.monotonic()
                    break
        if dropped_s is None:
            calls = self._counters(req).get("control_calls", {})
            self.log("disconnect not caused", after_s=round(time.monotonic() - started, 2),
                     comm_rq_data=calls.get("CommRqData") if isinstance(calls, dict) else None)
            self.recoveries["control"] = {"killed": False, "recovered": None, "reason": "no disconnect within 45 s"}
            return
        self.log("control disconnected", after_s=round(dropped_s - started, 2), in_flight=len(in_flight))
        ok = self.broker_connected(self.cfg.recovery_timeout_s, req)
        self.recoveries["control"] = {"killed": True, "recovered": ok,
                                      "recovery_s": round(time.monotonic() - dropped_s, 3) if ok else None}
        self.log("control re-logged in" if ok else "control not back", **self.recoveries["control"])
        # the simulated server still counts those queries: the next broker fault (a storm) waits until its
        # strict window is clear, or it would drop the connection again instead of answering -200
        time.sleep(self.cfg.disconnect_window[1])

    def stall(self) -> None:
        victim = self.consumers[-1]
        victim.stall(self.cfg.stall_s)
        self.log("consumer stalled", consumer=len(self.consumers) - 1, seconds=round(self.cfg.stall_s, 1))

    def _counters(self, req: Optional[Requests] = None) -> Dict[str, int]:
        req = req or self.req
        kind, status = req.call("status", None, 5)
        return dict(status.get("counters", {})) if kind == "ok" else {}

    # -- orders -------------------------------------------------------------------------------
    def price(self, req: Optional[Requests] = None) -> Optional[int]:
        req = req or self.req
        kind, parts = req.call("tr", {"code": "opt10001", "inputs": {"종목코드": ORDER_CODE}}, 8)
        if kind != "ok" or not parts:
            return None
        try:
            return abs(int(parts[0]["single"]["현재가"]))
        except (KeyError, TypeError, ValueError, IndexError):
            return None

    def place_order(self, i: int, req: Optional[Requests] = None) -> None:
        """Order i (its own client_order_id and fingerprint qty); retried with the same id until answered."""
        req = req or self.req
        from koabus.metadata.ticks import tick_size

        price = self.price(req) or self.last_price  # a quote TR may time out under load: the last one then
        self.last_price = price
        limit = max(tick_size(price), price + (i % 3 - 1) * tick_size(price))
        order = {"account": ACCOUNT, "side": "buy", "code": ORDER_CODE, "qty": 100 + i, "price": limit,
                 "hoga": "00", "client_order_id": f"soak-{self.cfg.seed}-{i}"}
        record = {"order": order, "attempts": []}
        self.orders.append(record)
        deadline = time.monotonic() + self.cfg.recovery_timeout_s
        while time.monotonic() < deadline:
            kind, result = req.call("order", order, 20)
            record["attempts"].append(kind if kind != "error" else f"error:{getattr(result, 'kind', '')}")
            if kind == "ok" or (kind == "error" and getattr(result, "kind", "") in ("OrderInDoubt", "Rejected",
                                                                                     "KiwoomError", "RiskRejected")):
                break
            time.sleep(0.5)
        self.log("order", cid=order["client_order_id"], attempts=record["attempts"])

    # -- the day ------------------------------------------------------------------------------
    def run_day(self) -> None:
        self.pick_codes()
        self.start_consumers()
        time.sleep(1.0)  # the consumers' SUBs connect (ZeroMQ drops what a PUB sends before that)
        if not self.subscribe():
            raise RuntimeError("the broker refused the realtime registration")
        day_started = time.monotonic()
        self.counters_before = self._counters()
        faults = self.schedule(day_started)
        order_times = [day_started + (i + 0.5) * self.cfg.day_wall_s / self.cfg.orders
                       for i in range(self.cfg.orders)]
        self.log("schedule", faults=[(round(t - day_started, 2), f) for t, f in faults],
                 orders=[round(t - day_started, 2) for t in order_times])
        pending: List[Tuple[float, str, Any]] = sorted([(t, "fault", f) for t, f in faults]
                                                       + [(t, "order", i) for i, t in enumerate(order_times)])
        end = day_started + self.cfg.day_wall_s
        next_poll = 0.0
        for _ in range(1_000_000):
            now = time.monotonic()
            if now >= end and not pending:
                break
            if now > end + 3 * self.cfg.recovery_timeout_s:
                self.log("day overran", left=[p[2] for p in pending])
                break
            if pending and pending[0][0] <= now:
                _, kind, what = pending.pop(0)
                if kind == "order":
                    self.spawn(self.place_order, what)
                elif what == "kill:broker":
                    self.spawn(self.kill_broker)
                elif what == "kill:recorder" and self.cfg.serialize_recorder_kill:
                    self.spawn(self.kill_recorder)
                elif what.startswith("kill:"):
                    self.kill(what.split(":", 1)[1])
                elif what == "stall":
                    self.stall()
                else:
                    self.spawn(getattr(self, what))
                continue
            if now >= next_poll:  # keeps this client's lease (and its subscription) alive; re-subscribes after a restart
                next_poll = now + 2.0
                self.poll_broker()
            time.sleep(0.05)
        for worker in self.workers:  # each bounded by its own timeouts
            worker.join(3 * self.cfg.recovery_timeout_s)
        self.wait_recoveries()
        self.counters_after = self._counters()

    def spawn(self, action: Callable[..., None], *args: Any) -> None:
        """`action` in a thread with its own DEALER (a socket is not shared between threads), so a slow
        order or fault does not hold back the schedule."""

        def work() -> None:
            req = Requests(self.lay.router)
            try:
                action(*args, req=req)
            except Exception as exc:  # reported in the fault log, the checks judge the outcome
                self.log("action failed", action=getattr(action, "__name__", "?"), error=repr(exc))
            finally:
                req.close()

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        self.workers.append(worker)

    def poll_broker(self) -> None:
        beat = self.hb.latest("broker")
        if beat is not None and beat.pid != self.broker_pid and beat.state == "connected":
            self.broker_pid = beat.pid
            self.req._open()
            self.subscribe()
            return
        kind, status = self.req.call("status", None, 2)
        if kind == "ok":
            counters = status.get("counters", {})
            self.status_peaks["outbox_dropped"] = max(self.status_peaks["outbox_dropped"],
                                                      int(counters.get("outbox_dropped", 0)))

    def wait_recoveries(self) -> None:
        deadline = time.monotonic() + self.cfg.recovery_timeout_s
        while time.monotonic() < deadline:
            if all("recovered" in r for r in self.recoveries.values() if r.get("killed")):
                return
            time.sleep(0.2)

    # -- after the day ------------------------------------------------------------------------
    def order_statuses(self) -> Tuple[Dict[str, Any], Dict[str, Dict[str, Any]]]:
        """The broker's order_status per client_order_id, and the exchange's opw00007 rows by order number."""
        statuses = {}
        for rec in self.orders:
            cid = rec["order"]["client_order_id"]
            for _ in range(20):
                kind, status = self.req.call("order_status", {"client_order_id": cid}, 10)
                if kind == "ok":
                    statuses[cid] = status
                    break
                time.sleep(0.5)
        history: Dict[str, Dict[str, Any]] = {}
        for _ in range(10):
            kind, parts = self.req.call("tr", {"code": "opw00007", "inputs": {
                "계좌번호": ACCOUNT, "비밀번호": "", "비밀번호입력매체구분": "00", "조회구분": "1", "매도수구분": "0",
                "종목코드": "", "주문일자": "", "시작주문번호": ""}, "all_pages": True}, 30)
            if kind == "ok":
                for part in parts:
                    for row in (part.get("multi") or part.get("rows") or []) if isinstance(part, dict) else []:
                        history[str(row.get("주문번호", "")).strip().lstrip("0")] = row
                break
            time.sleep(1.0)
        return statuses, history


# -- checks ----------------------------------------------------------------------------------------
def read_lake(lake: Path) -> Dict[str, Any]:
    """The lake's live rt rows as arrays per epoch (seq, topic, topic_seq) and its gap rows."""
    import numpy as np
    import pyarrow.parquet as pq

    per_epoch: Dict[int, Dict[str, Any]] = {}
    cols = ["epoch", "seq", "topic", "topic_seq", "snapshot"]
    chunks: Dict[int, List[Tuple[Any, Any, Any]]] = {}
    for path in sorted((lake / "rt").rglob("*.parquet")):
        table = pq.ParquetFile(path).read(columns=cols)
        live = ~np.asarray(table.column("snapshot").to_numpy(zero_copy_only=False), dtype=bool)
        epochs = table.column("epoch").to_numpy()[live]
        seqs = table.column("seq").to_numpy()[live]
        tseqs = table.column("topic_seq").to_numpy()[live]
        topics = np.asarray(table.column("topic").to_pylist(), dtype=object)[live]
        for e in np.unique(epochs):
            m = epochs == e
            chunks.setdefault(int(e), []).append((seqs[m], topics[m], tseqs[m]))
    for e, parts in chunks.items():
        per_epoch[e] = {"seq": np.concatenate([p[0] for p in parts]), "topic": np.concatenate([p[1] for p in parts]),
                        "topic_seq": np.concatenate([p[2] for p in parts])}
    gaps = []
    for path in sorted((lake / "gaps").rglob("*.parquet")):
        gaps += pq.ParquetFile(path).read(columns=["topic", "epoch", "first_seq", "last_seq", "kind",
                                                    "cause"]).to_pylist()
    return {"epochs": per_epoch, "gaps": gaps}


def loss_accounting(lake: Dict[str, Any], reference: List[Tuple[Dict[str, Any], Dict[str, Any]]]) -> Dict[str, Any]:
    """What the reference consumers saw of rt.* against the lake: recorded, inside a gap row, or lost
    silently; duplicates in the lake by (epoch, seq); per epoch the broker's seq range, lake rows, gap rows."""
    import numpy as np

    # the lake's gap rows carry no source: a service's rows (its own epoch) never match a broker epoch
    broker_gaps = lake["gaps"]
    out: Dict[str, Any] = {"epochs": [], "duplicates": 0, "seen": 0, "recorded": 0, "in_gap": 0, "silent_loss": 0,
                           "silent_examples": [], "gap_rows": len(broker_gaps),
                           "gap_kinds": sorted({g["kind"] for g in broker_gaps})}
    for rows in lake["epochs"].values():
        _uniq, counts = np.unique(rows["seq"], return_counts=True)
        out["duplicates"] += int((counts > 1).sum())
    epochs = sorted({int(k.split("_", 1)[1]) for summary, arrays in reference for k in arrays if k.startswith("seq_")})
    for e in epochs:
        seen_seq, seen_topic, seen_tseq = [], [], []
        for summary, arrays in reference:
            if f"seq_{e}" not in arrays:
                continue
            topics = np.asarray(summary["topics"], dtype=object)
            seen_seq.append(arrays[f"seq_{e}"])
            seen_topic.append(topics[arrays[f"tix_{e}"]] if len(topics) else np.asarray([], dtype=object))
            seen_tseq.append(arrays[f"tseq_{e}"])
        seq = np.concatenate(seen_seq)
        seq, first = np.unique(seq, return_index=True)
        topic, tseq = np.concatenate(seen_topic)[first], np.concatenate(seen_tseq)[first]
        recorded_seq = lake["epochs"].get(e, {}).get("seq", np.asarray([], dtype=np.int64))
        inlake = np.isin(seq, recorded_seq)
        covered = inlake.copy()
        egaps = [g for g in broker_gaps if g["epoch"] == e]
        for g in egaps:
            if g["topic"] == "":
                covered |= (seq >= g["first_seq"]) & (seq <= g["last_seq"])
            else:
                covered |= (topic == g["topic"]) & (tseq >= g["first_seq"]) & (tseq <= g["last_seq"])
        silent = ~covered
        out["seen"] += int(len(seq))
        out["recorded"] += int(inlake.sum())
        out["in_gap"] += int((covered & ~inlake).sum())
        out["silent_loss"] += int(silent.sum())
        out["silent_examples"] += [(e, int(s), str(t), int(ts)) for s, t, ts in
                                   zip(seq[silent][:5], topic[silent][:5], tseq[silent][:5])]
        out["epochs"].append({"epoch": e, "seen_first_seq": int(seq.min()), "seen_last_seq": int(seq.max()),
                              "seen": int(len(seq)), "lake_rows": int(len(recorded_seq)),
                              "gap_rows": len(egaps), "gap_missing": int(sum(g["last_seq"] - g["first_seq"] + 1
                                                                             for g in egaps))})
    out["lake_rows"] = int(sum(len(r["seq"]) for r in lake["epochs"].values()))
    return out


def order_accounting(orders: List[Dict[str, Any]], statuses: Dict[str, Any], history: Dict[str, Dict[str, Any]],
                     inputs: List[Any]) -> Dict[str, Any]:
    """Per order: SendOrders that reached the simulated exchange (its store, by fingerprint), the
    broker's final state and fill against the exchange's order history."""
    rows = []
    for rec in orders:
        o = rec["order"]
        cid = o["client_order_id"]
        sent = [r for r in inputs if r.code == o["code"] and r.action == "new" and r.side == o["side"]
                and r.qty == o["qty"] and r.price == o["price"]]
        status = statuses.get(cid) or {}
        order_no = str(status.get("order_no") or "").lstrip("0")
        ex = history.get(order_no) if order_no else None
        ex_filled = int(str(ex.get("체결수량", "0")).strip() or 0) if ex else None
        ex_left = int(str(ex.get("주문잔량", "0")).strip() or 0) if ex else None
        state = status.get("state")
        if len(sent) == 1 and not sent[0].accepted:
            matches = state == "rejected" and not order_no
        elif len(sent) == 1:
            matches = (ex is not None and str(sent[0].order_no).lstrip("0") == order_no
                       and ex_filled == status.get("filled_qty")
                       and (state != "filled" or ex_left == 0))
        else:
            matches = False
        rows.append({"client_order_id": cid, "qty": o["qty"], "price": o["price"], "send_orders": len(sent),
                     "accepted": bool(sent and sent[0].accepted), "state": state,
                     "filled_qty": status.get("filled_qty"), "exchange_filled_qty": ex_filled,
                     "exchange_unfilled_qty": ex_left, "attempts": rec["attempts"], "matches_exchange": matches})
    mine = {(r["qty"], r["price"]) for r in rows}
    others = [r for r in inputs if r.action == "new" and (r.qty, r.price) not in mine]
    return {"orders": rows, "exactly_one_send_order": all(r["send_orders"] == 1 for r in rows),
            "all_match_exchange": all(r["matches_exchange"] for r in rows),
            "other_new_inputs": len(others)}


def run_soak(cfg: SoakConfig, results_dir: Path = RESULTS_DIR, keep_dir: bool = False) -> Dict[str, Any]:
    """One whole run; returns the report (also written under `results_dir`). Every process it started is
    stopped before it returns or raises."""
    import numpy as np

    from koabus.services.sim.store import SimStore

    root = Path(tempfile.mkdtemp(prefix=f"koabus-soak-{cfg.label}-"))
    soak = Soak(cfg, root)
    wall_started = time.monotonic()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report: Dict[str, Any] = {"config": {**asdict(cfg), "day_wall_s": round(cfg.day_wall_s, 1)}, "run_dir": str(root),
                              "started_utc": stamp}
    consumer_results: List[Dict[str, Any]] = []
    try:
        soak.start()
        report["startup_s"] = round(time.monotonic() - wall_started, 2)
        soak.run_day()
        statuses, history = soak.order_statuses()
        final_status = soak.req.call("status", None, 5)[1]
        consumer_results = [c.finish() for c in soak.consumers]
        peaks = dict(soak.rss.peak_mb)
        final_pids = soak.stack.pids()
    finally:
        soak.rss.stop()
        soak.hb.stop()
        for c in soak.consumers:
            if c.proc.poll() is None:
                c.resume()
                c.proc.kill()
                c.proc.wait(5)
        if soak.req is not None:
            soak.req.close()
        soak.stack.stop()
    # the checks, on what the stopped stack left (the recorder rolled its journal on SIGTERM)
    reference = []
    for i, summary in enumerate(consumer_results[:REFERENCE_CONSUMERS]):
        npz = Path(f"{soak.consumers[i].out}.npz")
        reference.append((summary, dict(np.load(npz, allow_pickle=False)) if npz.exists() else {}))
    lake = read_lake(soak.lay.lake)
    loss = loss_accounting(lake, reference)
    loss["gap_rows_list"] = lake["gaps"]
    inputs = SimStore(soak.lay.state / "sim").inputs()
    orders = order_accounting(soak.orders, statuses, history, inputs)
    recovery = {}
    for name in (*cfg.kill, *(["control"] if cfg.disconnect else [])):
        r = soak.recoveries.get(name, {"killed": False})
        recovery[name] = {k: v for k, v in r.items() if k not in ("killed_s",)}
        seconds = r.get("recovery_s")
        recovery[name]["within_target"] = seconds is not None and seconds < cfg.recovery_target_s
    rss = {s: {"peak_mb": round(peaks.get(s, 0.0), 1), "bound_mb": cfg.rss_bound_mb[s],
               "within_bound": 0 < peaks.get(s, 0.0) < cfg.rss_bound_mb[s]} for s in SERVICES}
    # the stalled consumer's catch-up after SIGCONT is no event rate of the bus: the others' peaks only
    rates = [c.get("peak_per_s", 0) for c in consumer_results[:-1] or consumer_results]
    report.update({
        "wall_s": round(time.monotonic() - wall_started, 1),
        "faults": soak.events,
        "storm": getattr(soak, "storm_result", None),
        "loss": {k: v for k, v in loss.items()},
        "orders": orders,
        "recovery": recovery,
        "rss": rss,
        "consumers": [{k: v for k, v in c.items() if k not in ("per_s", "topics", "epochs")} for c in consumer_results],
        # the simulated listing may hold fewer codes than asked for (336 today)
        "codes_registered": len(soak.codes),
        "peak_events_per_s": max(rates, default=0),
        # the stall held back nobody else: the other consumers saw every topic_seq in order
        "others_gapless_during_stall": all(c.get("gaps", 1) == 0 for c in consumer_results[:-1]),
        "broker": {"final_state": (final_status or {}).get("state") if isinstance(final_status, dict) else None,
                   "counters_day": {k: int(v) - int(soak.counters_before.get(k, 0))
                                    for k, v in soak.counters_after.items() if isinstance(v, (int, float))},
                   "outbox_dropped_peak": soak.status_peaks["outbox_dropped"]},
        "final_pids": final_pids,
    })
    report["checks"] = {
        "no_silent_loss": loss["silent_loss"] == 0 and loss["seen"] > 0,
        "no_duplicates": loss["duplicates"] == 0,
        "exactly_one_send_order": orders["exactly_one_send_order"] and bool(orders["orders"]),
        "orders_match_exchange": orders["all_match_exchange"],
        "every_service_recovered": all(r.get("recovered") for r in recovery.values()),
        "recovery_within_target": all(r["within_target"] for r in recovery.values()),
        "rss_within_bound": all(r["within_bound"] for r in rss.values()),
    }
    name = f"soak-{cfg.label}-{stamp}"
    report["files"] = [str(results_dir / f"{name}.json"), str(results_dir / f"{name}.md")]
    write_report(report, results_dir, name)
    if not keep_dir:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return report


def write_report(report: Dict[str, Any], results_dir: Path, name: str) -> Tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = results_dir / f"{name}.json", results_dir / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    cfg, loss = report["config"], report["loss"]
    lines = [f"# Soak {cfg['label']} {report['started_utc']}", "",
             f"{report.get('codes_registered', '-')} of {cfg['codes']} codes registered, speed {cfg['speed']:g}x ({cfg['day_start']} .. {cfg['day_end']}, "
             f"{cfg['day_wall_s']} s wall), {cfg['consumers']} consumers, seed {cfg['seed']}; "
             f"peak {report['peak_events_per_s']:,} rt events/s at one consumer; run {report['wall_s']} s", "",
             "| check | result |", "|---|---|"]
    lines += [f"| {k} | {'PASS' if v else 'FAIL'} |" for k, v in report["checks"].items()]
    storm = report.get("storm") or {}
    lines += ["", f"-200 storm: {storm.get('calls', '-')} quote TRs, {storm.get('overload_200', '-')} -200 returns; "
              f"consumers (the last one stalled {cfg['stall_s']} s): "
              + ", ".join(f"{c.get('received', 0):,} msgs / {c.get('gaps', '-')} gaps" for c in report["consumers"])]
    lines += ["", "| loss | value |", "|---|---|"]
    lines += [f"| {k} | {loss[k]} |" for k in ("seen", "recorded", "in_gap", "silent_loss", "duplicates",
                                               "lake_rows", "gap_rows")]
    lines += ["", "| service | recovery s | logged in s | peak RSS MB | bound MB |", "|---|---|---|---|---|"]
    for name in SERVICES + ("control",):
        r, m = report["recovery"].get(name, {}), report["rss"].get(name, {})
        lines.append(f"| {name} | {r.get('recovery_s', '-')} | {r.get('logged_in_s', '-')} | "
                     f"{m.get('peak_mb', '-')} | {m.get('bound_mb', '-')} |")
    lines += ["", "| order | SendOrders | state | filled | exchange filled | matches |", "|---|---|---|---|---|---|"]
    for o in report["orders"]["orders"]:
        lines.append(f"| {o['client_order_id']} | {o['send_orders']} | {o['state']} | {o['filled_qty']} | "
                     f"{o['exchange_filled_qty']} | {o['matches_exchange']} |")
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["consume"]:
        pub, out, keep, max_s = argv[1:5]
        return consume(pub, out, keep == "1", float(max_s))
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the shortened run of make test")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run dir (logs, lake, state)")
    args = parser.parse_args(argv)
    # `timeout` or a CI kill: unwind through run_soak's cleanup (supervisord shutdown, consumers killed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = short_config(args.seed) if args.short else SoakConfig(**({"seed": args.seed} if args.seed else {}))
    report = run_soak(cfg, keep_dir=args.keep)
    print(json.dumps(report["checks"], indent=1))
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
