"""The processes of a soak run: supervisord and its services, consumers, heartbeats, RSS samples."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import zmq

from .config import BIN, REPO, SERVICES, Layout, SoakConfig, write_configs


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
def consume(pub: str, out: str, keep_keys: bool, max_s: float, positional: bool = False) -> int:
    """A consumer process: SUB on `rt.` until SIGTERM (or `max_s`); counts, topic_seq gaps per epoch,
    events per wall second; with `keep_keys` every (epoch, seq, topic, topic_seq) into `out`.npz.
    `positional`: SUB on `rtp.` instead, each positional batch's events counted as if they came alone
    (docs/protocol.md §4.4), so the soak's loss check covers the batch path too."""
    import msgpack
    import numpy as np

    halt = []
    signal.signal(signal.SIGTERM, lambda *_: halt.append(1))
    sock = zmq.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"rtp." if positional else b"rt.")
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
            try:
                if positional:
                    events = [(item[0].encode("ascii"), *item[1][2:5]) for item in msgpack.unpackb(frames[2])["events"]]
                else:
                    events = [(frames[0], *msgpack.unpackb(frames[1])[2:5])]
            except Exception:  # malformed: skipped
                continue
            sec = int(time.time())
            for topic, epoch, seq, topic_seq in events:
                received += 1
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
    summary = {"received": received, "gaps": gaps, "gap_messages": gap_msgs, "positional": positional,
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

    def __init__(self, pub: str, out: Path, keep_keys: bool, max_s: float, log: Path, positional: bool = False):
        self.out = out
        self.positional = positional
        with open(log, "ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.soak", "consume", pub, str(out), "1" if keep_keys else "0",
                 str(max_s)] + (["positional"] if positional else []), cwd=str(REPO), stdout=fh, stderr=fh,
                start_new_session=True)
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
