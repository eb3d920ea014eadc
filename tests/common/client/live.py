"""Helpers for tests against the REAL broker on the simulated control: a broker subprocess that can be
killed and restarted on the same ports and the same state (the broker's journal and the simulated
server's accounts, orders and fills under `state_dir`), and a TCP proxy that can cut a connection (to
cause a gap).

The broker's stderr goes to a log file (in the test's tmp dir when the fixture gives one), never to an
undrained pipe, which would block the broker once ~64 KB of log piled up. A conftest that imports
`pytest_runtest_makereport` from here adds the tail of every running broker's log to a failed test's
report.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
_RUNNER = (
    "import json, sys, logging\n"
    "logging.basicConfig(level=sys.argv[5])\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    "router, pub, speed, start = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]\n"
    "sim = {'speed': speed, 'start': start, 'config': {'market_config': {'trade_intensity': 0.1}}}\n"
    "overrides = {'router': router, 'pub': pub, 'sim': sim, 'state_dir': sys.argv[6]}\n"
    "def merge(into, more):\n"
    "    for k, v in more.items():\n"
    "        into[k] = merge(dict(into[k]), v) if isinstance(v, dict) and isinstance(into.get(k), dict) else v\n"
    "    return into\n"
    "merge(overrides, json.loads(sys.argv[7]) if len(sys.argv) > 7 else {})\n"
    "sys.exit(run(load_settings(None, overrides)))\n"
)
# trade_intensity 0.1 above: a tenth of the realistic market. These brokers test the SDK, the CLI and
# the services, not the market's volume, and a quote of every code on the realistic market cost the
# broker ~1.2 GB and a stall of over 3 s (tests/services/sim covers the realistic rate).


#: the simulated market starts at this virtual time (a Monday session, just after the open)
SIM_START = "2025-06-02T09:05:00+09:00"


class BrokerProcess:
    """`koabus` broker with `--backend sim` in a child process (its own Qt main thread).

    stderr is appended to `log_path` (default: a fresh file in the system temp dir); `log_tail()` reads
    its end for failure reports. `state_dir` is the broker's settings `state_dir` (its journal, and the
    simulated server's state in `state_dir/sim`): by default a fresh directory per object next to the
    log, kept when the same object is stopped or killed and started again (a restart finds its
    accounts, orders and fills), removed by `remove_state()` or when the object is collected.
    """

    _running: weakref.WeakSet[BrokerProcess] = weakref.WeakSet()

    def __init__(self, speed: float = 20.0, router_port: Optional[int] = None, pub_port: Optional[int] = None,
                 start: str = SIM_START, log_path: Optional[Path] = None, log_level: str = "WARNING",
                 state_dir: Optional[Path] = None, settings: Optional[Dict[str, Any]] = None):
        #: more broker settings, merged into the defaults above key by key (nested mappings or dotted keys,
        #: e.g. {"faults": {"crash_at": ...}}; {"sim": {"config": {...}}} keeps the sim's speed and intensity)
        self.settings: Dict[str, Any] = dict(settings or {})
        self.speed = speed
        self.log_level = log_level
        self.sim_start = start
        self.router = f"tcp://127.0.0.1:{router_port or free_tcp_port()}"
        self.pub = f"tcp://127.0.0.1:{pub_port or free_tcp_port()}"
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix="koabus-broker-")) / "broker.log"
        self.log_path = Path(log_path)
        if state_dir is None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            state_dir = Path(tempfile.mkdtemp(prefix="state-", dir=self.log_path.parent))
            self._remove = weakref.finalize(self, shutil.rmtree, str(state_dir), True)
        else:
            self._remove = None
        self.state_dir = Path(state_dir)
        self.proc: Optional[subprocess.Popen] = None

    @property
    def sim_state_dir(self) -> Path:
        """Where the simulated server keeps its state (read it with koabus.services.sim.store.SimStore)."""
        return self.state_dir / "sim"

    def remove_state(self) -> None:
        """Delete the state directory this object made (stop the broker first)."""
        if self._remove is not None:
            self._remove()

    @classmethod
    def running(cls) -> Iterator[BrokerProcess]:
        return iter([b for b in list(cls._running) if b.proc is not None])

    def start(self, ready_timeout_s: float = 30.0) -> BrokerProcess:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, self.router, self.pub, str(self.speed),
                                          self.sim_start, self.log_level, str(self.state_dir),
                                          json.dumps(self.settings)],
                                         cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=log)
        BrokerProcess._running.add(self)
        try:
            self.wait_ready(ready_timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def log_tail(self, max_chars: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - max_chars))
                return log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(no broker log: {exc})"

    def wait_ready(self, timeout_s: float) -> None:
        """Until the broker answers HELLO and its control is logged in."""
        from koabus.common.client import Client, ClientOptions

        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"broker exited ({self.log_path}):\n{self.log_tail(2000)}")
            try:
                with Client(self.router, self.pub, options=ClientOptions(connect_timeout_s=2, timeout_s=5)) as c:
                    if c.EnsureConnected() == 0:
                        return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"broker not ready: {last} ({self.log_path}):\n{self.log_tail(2000)}")

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def kill(self) -> None:
        """Die without a goodbye (no ordered shutdown), as a crash would."""
        self.kill9()

    def kill9(self) -> None:
        """`kill -9`: SIGKILL (TerminateProcess on Windows) and wait until the process is gone."""
        if self.proc is not None:
            if hasattr(signal, "SIGKILL"):
                self.proc.send_signal(signal.SIGKILL)  # a no-op once the process was reaped
            else:  # pragma: no cover - Windows
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Add the tail of each running broker's log to a failed test's report (import into a conftest)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for broker in BrokerProcess.running():
            report.sections.append((f"broker log tail ({broker.log_path})", broker.log_tail()))


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target port; `cut(hold_s)` drops every connection and refuses new
    ones for `hold_s`, so a ZeroMQ SUB behind it loses what is published meanwhile."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self._pairs: List[tuple] = []
        self._lock = threading.Lock()
        self._hold_until = 0.0
        self._stop = threading.Event()
        self.cuts = 0
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()

    def cut(self, hold_s: float = 0.5) -> None:
        with self._lock:
            self._hold_until = time.monotonic() + hold_s
            for a, b in self._pairs:
                for s in (a, b):
                    try:
                        s.close()
                    except OSError:
                        pass
            self._pairs.clear()
            self.cuts += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()
        self.cut(0)

    def _main(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                socks = [self.listener] + [s for pair in self._pairs for s in pair]
            try:
                readable, _, _ = select.select(socks, [], [], 0.05)
            except (OSError, ValueError):
                continue
            for sock in readable:
                if sock is self.listener:
                    conn, _ = self.listener.accept()
                    if time.monotonic() < self._hold_until:
                        conn.close()
                        continue
                    try:
                        upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
                    except OSError:
                        conn.close()
                        continue
                    with self._lock:
                        self._pairs.append((conn, upstream))
                    continue
                self._forward(sock)

    def _forward(self, sock: socket.socket) -> None:
        with self._lock:
            pair = next((p for p in self._pairs if sock in p), None)
        if pair is None:
            return
        other = pair[1] if sock is pair[0] else pair[0]
        try:
            data = sock.recv(65536)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for s in pair:
            try:
                s.close()
            except OSError:
                pass
