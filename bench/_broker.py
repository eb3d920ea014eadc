"""What the benchmarks share to run a broker of their own: the child process's code and a free port."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from typing import Any, Dict

#: `python -c BROKER_RUNNER '<settings JSON>'`: a broker (app.run) with these settings over the defaults
BROKER_RUNNER = (
    "import sys, json\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    "sys.exit(run(load_settings(None, json.loads(sys.argv[1]))))\n"
)


def reading_sub(ctx: Any, endpoint: str, *prefixes: bytes) -> Any:
    """A SUB that queues without bound (RCVHWM 0: a benchmark's reader must lose nothing of its own),
    linger 0, connected to `endpoint` and subscribed to `prefixes`."""
    import zmq

    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(endpoint)
    for prefix in prefixes:
        sub.setsockopt(zmq.SUBSCRIBE, prefix)
    return sub


def free_port() -> int:
    """A loopback TCP port free right now (the broker binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchBroker:
    """A broker child process on loopback with its own state directory; `settings` go over the
    defaults (router, pub and state_dir are this object's). `stop()` ends it and removes the state."""

    def __init__(self, settings: Dict[str, Any], prefix: str = "koabus-bench-"):
        self.router = f"tcp://127.0.0.1:{free_port()}"
        self.pub = f"tcp://127.0.0.1:{free_port()}"
        self.state_dir = tempfile.mkdtemp(prefix=prefix)
        overrides = {**settings, "router": self.router, "pub": self.pub, "state_dir": self.state_dir}
        self.proc = subprocess.Popen([sys.executable, "-c", BROKER_RUNNER, json.dumps(overrides)],
                                     env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        shutil.rmtree(self.state_dir, ignore_errors=True)
