"""Helpers for tests against the REAL broker on the simulated control: a broker subprocess that can be
killed and restarted on the same ports, and a TCP proxy that can cut a connection (to cause a gap)."""
from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from tests.helpers import free_tcp_port

REPO = Path(__file__).resolve().parents[3]
_RUNNER = (
    "import sys, logging\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    "router, pub, speed, start = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]\n"
    "sim = {'speed': speed, 'start': start}\n"
    "sys.exit(run(load_settings(None, {'router': router, 'pub': pub, 'sim': sim})))\n"
)


#: the simulated market starts at this virtual time (a Monday session, just after the open)
SIM_START = "2025-06-02T09:05:00+09:00"


class BrokerProcess:
    """`koabus` broker with `--backend sim` in a child process (its own Qt main thread)."""

    def __init__(self, speed: float = 20.0, router_port: Optional[int] = None, pub_port: Optional[int] = None,
                 start: str = SIM_START):
        self.speed = speed
        self.sim_start = start
        self.router = f"tcp://127.0.0.1:{router_port or free_tcp_port()}"
        self.pub = f"tcp://127.0.0.1:{pub_port or free_tcp_port()}"
        self.proc: Optional[subprocess.Popen] = None

    def start(self, ready_timeout_s: float = 30.0) -> BrokerProcess:
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, self.router, self.pub, str(self.speed),
                                      self.sim_start],
                                     cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.wait_ready(ready_timeout_s)
        return self

    def wait_ready(self, timeout_s: float) -> None:
        """Until the broker answers HELLO and its control is logged in."""
        from koabus.common.client import Client, ClientOptions

        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"broker exited: {self.proc.stderr.read().decode(errors='replace')[-2000:]}")
            try:
                with Client(self.router, self.pub, options=ClientOptions(connect_timeout_s=2, timeout_s=5)) as c:
                    if c.EnsureConnected() == 0:
                        return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.1)
        raise RuntimeError(f"broker not ready: {last}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        self.proc = None

    def kill(self) -> None:
        """Die without a goodbye (no ordered shutdown), as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)
            if self.proc.stderr is not None:
                self.proc.stderr.close()
            self.proc = None


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
