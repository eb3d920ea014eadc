"""GetCommData padding, per-account starting deposits, and per-trade FID formats against the trace."""
from __future__ import annotations

import re

from koabus.metadata import catalog
from koabus.services.sim.config import AccountConfig, SimConfig
from koabus.services.sim.fidvalues import DayState, InstrumentInfo
from koabus.services.sim.trs.padding import FIELD_WIDTH
from tests.contract.conftest import Recorder, login, traces  # noqa: F401 (fixture)
from tests.services.sim.conftest import pump, recorded_control

SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
GET = "GetCommData(QString, QString, int, QString)"
SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"




def _request(qapp, control, rec, tr, inputs, reader):
    rec.clear()
    rec.readers["OnReceiveTrData"] = reader
    control.sim.reset_limits()
    for name, value in inputs:
        control.dynamicCall(SET, name, value)
    assert control.dynamicCall(RQ, "rq", tr, 0, "0101") == 0
    pump(qapp, control)
    return rec.of("OnReceiveTrData")[-1][2]


def _single(control, names):
    return lambda *a: {n: control.dynamicCall(GET, a[2], "", 0, n) for n in names}


def test_values_are_space_padded_except_zero_padded_account_trs(qapp):
    names = list(catalog().tr("opt10001").single_names)
    with recorded_control(qapp) as (control, rec), recorded_control(qapp, pad_tr_values=False) as (plain, prec):
        padded = _request(qapp, control, rec, "opt10001", [("종목코드", "005930")], _single(control, names))
        raw = _request(qapp, plain, prec, "opt10001", [("종목코드", "005930")], _single(plain, names))
        assert {n: v.strip() for n, v in padded.items()} == raw
        for name, value in padded.items():
            if not raw[name]:
                assert value == ""
            elif re.fullmatch(r"[+-]?\d+(\.\d+)?", raw[name]):
                assert value == raw[name].rjust(FIELD_WIDTH), name
            else:
                assert value == raw[name].ljust(FIELD_WIDTH), name
        assert padded["현재가"].startswith(" ") and padded["종목명"].endswith(" ")
        assert padded["예상체결가"].strip() == "-0"
        # Multi rows and the bulk read carry the same padding.
        chart = _request(qapp, control, rec, "opt10081",
                         [("종목코드", "005930"), ("기준일자", "20240613"), ("수정주가구분", "1")],
                         lambda *a: (control.dynamicCall(GET, a[2], "", 3, "현재가"),
                                     control.dynamicCall("GetCommDataEx(QString, QString)", a[2], "")))
        assert chart[0].startswith(" ") and len(chart[0]) == FIELD_WIDTH
        assert chart[1][3][list(catalog().tr("opt10081").multi_names).index("현재가")] == chart[0]
        # The account TRs keep their zero padding, without spaces.
        account = control.dynamicCall("GetLoginInfo(QString)", "ACCNO").split(";")[0]
        cash = _request(qapp, control, rec, "opw00001",
                        [("계좌번호", account), ("비밀번호", ""), ("비밀번호입력매체구분", "00"), ("조회구분", "2")],
                        _single(control, ["예수금", "주문가능금액"]))
        assert all(re.fullmatch(r"\d{15}", v) for v in cash.values()), cash


def test_each_account_has_its_own_deposit(qapp):
    accounts = (AccountConfig("8000000011", 10_000_000), AccountConfig("8000000031", 300_000_000))
    acc_inputs = lambda acc, *more: [("계좌번호", acc), ("비밀번호", ""), ("비밀번호입력매체구분", "00"), *more]  # noqa: E731
    with recorded_control(qapp, accounts=accounts) as (control, rec):
        def deposits():
            out = {}
            for acc in ("8000000011", "8000000031"):
                d1 = _request(qapp, control, rec, "opw00001", acc_inputs(acc, ("조회구분", "2")),
                              _single(control, ["예수금", "d+2추정예수금"]))
                d4 = _request(qapp, control, rec, "opw00004",
                              [("계좌번호", acc), ("비밀번호", ""), ("상장폐지조회구분", "0"),
                               ("비밀번호입력매체구분", "00")],
                              _single(control, ["예수금", "D+2추정예수금"]))
                d18 = _request(qapp, control, rec, "opw00018", acc_inputs(acc, ("조회구분", "1")),
                               _single(control, ["추정예탁자산", "총평가금액"]))
                out[acc] = (int(d1["예수금"]), int(d1["d+2추정예수금"]), int(d4["예수금"]), int(d4["D+2추정예수금"]),
                            int(d18["추정예탁자산"]) - int(d18["총평가금액"]))
            return out

        before = deposits()
        assert before["8000000011"] == (10_000_000,) * 5
        assert before["8000000031"] == (300_000_000,) * 5
        assert control.dynamicCall(SEND, "rq", "0001", "8000000011", 1, "005930", 1, 0, "03", "") == 0
        pump(qapp, control)
        after = deposits()
        assert after["8000000031"] == before["8000000031"]
        cash, d2 = after["8000000011"][:2]
        assert cash == 10_000_000 and 0 < 10_000_000 - d2 < 200_000  # one share, settles D+2
    # The YAML shapes work too.
    config = SimConfig(accounts=[{"number": "8000000011", "deposit": 5}, "8000000031"])
    assert [a.deposit for a in config.accounts] == [5, AccountConfig("x").deposit]


def test_per_trade_fids_render_like_the_recording(traces):  # noqa: F811 (fixture)
    fids = catalog().realtype("주식체결").fids
    exact = (10, 11, 12, 15, 25, 290, 567, 568, 1313, 1314, 1315, 1316, 1497, 1498, 732)
    checked = 0
    for event in traces["realtime_005930"]:
        if event["args"][1] != "주식체결":
            continue
        recorded = dict(zip(fids, event["args"][2].split("\t")))
        price, qty = abs(int(recorded[10])), int(recorded[15])
        ref = price - int(recorded[11])
        day = DayState(InstrumentInfo("005930", ref, 100_500, 54_300, 5_969_782_550))
        day.apply(9 * 3600.0, price + 100, 5, True)  # an earlier print: not the open, not a limit
        day.apply(14 * 3600.0, price, qty, True)
        ours = dict(zip(fids, day.trade_values(fids)))
        assert [ours[f] for f in exact] == [recorded[f] for f in exact]
        # The cumulative buy/sell split renders 체결강도 (228) and 매수비율 (1032) as recorded.
        day.buy_volume, day.sell_volume = int(recorded[1031]), int(recorded[1030])
        ours = dict(zip(fids, day.trade_values(fids)))
        assert (ours[228], ours[1032]) == (recorded[228], recorded[1032])
        checked += 1
    assert checked >= 5
