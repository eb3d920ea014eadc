"""The shutdown watchdog in a real process receiving real signals: a main thread that never gets back to its
event loop (the broker's Qt thread stuck in long work) still ends within the grace period after SIGTERM;
a second signal ends it at once; an ordered shutdown that finishes in time is left alone.

Each case runs a small child process that installs `ShutdownWatchdog` exactly as `app.run` does; the
test stops it in `finally` (SIGKILL).
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from tests.services.broker.broker_proc import REPO

_CHILD = (
    "import logging, sys, time\n"
    "logging.basicConfig(level='INFO', format='%(levelname)s %(name)s: %(message)s')\n"
    "from koabus.services.broker.shutdown import ShutdownWatchdog\n"
    "grace, mode = float(sys.argv[1]), sys.argv[2]\n"
    "asked = []\n"
    "watchdog = ShutdownWatchdog(grace)\n"
    "watchdog.install(lambda: asked.append(time.monotonic()))\n"
    "print('ready', flush=True)\n"
    "until = time.monotonic() + 60\n"
    "if mode == 'busy':  # never returns to an event loop, so the ordered stop never runs\n"
    "    while time.monotonic() < until:\n"
    "        sum(range(1000))\n"
    "else:  # 'orderly': stops as soon as asked\n"
    "    while not asked and time.monotonic() < until:\n"
    "        time.sleep(0.01)\n"
    "    watchdog.finished()\n"
    "    print('stopped in order', flush=True)\n"
    "    sys.exit(0)\n"
    "sys.exit(3)\n"
)


@pytest.fixture
def child():
    procs = []

    def start(grace_s: float, mode: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(grace_s), mode], cwd=str(REPO),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            if proc.stdout is not None:
                proc.stdout.close()


def _exit_within(proc: subprocess.Popen, bound_s: float):
    started = time.monotonic()
    try:
        proc.wait(bound_s)
    except subprocess.TimeoutExpired:
        return None, ""
    return time.monotonic() - started, proc.stdout.read()


def test_a_stuck_process_is_ended_by_the_watchdog_after_the_grace_period(child):
    proc = child(1.0, "busy")
    proc.send_signal(signal.SIGTERM)
    took, output = _exit_within(proc, 10.0)
    assert took is not None, "still running 10 s after SIGTERM"
    assert proc.returncode == 1
    assert took >= 0.9
    assert "did not finish within 1 s" in output and "os._exit(1)" in output, output


def test_a_second_signal_ends_it_at_once(child):
    proc = child(60.0, "busy")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None  # the first one only started the countdown
    proc.send_signal(signal.SIGINT)
    took, output = _exit_within(proc, 10.0)
    assert took is not None and proc.returncode == 1
    assert "again while stopping" in output, output


def test_an_ordered_shutdown_in_time_is_left_alone(child):
    proc = child(5.0, "orderly")
    proc.send_signal(signal.SIGTERM)
    took, output = _exit_within(proc, 10.0)
    assert took is not None and proc.returncode == 0, output
    assert "stopped in order" in output and "os._exit" not in output
