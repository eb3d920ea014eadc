"""A real broker subprocess (`app.run`, its own Qt main thread, signal handling) over a simulated KRX whose
listing can be widened to the size of the real one (`wide_listing`), with settings passed whole.

For the shutdown and long-operation stories: the test owns the process, sends it SIGTERM, and measures
how long it takes to exit. `stop()` always ends it (SIGKILL after a bound); the log goes to a file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
_RUNNER = (
    "import json, logging, sys\n"
    "opts = json.loads(sys.argv[1])\n"
    "logging.basicConfig(level=opts['log_level'], format='%(asctime)s %(levelname)s %(name)s: %(message)s')\n"
    "if opts['extra_codes']:\n"
    "    from tests.services.broker.wide_listing import widen_default_listing\n"
    "    widen_default_listing(opts['extra_codes'])\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import settings_from_dict\n"
    "sys.exit(run(settings_from_dict(opts['settings'])))\n"
)
SIM_START = "2025-06-02T09:05:00+09:00"


def _with_state_dirs(settings: Dict[str, Any], state_dir: Path) -> Dict[str, Any]:
    """Point every state directory the broker and the simulator know of at the test's own."""
    from koabus.services.broker.config import BrokerSettings
    from koabus.services.sim.config import SimConfig

    settings = json.loads(json.dumps(settings))
    if "state_dir" in {f.name for f in dataclasses.fields(BrokerSettings)}:
        settings.setdefault("state_dir", str(state_dir / "broker"))
    if "state_dir" in {f.name for f in dataclasses.fields(SimConfig)}:
        sim = settings.setdefault("sim", {})
        config = sim.setdefault("config", {}) or {}
        config.setdefault("state_dir", str(state_dir / "sim"))
        sim["config"] = config
    return settings


class BrokerProc:
    def __init__(self, tmp_path: Path, extra_codes: int = 0, log_level: str = "INFO", **settings: Any):
        self.router = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.pub = f"tcp://127.0.0.1:{free_tcp_port()}"
        base: Dict[str, Any] = {"router": self.router, "pub": self.pub,
                                "sim": {"speed": 0.0, "start": SIM_START}}
        for key, value in settings.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                base[key] = {**base[key], **value}
            else:
                base[key] = value
        self.settings = _with_state_dirs(base, Path(tmp_path) / "state")
        self.extra_codes = extra_codes
        self.log_level = log_level
        self.log_path = Path(tmp_path) / "broker.log"
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> BrokerProc:
        opts = {"settings": self.settings, "extra_codes": self.extra_codes, "log_level": self.log_level}
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, json.dumps(opts)], cwd=str(REPO),
                                         env=env, stdout=subprocess.DEVNULL, stderr=log)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def terminate_and_time(self, bound_s: float = 10.0) -> Optional[float]:
        """SIGTERM, then the seconds until the process exited (None if it was still running after bound_s)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(bound_s)
        except subprocess.TimeoutExpired:
            return None
        return time.monotonic() - started

    def stop(self) -> None:
        """Always ends the process: SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
