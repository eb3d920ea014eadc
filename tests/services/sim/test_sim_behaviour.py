"""Simulator behaviour beyond the OCX contract: consistency with the market, every core TR,
realtime conditions, fault orderings and the wall-clock timer mode."""
from __future__ import annotations

from datetime import datetime

import pytest

from koabus.common.clock import KST
from koabus.metadata import catalog
from tests.contract.conftest import Recorder, login
from tests.helpers import pump_until
from tests.services.sim.conftest import START, make_control, pump

SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
GET = "GetCommData(QString, QString, int, QString)"
SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"
ACCOUNT = "8000000011"


def _inputs(spec):
    fixed = {"종목코드": "005930", "계좌번호": ACCOUNT, "업종코드": "001", "비밀번호": "",
             "주문일자": START.strftime("%Y%m%d"), "시작일자": "20240601", "종료일자": START.strftime("%Y%m%d")}
    out = []
    for inp in spec.inputs:
        if inp.name in fixed:
            value = fixed[inp.name]
        elif inp.default is not None:
            value = inp.default
        elif "일자" in inp.name:
            value = START.strftime("%Y%m%d")
        else:
            value = ""
        out.append((inp.name, value))
    return out


@pytest.mark.parametrize("code", [c for c in catalog().tr_codes() if c != "optkwfid"])
def test_every_core_tr_answers(qapp, sim, srec, code):
    spec = catalog().tr(code)
    for name, value in _inputs(spec):
        sim.dynamicCall(SET, name, value)
    assert sim.dynamicCall(RQ, "rq", code, 0, "0101") == 0
    assert pump_until(qapp, lambda: srec.of("OnReceiveTrData"), timeout_s=5)
    args = srec.of("OnReceiveTrData")[0][1]
    assert args[:4] == ("0101", "rq", code, "") and args[4] in ("0", "2")


def test_opt10001_price_is_the_last_trade(qapp, sim, srec):
    sim.dynamicCall("SetRealReg(QString, QString, QString, QString)", "1000", "005930", "10", "0")
    sim.sim.advance(120)
    pump(qapp, sim)
    trades = [e for e in srec.of("OnReceiveRealData") if e[1][1] == "주식체결"]
    assert trades
    last_price = trades[-1][1][2].split("\t")[1]
    srec.readers["OnReceiveTrData"] = lambda *a: sim.dynamicCall(GET, a[2], "", 0, "현재가")
    sim.sim.reset_limits()
    sim.dynamicCall(SET, "종목코드", "005930")
    assert sim.dynamicCall(RQ, "rq", "opt10001", 0, "0101") == 0
    pump(qapp, sim)
    got = srec.of("OnReceiveTrData")[0][2]
    assert got.strip() == last_price and got != last_price  # padded, as the real control does


def test_holdings_follow_the_fills(qapp, sim, srec):
    names = list(catalog().tr("opw00018").multi_names)
    assert sim.dynamicCall(SEND, "rq", "0001", ACCOUNT, 1, "000660", 3, 0, "03", "") == 0
    pump(qapp, sim)
    srec.clear()
    srec.readers["OnReceiveTrData"] = lambda *a: (
        sim.dynamicCall(GET, a[2], "", 0, "조회건수"),
        [[sim.dynamicCall(GET, a[2], "", i, n) for n in names]
         for i in range(sim.dynamicCall("GetRepeatCnt(QString, QString)", a[2], ""))])
    for name, value in (("계좌번호", ACCOUNT), ("비밀번호", ""), ("비밀번호입력매체구분", "00"), ("조회구분", "1")):
        sim.dynamicCall(SET, name, value)
    assert sim.dynamicCall(RQ, "rq", "opw00018", 0, "0102") == 0
    pump(qapp, sim)
    count, rows = srec.of("OnReceiveTrData")[0][2]
    assert int(count) == 1 and len(rows) == 1
    row = dict(zip(names, rows[0]))
    assert row["종목번호"] == "A000660" and row["보유수량"] == "000000000000003"
    assert len(row["매입가"]) == 15 and int(row["매입가"]) > 0


