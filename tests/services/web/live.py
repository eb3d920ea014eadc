"""The real web service in a child process (`koabus web --config FILE`) for tests against a sim broker.

Its config points every other-service endpoint at unused loopback ports, so a bars or alerting service
another test runs cannot leak into this one's page. Output goes to a log file in the test's tmp dir.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional

from tests.common.client.live import REPO
from tests.helpers import free_tcp_port, stop_process


class WebProcess:
    """`koabus web` on a free port of 127.0.0.1, talking to `router`/`pub`."""

    def __init__(self, router: str, pub: str, work_dir: Path, settings: Optional[Dict[str, Any]] = None):
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.config = work_dir / "web.yaml"
        self.log_path = work_dir / "web.log"
        config: Dict[str, Any] = {
            "router": router, "pub": pub, "port": self.port, "services": [],
            "bars": f"tcp://127.0.0.1:{free_tcp_port()}", "alerts": f"tcp://127.0.0.1:{free_tcp_port()}",
            "status": f"tcp://127.0.0.1:{free_tcp_port()}",
            "codes": ["005930", "000660", "035420", "005380", "035720"], "stale_after_s": 2.0,
            "health_interval_s": 0.5, "logging": {"level": "INFO"}}
        config.update(settings or {})
        self.config.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.proc: Optional[subprocess.Popen] = None

    def start(self, ready_timeout_s: float = 20.0) -> WebProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "koabus.common.cli.main", "web", "--config",
                                          str(self.config)], cwd=str(REPO), stdout=log, stderr=log)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"koabus web exited {self.proc.returncode}:\n{self.log_tail()}")
            health = self.health()
            if health is not None and health.get("link") == "ready":
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"koabus web not ready:\n{self.log_tail()}")

    def health(self) -> Optional[Dict[str, Any]]:
        try:
            with urllib.request.urlopen(self.url + "healthz", timeout=1) as response:
                return json.loads(response.read())
        except (OSError, ValueError):
            return None

    def log_tail(self, max_chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-max_chars:]
        except OSError as exc:
            return f"(no log: {exc})"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
