"""Fixtures for broker tests: a simulated control on a frozen virtual clock and a running broker.

The broker's Qt half runs in the test thread (pumped by BusClient with bounded loops), its I/O
thread in the background; both are stopped by the fixture. Every broker gets its own temporary
state directory (its order journal), removed when the stack closes, unless a test passes `state_dir`.
"""
from __future__ import annotations

import shutil
import tempfile
from datetime import datetime

import pytest

from koabus.common.clock import KST
from tests.services.broker.bus import BusClient

# a Wednesday during the regular session
SESSION_START = datetime(2024, 3, 6, 10, 0, 0, tzinfo=KST)
#: the documented 5/s rule plus an hourly budget: tests step the frozen clock in small increments and
#: would wait 18 s per five TRs under the real-server default (KIWOOM_TR_WINDOWS, tested on its own in
#: test_e2e_pacing.py and test_pacing.py); a test passes `pacing={"tr_windows": ...}` to use others
FAST_TR_WINDOWS = ((5, 1.0), (1000, 3600.0))


def make_sim(speed: float = 0.0, **options):
    from koabus.services.sim.config import SimConfig
    from koabus.services.sim.control import SimulatedControl

    return SimulatedControl(SimConfig(speed=speed, start_mode="fixed", start=SESSION_START, **options))


IN_PROCESS_MAX_RSS_MB = 16_384


def make_broker(control, clock, **overrides):
    """A Broker over `control`; without `state_dir` in `overrides` it journals into a fresh temporary
    directory (`broker.test_state_dir`, for the caller to remove), never into the repository's var/."""
    from koabus.services.broker.app import Broker
    from koabus.services.broker.config import settings_from_dict

    owned = None
    if "state_dir" not in overrides:
        owned = tempfile.mkdtemp(prefix="koabus-state-")
    data = {"router": "tcp://127.0.0.1:*", "pub": "tcp://127.0.0.1:*", "state_dir": owned,
            "pacing": {"tr_windows": [list(w) for w in FAST_TR_WINDOWS]},
            "supervision": {"probe_interval_s": 0.5, "relogin_backoff_s": [0.5, 1.0]},
            # an in-process broker would watch the whole test session's RSS (pyarrow, DuckDB, pandas and
            # every earlier test): the memory bound is tested with broker subprocesses or set explicitly
            "limits": {"max_rss_mb": IN_PROCESS_MAX_RSS_MB}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    try:
        broker = Broker(settings_from_dict(data), control, clock)
    except BaseException:
        if owned is not None:
            shutil.rmtree(owned, ignore_errors=True)
        raise
    broker.test_state_dir = owned
    return broker


class Stack:
    """A running broker over a simulated control, plus helpers to make clients."""

    def __init__(self, app, control, broker):
        self.app = app
        self.control = control
        self.broker = broker
        self.clients = []
        self.spy = None

    @property
    def sim(self):
        return self.control.sim

    def client(self, name: str = "test", pub: bool = True) -> BusClient:
        c = BusClient(self.app, self.broker.router_endpoint, self.broker.pub_endpoint if pub else None, name)
        self.clients.append(c)
        return c

    def advance(self, seconds: float, pump_s: float = 0.05) -> None:
        """Step the virtual clock, then run the Qt loop a little and read every client's sockets."""
        self.sim.advance(seconds)
        for c in self.clients:
            c.pump(pump_s / max(1, len(self.clients)))

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.broker.stop()
        owned = getattr(self.broker, "test_state_dir", None)
        if owned:
            shutil.rmtree(owned, ignore_errors=True)


def start_stack(qapp, sim_options=None, spy: bool = False, **overrides) -> Stack:
    """A logged-in broker over a fresh simulated control; `spy=True` wraps the control's dynamicCall
    first (`stack.spy`, a ControlSpy) so tests see and steer exactly what reaches the control."""
    from tests.services.broker.spy import ControlSpy

    control = make_sim(**(sim_options or {}))
    control_spy = ControlSpy(control, control.sim.clock) if spy else None
    broker = make_broker(control, control.sim.clock, **overrides)
    try:
        broker.start()
    except BaseException:
        if broker.test_state_dir:
            shutil.rmtree(broker.test_state_dir, ignore_errors=True)
        raise
    stack = Stack(qapp, control, broker)
    stack.spy = control_spy
    probe = stack.client("fixture")
    assert probe.wait_for(lambda: broker.core.connected, 5.0), "the broker did not log in"
    return stack


@pytest.fixture
def stack(qapp):
    s = start_stack(qapp)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def spied(qapp):
    """A running stack whose control is wrapped by a ControlSpy (`stack.spy`)."""
    s = start_stack(qapp, spy=True)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def broker_zygote(tmp_path_factory):
    """Forks real broker processes that start in about a second (zygote.py); every child is killed at
    the end. POSIX only."""
    import sys

    if not hasattr(__import__("os"), "fork") or sys.platform == "win32":
        pytest.skip("the broker zygote needs fork()")
    from tests.services.broker.zygote import BrokerZygote

    zygote = BrokerZygote(tmp_path_factory.mktemp("zygote") / "brokers.log")
    try:
        yield zygote
    finally:
        zygote.close()
