"""The simulated control lists and searches the conditions its configuration names."""
from __future__ import annotations

from tests.contract.conftest import Recorder, login

from .conftest import make_control, pump

CONDITIONS = [{"index": 5, "name": "대형 저평가 우량주", "formula": "market_cap >= 5e12 and pbr < 1.0"},
              {"index": 9, "name": "내 조건", "formula": "price > 0 and volume > 0", "rank": "rate", "limit": 4}]


def test_configured_conditions_are_listed_and_searched(qapp):
    control = make_control(qapp, conditions=CONDITIONS)
    login(qapp, control)
    recorder = Recorder(control)
    try:
        assert control.dynamicCall("GetConditionLoad()") == 1
        pump(qapp, control)
        assert control.dynamicCall("GetConditionNameList()") == "005^대형 저평가 우량주;009^내 조건;"
        assert control.dynamicCall("SendCondition(QString, QString, int, int)", "9002", "내 조건", 9, 0) == 1
        pump(qapp, control)
        codes = [c for c in recorder.of("OnReceiveTrCondition")[0][1][1].split(";") if c]
        assert len(codes) == 4 and set(codes) == set(control.sim.world.evaluate_condition(9, control.sim.clock.time()))
    finally:
        recorder.close()
        control.deleteLater()
        qapp.processEvents()
