"""`hold_until_codes`: a load test's day starts once its load is registered, whatever the stack's start-up
took (the soak registers 500 codes before the 09:00 open burst on a loaded machine); a restart that
resumes a stored clock does not hold, as the simulated server's time ran on."""
from __future__ import annotations

from tests.contract.conftest import login
from tests.helpers import pump_until
from tests.services.sim.conftest import START, make_control

REG = "SetRealReg(QString, QString, QString, QString)"


def test_the_clock_holds_until_enough_codes_are_registered(qapp):
    control = make_control(qapp, speed=100.0, hold_until_codes=3)
    try:
        held_at = control.sim.clock.time()
        login(qapp, control)
        assert control.sim.clock.speed == 0.0 and control.sim.clock.time() == held_at
        assert held_at - START.timestamp() < 60  # held from (about) its start
        assert control.dynamicCall(REG, "1000", "005930;000660", "10", "0") == 0
        assert control.sim.clock.speed == 0.0
        assert control.dynamicCall(REG, "1001", "035420", "10", "0") == 0
        # registered: the wall timer's ticks build their streams (stream_build_ms) while the clock holds, then it runs
        assert pump_until(qapp, lambda: control.sim.clock.speed == 100.0, timeout_s=10)
        assert {"005930", "000660", "035420"} <= set(control._realtime._streams)
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_without_a_build_budget_the_hold_ends_at_the_registration(qapp):
    control = make_control(qapp, speed=100.0, hold_until_codes=2, stream_build_ms=0)
    try:
        login(qapp, control)
        assert control.sim.clock.speed == 0.0
        assert control.dynamicCall(REG, "1000", "005930;000660", "10", "0") == 0
        assert control.sim.clock.speed == 100.0
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_no_hold_by_default_nor_on_a_resumed_clock(qapp, tmp_path):
    control = make_control(qapp, speed=100.0)
    assert control.sim.clock.speed == 100.0
    control.deleteLater()
    first = make_control(qapp, speed=100.0, hold_until_codes=3, state_dir=str(tmp_path))
    assert first.sim.clock.speed == 0.0  # a fresh store: held
    first.sim.close()
    first.deleteLater()
    again = make_control(qapp, speed=100.0, hold_until_codes=3, state_dir=str(tmp_path))
    try:
        assert again.sim.clock.speed == 100.0  # the stored clock resumes and runs
    finally:
        again.sim.close()
        again.deleteLater()
        qapp.processEvents()
