"""Fixtures of the contract suite: one control (simulated by default, the real OCX with --real-ocx),
an event recorder, and a clearly separated `stepper` for virtual-time stepping and fault injection.

The tests drive the control only through `dynamicCall` and its signals. Only `stepper` touches
`control.sim`; on the real control it waits on the wall clock instead, and fault-injection tests
skip.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, List, Tuple

import pytest

from koabus.common.clock import KST
from tests.helpers import pump_until

EVENT_NAMES = ("OnReceiveTrData", "OnReceiveRealData", "OnReceiveMsg", "OnReceiveChejanData",
               "OnEventConnect", "OnReceiveInvestRealData", "OnReceiveRealCondition",
               "OnReceiveTrCondition", "OnReceiveConditionVer")
# A regular session at 10:00 KST: the simulated market is trading.
SIM_START = datetime(2024, 6, 14, 10, 0, 0, tzinfo=KST)


def pytest_addoption(parser):
    parser.addoption("--real-ocx", action="store_true", default=False,
                     help="run tests/contract against the real KHOpenAPI control (Windows, 32-bit, logged-in mock account)")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """With --real-ocx every contract test is marked real_ocx (so `-m real_ocx --real-ocx` selects
    the suite); without it nothing is marked and the suite runs on the simulator in `make test`."""
    if not config.getoption("--real-ocx"):
        return
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.real_ocx)


def use_real(request) -> bool:
    return bool(request.config.getoption("--real-ocx"))


class Recorder:
    """Connects to all nine signals and records (name, args, extra). `readers[name]` run inside the
    handler (the only place GetCommData/GetCommRealData/GetChejanData are valid) and their result is
    stored as `extra`."""

    def __init__(self, control):
        self.control = control
        self.events: List[Tuple[str, tuple, Any]] = []
        self.readers: dict = {}
        self._slots = []
        for name in EVENT_NAMES:
            slot = self._make_slot(name)
            getattr(control, name).connect(slot)
            self._slots.append((name, slot))

    def _make_slot(self, name: str) -> Callable:
        def slot(*args):
            reader = self.readers.get(name)
            extra = reader(*args) if reader is not None else None
            self.events.append((name, args, extra))
        return slot

    def call(self, signature: str, *args):
        return self.control.dynamicCall(signature, *args)

    def of(self, name: str) -> List[Tuple[str, tuple, Any]]:
        return [e for e in self.events if e[0] == name]

    def names(self) -> List[str]:
        return [e[0] for e in self.events]

    def clear(self) -> None:
        self.events.clear()

    def close(self) -> None:
        for name, slot in self._slots:
            try:
                getattr(self.control, name).disconnect(slot)
            except (TypeError, RuntimeError):
                pass


class Stepper:
    """Time stepping and fault injection: virtual time on the simulator, the wall clock on the real
    control (where fault injection is unavailable and the test skips)."""

    def __init__(self, app, control, real: bool):
        self.app = app
        self.control = control
        self.real = real

    def advance(self, seconds: float) -> None:
        if self.real:
            pump_until(self.app, lambda: False, timeout_s=seconds)
        else:
            self.control.sim.advance(seconds)
            self.pump()

    def pump(self, timeout_s: float = 2.0) -> None:
        if self.real:
            pump_until(self.app, lambda: False, timeout_s=min(timeout_s, 0.5))
            return
        sim = self.control.sim
        pump_until(self.app, lambda: sim.pending_events == 0, timeout_s=timeout_s)
        self.app.processEvents()

    def wait(self, predicate, timeout_s: float = 5.0) -> bool:
        return pump_until(self.app, predicate, timeout_s=timeout_s if self.real else min(timeout_s, 5.0))

    def until(self, predicate, seconds: int = 30) -> bool:
        """Let time pass a second at a time until `predicate` holds (virtual seconds on the
        simulator, wall seconds on the real control); bounded by `seconds`."""
        for _ in range(seconds):
            if self.wait(predicate, timeout_s=0.2):
                return True
            self.advance(1.0)
        return bool(predicate())

    def harness(self):
        if self.real:
            pytest.skip("fault injection exists only on the simulated control")
        return self.control.sim


def _build_real_control(app):
    if sys.platform != "win32":
        pytest.skip("the real KHOpenAPI control needs Windows (32-bit Python, PyQt5)")
    from PyQt5.QAxContainer import QAxWidget  # noqa: PLC0415 (Windows only)

    return QAxWidget("KHOPENAPI.KHOpenAPICtrl.1")


def _build_sim_control(**overrides):
    from koabus.services.sim.config import SimConfig  # noqa: PLC0415
    from koabus.services.sim.control import SimulatedControl  # noqa: PLC0415

    config = SimConfig(speed=0.0, start_mode="fixed", start=SIM_START, **overrides)
    return SimulatedControl(config=config)


_REAL: dict = {}


@pytest.fixture
def fresh_control(qapp, request):
    """A control that has not logged in: a new simulator per test. The real OCX lives once per
    process, so on it only the first test asking for a fresh control gets one (run
    test_session.py first), later ones skip."""
    if use_real(request):
        if "control" in _REAL:
            pytest.skip("the real control is already logged in in this process")
        _REAL["control"] = _build_real_control(qapp)
        yield _REAL["control"]
        return
    control = _build_sim_control()
    yield control
    control.deleteLater()
    qapp.processEvents()


def login(app, control, timeout_s: float = 60.0) -> None:
    results: List[int] = []
    control.OnEventConnect.connect(results.append)
    try:
        assert control.dynamicCall("CommConnect()") == 0
        assert pump_until(app, lambda: bool(results), timeout_s=timeout_s), "no OnEventConnect"
        assert results[0] == 0
    finally:
        control.OnEventConnect.disconnect(results.append)


@pytest.fixture
def control(qapp, request):
    """A logged-in control (a new simulator per test; the one real OCX of the process)."""
    if use_real(request):
        if "control" not in _REAL:
            _REAL["control"] = _build_real_control(qapp)
        real_control = _REAL["control"]
        if real_control.dynamicCall("GetConnectState()") != 1:
            login(qapp, real_control)
        yield real_control
        return
    sim_control = _build_sim_control()
    login(qapp, sim_control)
    yield sim_control
    sim_control.deleteLater()
    qapp.processEvents()


@pytest.fixture
def rec(control):
    recorder = Recorder(control)
    yield recorder
    recorder.close()


@pytest.fixture
def stepper(qapp, control, request):
    return Stepper(qapp, control, use_real(request))


@pytest.fixture
def real(request) -> bool:
    return use_real(request)


@pytest.fixture(scope="session")
def traces(shared_reference):
    """The recorded real events (../shared/reference/recorded-traces), read-only."""
    path = shared_reference / "recorded-traces" / "mock-server-2022-01-18.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)["traces"]


@pytest.fixture
def account(control) -> str:
    accounts = [a for a in control.dynamicCall("GetLoginInfo(QString)", "ACCNO").split(";") if a]
    return accounts[0]


