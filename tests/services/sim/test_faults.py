"""Fault injection through control.sim, asynchronous delivery, and the synthetic load mode."""
from __future__ import annotations

import time

import pytest

from koabus.services.sim.config import SimConfig
from tests.contract.conftest import Recorder, login
from tests.helpers import pump_until
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"


def test_connection_loss_then_silence_then_relogin(qapp, sim, srec):
    assert sim.dynamicCall(REG, "1000", "005930", "10", "0") == 0
    sim.sim.advance(30)
    pump(qapp, sim)
    assert srec.of("OnReceiveRealData")
    sim.sim.drop_connection()
    srec.clear()
    pump(qapp, sim)
    assert srec.names() == ["OnEventConnect"] and srec.events[0][1] == (-106,)
    assert sim.dynamicCall("GetConnectState()") == 0
    sim.sim.advance(60)
    pump(qapp, sim)
    assert srec.of("OnReceiveRealData") == []
    sim.dynamicCall("SetInputValue(QString, QString)", "종목코드", "005930")
    assert sim.dynamicCall("CommRqData(QString, QString, int, QString)", "rq", "opt10001", 0, "0101") < 0
    assert sim.dynamicCall("CommConnect()") == 0
    pump(qapp, sim)
    assert srec.of("OnEventConnect")[-1][1] == (0,)
    assert sim.dynamicCall("GetConnectState()") == 1


def test_login_failure_is_reported_once(qapp):
    control = make_control(qapp)
    rec = Recorder(control)
    try:
        control.sim.fail_next_login(-101)
        assert control.dynamicCall("CommConnect()") == 0
        pump(qapp, control)
        assert rec.of("OnEventConnect")[0][1] == (-101,)
        assert control.dynamicCall("GetConnectState()") == 0
        assert control.dynamicCall("CommConnect()") == 0
        pump(qapp, control)
        assert rec.of("OnEventConnect")[-1][1] == (0,)
    finally:
        rec.close()
        control.deleteLater()


def test_overflow_storm(qapp, sim):
    sim.sim.overflow_next(2)
    results = []
    for _ in range(3):
        sim.dynamicCall("SetInputValue(QString, QString)", "종목코드", "005930")
        results.append(sim.dynamicCall("CommRqData(QString, QString, int, QString)", "rq", "opt10001", 0, "0101"))
    assert results == [-200, -200, 0]


def test_delayed_events_arrive_later_in_order(qapp, sim, srec):
    sim.sim.delay_events(80)
    sim.dynamicCall("SetInputValue(QString, QString)", "종목코드", "005930")
    started = time.monotonic()
    assert sim.dynamicCall("CommRqData(QString, QString, int, QString)", "rq", "opt10001", 0, "0101") == 0
    qapp.processEvents()
    assert srec.events == []
    assert pump_until(qapp, lambda: len(srec.events) == 2, timeout_s=3)
    assert time.monotonic() - started >= 0.075
    assert srec.names() == ["OnReceiveTrData", "OnReceiveMsg"]


def test_tr_latency_holds_the_answer_while_realtime_flows(qapp):
    control = make_control(qapp, tr_latency_ms=150)
    login(qapp, control)
    rec = Recorder(control)
    try:
        assert control.dynamicCall(REG, "1000", "005930", "10", "0") == 0
        control.dynamicCall("SetInputValue(QString, QString)", "종목코드", "005930")
        started = time.monotonic()
        assert control.dynamicCall("CommRqData(QString, QString, int, QString)", "rq", "opt10001", 0, "0101") == 0
        control.sim.advance(30)  # trades posted after the request
        assert pump_until(qapp, lambda: "OnReceiveMsg" in rec.names(), timeout_s=3)
        names = rec.names()
        assert time.monotonic() - started >= 0.145
        # the trades came first: the answer waited beside the queue, not at its head
        assert "OnReceiveRealData" in names[:names.index("OnReceiveTrData")]
        assert names[names.index("OnReceiveTrData") + 1] == "OnReceiveMsg"
        # a session that ends while an answer is pending gets none
        rec.clear()
        assert control.dynamicCall("CommRqData(QString, QString, int, QString)", "rq2", "opt10001", 0, "0102") == 0
        control.sim.drop_connection()
        pump(qapp, control)
        time.sleep(0.2)
        pump(qapp, control)
        assert "OnReceiveTrData" not in rec.names()
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_a_negative_tr_latency_is_refused():
    with pytest.raises(ValueError, match="tr_latency_ms"):
        SimConfig(tr_latency_ms=-1)


def test_strict_window_can_drop_the_connection(qapp):
    from koabus.services.sim.config import LimitsConfig

    control = make_control(qapp, limits=LimitsConfig(tr_windows=((5, 1.0), (6, 60.0)),
                                                     disconnect_on_strict_overflow=True))
    from tests.contract.conftest import login

    login(qapp, control)
    rec = Recorder(control)
    try:
        codes = []
        for _ in range(7):
            control.sim.advance(1.5)
            control.dynamicCall("SetInputValue(QString, QString)", "종목코드", "005930")
            codes.append(control.dynamicCall("CommRqData(QString, QString, int, QString)", "rq", "opt10001", 0, "0101"))
        assert codes[:6] == [0] * 6 and codes[6] == -200
        pump(qapp, control)
        assert (-106,) in [e[1] for e in rec.of("OnEventConnect")]
        assert control.dynamicCall("GetConnectState()") == 0
    finally:
        rec.close()
        control.deleteLater()


def test_synthetic_rate_is_not_the_bottleneck(qapp):
    from tests.contract.conftest import login

    control = make_control(qapp, synthetic_rate_eps=20000.0, events_per_tick=100000)
    login(qapp, control)
    got = []
    control.OnReceiveRealData.connect(lambda code, name, data: got.append(code))
    try:
        codes = "005930;000660;035420;035720;005380"
        assert control.dynamicCall(REG, "1000", codes, "10", "0") == 0
        started = time.monotonic()
        for _ in range(5):
            control.sim.advance(1.0)
            pump(qapp, control)
        elapsed = time.monotonic() - started
        assert len(got) >= 5 * 20000
        assert len(got) / elapsed > 20000, f"{len(got) / elapsed:.0f} events/s"
    finally:
        control.deleteLater()
