"""One broker process per state_dir: a second one is refused with one line, and a replay keeps out of the
running stack's state by default. Real `koabus broker` subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from koabus.common.filelock import FileLock, FileLocked
from tests.helpers import free_tcp_port, stop_process

KOABUS = str(Path(sys.executable).parent / "koabus")
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def _broker(cwd: Path, *extra: str) -> subprocess.Popen:
    argv = [KOABUS, "broker", "--router", f"tcp://127.0.0.1:{free_tcp_port()}",
            "--pub", f"tcp://127.0.0.1:{free_tcp_port()}", *extra]
    return subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_locked(path: Path, pid: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            FileLock.acquire(str(path), write_pid=False).release()
        except FileLocked as exc:
            assert exc.pid == pid
            return
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"{path} was not locked by pid {pid} within {timeout_s} s")


def test_a_second_broker_on_the_same_state_dir_is_refused_with_one_line_naming_the_first(tmp_path):
    first = _broker(tmp_path, "--backend", "sim")
    try:
        _wait_locked(tmp_path / "var" / "state" / "broker.lock", first.pid)
        second = _broker(tmp_path, "--backend", "sim")
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 2, out
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1 and "var/state is in use by another broker" in lines[0], out
        assert f"pid {first.pid}" in lines[0]
        assert first.poll() is None  # the first one goes on
    finally:
        stop_process(first)


def test_a_replay_beside_the_stack_uses_its_own_state_dir(tmp_path):
    first = _broker(tmp_path, "--backend", "sim")
    try:
        _wait_locked(tmp_path / "var" / "state" / "broker.lock", first.pid)
        replay = _broker(tmp_path, "--backend", "replay", "--date", "2024-03-07", "--lake", str(tmp_path / "lake"))
        out, _ = replay.communicate(timeout=60)
        # it got past the state lock (var/state/replay) and stops on the missing recording instead
        assert replay.returncode == 2 and "no recorded realtime data for 2024-03-07" in out, out
        assert "in use by another broker" not in out
        assert (tmp_path / "var" / "state" / "replay" / "broker.lock").is_file()
    finally:
        stop_process(first)
