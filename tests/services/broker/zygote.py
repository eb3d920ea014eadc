"""Real broker processes that start in about a second, for tests that kill -9 and restart many times.

A broker's start is dominated by importing the simulator's market (numpy) and the metadata catalog. `BrokerZygote` is one helper process that does that once
and then, on request, `fork()`s a child that runs exactly what `koabus broker` runs
(`app.run(load_settings(...))`, its own Qt main thread, its own sockets and signal handlers). The
children are real, separate processes: `kill()` sends them SIGKILL and waits until they are gone;
`faults.crash_at` makes them SIGKILL themselves. Nothing Qt, ZeroMQ or thread-related exists in the
zygote before the fork. POSIX only (fork).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from tests.helpers import free_tcp_port

REPO = Path(__file__).resolve().parents[3]

_ZYGOTE = r'''
import json, os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel as they die
from koabus.metadata import catalog
catalog()
import koabus.services.broker.app, koabus.services.broker.config, koabus.services.sim.control
sys.stdout.write("ready\n"); sys.stdout.flush()
for line in sys.stdin:
    opts = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDWR)
        log = os.open(opts["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0); os.dup2(null, 1); os.dup2(log, 2)
        import logging
        logging.basicConfig(level=opts["log_level"], format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
        from koabus.services.broker.app import run
        from koabus.services.broker.config import load_settings
        try:
            code = run(load_settings(None, opts["settings"]))
        except BaseException:
            logging.exception("broker failed")
            code = 1
        sys.stderr.flush()
        os._exit(int(code or 0))
    sys.stdout.write(f"{pid}\n"); sys.stdout.flush()
'''


class BrokerZygote:
    """The warm helper process. `spawn(settings)` returns a running ForkedBroker; `close()` ends all."""

    def __init__(self, log_path: Path, ready_timeout_s: float = 120.0):
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], cwd=str(REPO), env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        self.children: list = []
        try:
            self._expect("ready", ready_timeout_s)
        except BaseException:
            self.close()
            raise

    def _expect(self, what: str, timeout_s: float) -> str:
        import select

        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line or (what and line != what):
            raise RuntimeError(f"broker zygote did not answer {what or 'a pid'!r} (got {line!r}); "
                               f"log {self.log_path}:\n{_tail(self.log_path)}")
        return line

    def spawn(self, settings: Dict[str, Any], log_level: str = "WARNING") -> ForkedBroker:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"settings": settings, "log": str(self.log_path),
                                          "log_level": log_level}) + "\n")
        self.proc.stdin.flush()
        child = ForkedBroker(int(self._expect("", 10.0)), self.log_path)
        self.children.append(child)
        return child

    def close(self) -> None:
        for child in self.children:
            child.kill()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()


class ForkedBroker:
    """One broker process forked by the zygote (not our child: liveness is probed with signal 0)."""

    def __init__(self, pid: int, log_path: Path):
        self.pid = pid
        self.log_path = log_path

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def wait_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.01)
        return not self.alive()

    def kill(self) -> None:
        """`kill -9` and wait until the process is gone."""
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            if not self.wait_gone(10.0):
                raise RuntimeError(f"broker {self.pid} survived SIGKILL")


def ports() -> Dict[str, str]:
    return {"router": f"tcp://127.0.0.1:{free_tcp_port()}", "pub": f"tcp://127.0.0.1:{free_tcp_port()}"}


def _tail(path: Path, max_chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-max_chars:]
    except OSError as exc:
        return f"(no log: {exc})"


def log_tail(path: Path, max_chars: int = 3000) -> str:
    return _tail(path, max_chars)


def wait_ready(app, router: str, timeout_s: float = 30.0, child: Optional[ForkedBroker] = None) -> None:
    """Until the broker at `router` answers `login` (its control is logged in)."""
    from tests.services.broker.bus import BusClient

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None and not child.alive():
            raise RuntimeError(f"broker {child.pid} exited:\n{_tail(child.log_path)}")
        probe = BusClient(app, router, None, "probe")
        try:
            rid = probe.send("login", {})
            probe.wait_for(lambda p=probe, r=rid: bool(p.messages_for(r)),
                           min(2.0, max(0.1, deadline - time.monotonic())))
            answers = probe.messages_for(rid)
            if answers and answers[-1].TYPE == "REPLY":
                return
        finally:
            probe.close()
    raise RuntimeError(f"broker at {router} not ready in {timeout_s} s")
