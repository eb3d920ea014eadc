"""What the benchmarks share to run a broker of their own: the child process's code and a free port."""
from __future__ import annotations

import socket

#: `python -c BROKER_RUNNER '<settings JSON>'`: a broker (app.run) with these settings over the defaults
BROKER_RUNNER = (
    "import sys, json\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    "sys.exit(run(load_settings(None, json.loads(sys.argv[1]))))\n"
)


def free_port() -> int:
    """A loopback TCP port free right now (the broker binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
