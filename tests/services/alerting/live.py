"""Helpers for alerting service tests: the service in a thread of this process (its own asyncio loop, as
`run` has it) or as a `koabus alerting` subprocess, and a plain SUB on its PUB that keeps what it says."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml
import zmq

from koabus.common.protocol import Publication
from koabus.services.alerting.app import AlertingService
from koabus.services.alerting.config import settings_from_dict
from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
_RUNNER = "import sys\nfrom koabus.common.cli.main import main\nsys.exit(main())\n"


def service_settings(broker: Any, rules: Path, status: str, **extra: Any) -> Dict[str, Any]:
    base: Dict[str, Any] = {"router": broker.router, "pub": broker.pub, "status": status, "rules": str(rules),
                            "heartbeat_ms": 200, "reload_check_s": 0.2, "watch_services": [],
                            "delivery": {"backoff_s": 0.05, "max_backoff_s": 0.2, "stop_timeout_s": 2.0}}
    base.update(extra)
    return base


class ServiceThread:
    """An AlertingService on its own asyncio loop in a daemon thread; `stop()` sets its stop event."""

    def __init__(self, settings: Dict[str, Any], notifiers: Optional[Dict[str, Any]] = None):
        self.settings = settings_from_dict(settings)
        self.service = AlertingService(self.settings, notifiers=notifiers)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.stop_event: Optional[asyncio.Event] = None
        self.reload_event: Optional[asyncio.Event] = None
        self.rc: Optional[int] = None
        self.error: Optional[BaseException] = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        async def main() -> int:
            self.loop = asyncio.get_event_loop()
            self.stop_event, self.reload_event = asyncio.Event(), asyncio.Event()
            self._ready.set()
            return await self.service.run(self.stop_event, self.reload_event)

        try:
            self.rc = asyncio.run(main())
        except BaseException as exc:  # reported by stop()
            self.error = exc
            self._ready.set()

    def start(self) -> ServiceThread:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def sighup(self) -> None:
        self.loop.call_soon_threadsafe(self.reload_event.set)

    def stop(self, timeout_s: float = 15.0) -> Optional[int]:
        if self.loop is not None and self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the alerting service did not stop"
        if self.error is not None:
            raise self.error
        return self.rc


class ServiceProcess:
    """`koabus alerting` in a child process; stderr and stdout go to `log_path`."""

    def __init__(self, settings: Dict[str, Any], log_path: Path):
        self.status = settings["status"]
        self.log_path = Path(log_path)
        self.config = self.log_path.with_suffix(".yaml")
        self.config.write_text(yaml.safe_dump(settings, allow_unicode=True))
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> ServiceProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, "alerting", "--config", str(self.config)],
                                         cwd=str(REPO), stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        return self

    def stop(self, grace_s: float = 20.0) -> Optional[int]:
        if self.proc is None:
            return None
        stop_process(self.proc, grace_s)
        rc, self.proc = self.proc.returncode, None
        return rc

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Listener:
    """A SUB on the alerting PUB: alerts (`alert.`) and its heartbeats (`sys.hb.alerting`)."""

    def __init__(self, endpoint: str):
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        for prefix in (b"alert.", b"sys.hb.alerting"):
            self.sub.setsockopt(zmq.SUBSCRIBE, prefix)
        self.sub.connect(endpoint)
        self.alerts: List[Publication] = []
        self.beats: List[Dict[str, Any]] = []

    def pump(self, timeout_ms: int = 100) -> None:
        if self.sub.poll(timeout_ms):
            pub = Publication.from_frames(self.sub.recv_multipart())
            (self.alerts.append(pub) if pub.topic.startswith("alert.") else self.beats.append(pub.body))

    def wait_alert(self, predicate: Callable[[Publication], bool], timeout_s: float, what: str = "") -> Publication:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for pub in self.alerts:
                if predicate(pub):
                    return pub
            self.pump()
        raise AssertionError(f"no alert {what} within {timeout_s} s; seen: {[p.topic for p in self.alerts]}")

    def wait_beat(self, predicate: Callable[[Dict[str, Any]], bool], timeout_s: float) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        start = len(self.beats)
        while time.monotonic() < deadline:
            for body in self.beats[start:]:
                if predicate(body):
                    return body
            start = len(self.beats)
            self.pump()
        raise AssertionError(f"no heartbeat matched within {timeout_s} s; last: {self.beats[-1:] or None}")

    def close(self) -> None:
        self.sub.close(0)


def free_endpoint() -> str:
    return f"tcp://127.0.0.1:{free_tcp_port()}"


def write_rules(path: Path, text: str) -> None:
    """Write `text` and move the mtime forward, so a reload check sees the change on any filesystem."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    after = max(before + 1_000_000_000, path.stat().st_mtime_ns)
    os.utime(path, ns=(after, after))
