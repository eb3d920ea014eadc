"""Small test helpers shared across the suite: loopback ports and bounded Qt event pumping."""
from __future__ import annotations

import socket
import subprocess


def free_tcp_port() -> int:
    """A free port on 127.0.0.1 (bind to 0, read it back, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pump_until(app, predicate, timeout_s: float = 5.0, step_ms: int = 5) -> bool:
    """Run the Qt event loop until `predicate()` is true or `timeout_s` passes; returns the predicate."""
    import time

    from PyQt5.QtCore import QEventLoop

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        app.processEvents(QEventLoop.AllEvents, step_ms)
        time.sleep(0.0005)
    return bool(predicate())


def stop_process(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM (the ordered shutdown), then SIGKILL if it is still running after `grace_s`; reaped."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
