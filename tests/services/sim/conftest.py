"""Fixtures for the simulator's own tests: a logged-in SimulatedControl on a frozen virtual clock."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

import pytest

from koabus.common.clock import KST
from koabus.services.sim.config import SimConfig
from koabus.services.sim.control import SimulatedControl
from tests.contract.conftest import Recorder, login

START = datetime(2024, 6, 14, 10, 0, 0, tzinfo=KST)


def make_control(qapp, **overrides) -> SimulatedControl:
    config = SimConfig(**{"speed": 0.0, "start_mode": "fixed", "start": START, **overrides})
    return SimulatedControl(config=config)


@pytest.fixture
def sim(qapp):
    control = make_control(qapp)
    login(qapp, control)
    yield control
    control.deleteLater()
    qapp.processEvents()


@pytest.fixture
def srec(sim):
    recorder = Recorder(sim)
    yield recorder
    recorder.close()


@contextmanager
def recorded_control(qapp, **overrides):
    """A logged-in control (`make_control` options) and a Recorder of its events; both closed after."""
    control = make_control(qapp, **overrides)
    login(qapp, control)
    recorder = Recorder(control)
    try:
        yield control, recorder
    finally:
        recorder.close()
        control.deleteLater()
        qapp.processEvents()


def pump(qapp, control, timeout_s: float = 5.0) -> None:
    from tests.helpers import pump_until

    pump_until(qapp, lambda: control.sim.pending_events == 0, timeout_s=timeout_s)
    qapp.processEvents()