def test_realtime_condition_membership(qapp, sim, srec):
    assert sim.dynamicCall("GetConditionLoad()") == 1
    pump(qapp, sim)
    names = dict(item.split("^") for item in sim.dynamicCall("GetConditionNameList()").split(";") if item)
    index = next(int(i) for i, n in names.items() if n == "상승률상위")
    assert sim.dynamicCall("SendCondition(QString, QString, int, int)", "9000", "상승률상위", index, 1) == 1
    pump(qapp, sim)
    members = {c for c in srec.of("OnReceiveTrCondition")[0][1][1].split(";") if c}
    sim.sim.advance(3600)
    pump(qapp, sim)
    changes = srec.of("OnReceiveRealCondition")
    assert changes, "the top gainers change within an hour"
    for _n, (code, kind, name, idx), _x in changes:
        assert name == "상승률상위" and idx == f"{index:03d}" and kind in ("I", "D")
        (members.add if kind == "I" else members.discard)(code)
    now = sim.sim.clock.time()
    last_eval = now - (now - START.timestamp()) % 10
    assert members == set(sim.sim.world.evaluate_condition(index, last_eval))
    sim.dynamicCall("SendConditionStop(QString, QString, int)", "9000", "상승률상위", index)
    srec.clear()
    sim.sim.advance(600)
    pump(qapp, sim)
    assert srec.of("OnReceiveRealCondition") == []


def test_add_price_flag(qapp, sim, srec):
    sim.dynamicCall("GetConditionLoad()")
    pump(qapp, sim)
    sim.dynamicCall("KOA_Functions(QString, QString)", "SetConditionSearchFlag", "AddPrice")
    assert sim.dynamicCall("SendCondition(QString, QString, int, int)", "9001", "상승률상위", 3, 0) == 1
    pump(qapp, sim)
    text = srec.of("OnReceiveTrCondition")[0][1][1]
    assert text.endswith(";") and all("^" in item for item in text.split(";") if item)


def test_chejan_before_tr_fault(qapp, sim, srec):
    sim.sim.chejan_before_tr(True)
    assert sim.dynamicCall(SEND, "rq", "0001", ACCOUNT, 1, "005930", 1, 0, "03", "") == 0
    pump(qapp, sim)
    assert srec.names()[:3] == ["OnReceiveChejanData", "OnReceiveMsg", "OnReceiveTrData"]


def test_wall_clock_mode_streams_through_the_timer(qapp):
    control = make_control(qapp, speed=60.0, tick_interval_ms=10)
    try:
        login(qapp, control)
        rec = Recorder(control)
        assert control.dynamicCall("SetRealReg(QString, QString, QString, QString)", "1000",
                                   "005930;000660;035720", "10", "0") == 0
        assert pump_until(qapp, lambda: len(rec.of("OnReceiveRealData")) >= 3, timeout_s=5)
        assert control.sim.clock.time() > START.timestamp()
        rec.close()
    finally:
        control.deleteLater()


def test_replay_start_is_a_session_open():
    from koabus.services.sim.world import replay_start

    saturday_night = datetime(2024, 6, 15, 22, 0, tzinfo=KST)
    assert replay_start(saturday_night) == datetime(2024, 6, 14, 9, 0, tzinfo=KST)
    early = datetime(2024, 6, 14, 7, 0, tzinfo=KST)
    assert replay_start(early) == datetime(2024, 6, 13, 9, 0, tzinfo=KST)
    during = datetime(2024, 6, 14, 11, 0, tzinfo=KST)
    assert replay_start(during) == during


def test_at_most_ten_realtime_conditions(qapp):
    from koabus.services.sim.config import LimitsConfig

    control = make_control(qapp, limits=LimitsConfig(tr_windows=((100, 1.0),), condition_interval_s=0.0))
    try:
        login(qapp, control)
        control.dynamicCall("GetConditionLoad()")
        pump(qapp, control)
        results = [control.dynamicCall("SendCondition(QString, QString, int, int)", f"{9100 + i}", "상승률상위", 3, 1)
                   for i in range(11)]
        assert results == [1] * 10 + [0]
        control.dynamicCall("SendConditionStop(QString, QString, int)", "9100", "상승률상위", 3)
        assert control.dynamicCall("SendCondition(QString, QString, int, int)", "9111", "상승률상위", 3, 1) == 1
    finally:
        control.deleteLater()


def test_config_accepts_plain_settings_shapes():
    from koabus.services.sim.config import AccountConfig, LimitsConfig, SimConfig

    config = SimConfig(limits={"tr_windows": [[5, 1.0], [5, 17.0]]}, accounts=["1234567811", {"number": "1234567831"}])
    assert isinstance(config.limits, LimitsConfig) and config.limits.tr_windows == ((5, 1.0), (5, 17.0))
    assert config.accounts == (AccountConfig("1234567811"), AccountConfig("1234567831"))
    with pytest.raises(ValueError):
        SimConfig(start_mode="fixed")
