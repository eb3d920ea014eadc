"""A real supervisord from the venv in a temp dir, with its own config, ports and state (never var/ or 5570/5571).

`Stack.koabus(...)` runs the `koabus` command as a user would; `close()` always shuts supervisor down and
kills whatever is left of it and its children.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from tests.helpers import free_tcp_port

BIN = Path(sys.executable).parent
SIM_START = "2025-06-02T09:05:00+09:00"

CONF = """\
[unix_http_server]
file = %(here)s/run/supervisor.sock
chmod = 0700

[supervisord]
logfile = %(here)s/log/supervisord.log
pidfile = %(here)s/run/supervisord.pid
childlogdir = %(here)s/log
directory = %(here)s
nodaemon = false

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://%(here)s/run/supervisor.sock

[program:broker]
command = {command}
directory = %(here)s
environment = QT_QPA_PLATFORM="offscreen"
autostart = true
autorestart = true
startsecs = 1
startretries = 5
stopsignal = TERM
stopwaitsecs = 15
redirect_stderr = true
stdout_logfile = %(here)s/log/broker.log
"""

BROKER_YAML = """\
router: {router}
pub: {pub}
state_dir: {state}
sim:
  speed: 0.0
  start: "{start}"
"""


class Stack:
    def __init__(self, root: Path, command: str = ""):
        self.root = root
        self.router = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.pub = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.conf = root / "supervisord.conf"
        command = command or f"{BIN / 'koabus'} broker --backend sim --config %(here)s/broker.yaml"
        self.conf.write_text(CONF.format(command=command), encoding="utf-8")
        (root / "broker.yaml").write_text(
            BROKER_YAML.format(router=self.router, pub=self.pub, state=root / "state", start=SIM_START),
            encoding="utf-8")

    def koabus(self, *args: str, timeout_s: float = 90.0, endpoints: bool = True) -> subprocess.CompletedProcess:
        argv = [str(BIN / "koabus"), *args, "--config", str(self.conf)]
        if endpoints:
            argv += ["--router", self.router, "--pub", self.pub]
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env, cwd=self.root)

    def supervisord_pid(self) -> Optional[int]:
        try:
            return int((self.root / "run" / "supervisord.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def children(self) -> List[int]:
        pid = self.supervisord_pid()
        if pid is None:
            return []
        try:
            raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in raw.split()]

    def close(self) -> None:
        pid = self.supervisord_pid()
        children = self.children()
        try:
            self.koabus("down", "--timeout", "20", endpoints=False, timeout_s=30)
        except subprocess.TimeoutExpired:
            pass
        for p in [*children, pid]:
            if p is None:
                continue
            for _ in range(50):  # bounded: 5 s, then SIGKILL
                if not _alive(p):
                    break
                time.sleep(0.1)
            else:
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False
