"""Realtime: SetRealReg limits, whole-type payloads in metadata FID order, GetCommRealData."""
from __future__ import annotations

from koabus.metadata import catalog, values
from tests.contract.shapes import same_shape

REG = "SetRealReg(QString, QString, QString, QString)"
REAL = "GetCommRealData(QString, int)"


def _kind(fid: int) -> str:
    try:
        return catalog().fid(fid).kind
    except Exception:
        return "str"


def test_trade_payload_has_every_fid_of_the_type(control, rec, stepper, traces):
    trade = catalog().realtype("주식체결")
    assert len(trade.fids) == 43
    rec.readers["OnReceiveRealData"] = lambda code, name, data: {
        fid: control.dynamicCall(REAL, code, fid) for fid in catalog().realtype(name).fids}
    assert rec.call(REG, "1000", "005930", "10", "0") == 0
    for _ in range(10):
        stepper.advance(15)
        if len([e for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"]) >= 3:
            break
    trades = [e for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"]
    assert len(trades) >= 3
    recorded = [e for e in traces["realtime_005930"] if e["args"][1] == "주식체결"][0]["args"][2].split("\t")
    for _name, (code, _real_type, data), by_fid in trades:
        assert code == "005930"
        fields = data.split("\t")
        assert len(fields) == len(trade.fids)
        assert [by_fid[f] for f in trade.fids] == fields
        for fid, raw in zip(trade.fids, fields):
            if raw.strip():
                values.parse(_kind(fid), raw)
        sell_one, buy_one = fields[trade.fids.index(1315)], fields[trade.fids.index(1316)]
        assert " 0" in (sell_one, buy_one)
        # Shapes of the 42 FIDs the 2022 recording had (FID 852 is newer).
        for i, (ours, theirs) in enumerate(zip(fields, recorded)):
            assert same_shape(ours, theirs), (trade.fids[i], ours, theirs)
    # Outside the handler GetCommRealData has nothing to read.
    assert control.dynamicCall(REAL, "005930", 10) == ""


def test_best_quote_type_and_registration_by_any_fid(control, rec, stepper):
    assert rec.call(REG, "1001", "000660", "27", "0") == 0  # 27 is in 주식체결, 주식시세, 주식우선호가, ...
    for _ in range(20):
        stepper.advance(15)
        if {e[1][1] for e in rec.of("OnReceiveRealData")} >= {"주식체결", "주식우선호가"}:
            break
    kinds = {e[1][1] for e in rec.of("OnReceiveRealData")}
    assert {"주식체결", "주식우선호가"} <= kinds
    for _n, (code, name, data), _x in rec.of("OnReceiveRealData"):
        assert code == "000660"
        assert len(data.split("\t")) == len(catalog().realtype(name).fids)


def test_book_streams_between_prints(control, rec, stepper):
    # NAVER, not 005930: at a real session's trade rate 005930 prints in every second, and
    # HHMMSS times cannot tell a refresh from a print in the same second
    assert rec.call(REG, "1006", "035420", "41;20", "0") == 0  # 41: 주식호가잔량, 20: 주식체결
    for _ in range(8):
        stepper.advance(5)
        if len([e for e in rec.of("OnReceiveRealData") if e[1][1] == "주식호가잔량"]) >= 10:
            break
    book = catalog().realtype("주식호가잔량")
    books = [dict(zip(book.fids, e[1][2].split("\t"))) for e in rec.of("OnReceiveRealData")
             if e[1][1] == "주식호가잔량"]
    trade_times = {e[1][2].split("\t")[0] for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"}
    assert len(books) >= 10 and all(len(b) == len(book.fids) for b in books)
    assert any(b[21] not in trade_times for b in books), "the book also changes between prints"
    for b in books:
        asks = [abs(int(b[f])) for f in range(41, 51) if int(b[f])]
        bids = [abs(int(b[f])) for f in range(51, 61) if int(b[f])]
        assert asks == sorted(asks) and bids == sorted(bids, reverse=True)
        assert not (asks and bids) or asks[0] > bids[0]


def test_remove_and_disconnect_stop_the_stream(control, rec, stepper):
    assert rec.call(REG, "1002", "005930", "10", "0") == 0
    assert rec.call(REG, "1002", "000660", "10", "1") == 0  # "1" adds
    stepper.advance(60)
    assert {e[1][0] for e in rec.of("OnReceiveRealData")} == {"005930", "000660"}
    rec.call("SetRealRemove(QString, QString)", "1002", "005930")
    rec.clear()
    stepper.advance(60)
    assert {e[1][0] for e in rec.of("OnReceiveRealData")} == {"000660"}
    rec.call("DisconnectRealData(QString)", "1002")
    rec.clear()
    stepper.advance(60)
    assert rec.of("OnReceiveRealData") == []


def test_replace_option_zero(control, rec, stepper):
    assert rec.call(REG, "1003", "005930", "10", "0") == 0
    assert rec.call(REG, "1003", "000660", "10", "0") == 0  # "0" replaces the screen's codes
    stepper.advance(60)
    assert {e[1][0] for e in rec.of("OnReceiveRealData")} == {"000660"}
    rec.call("SetRealRemove(QString, QString)", "ALL", "ALL")
    rec.clear()
    stepper.advance(30)
    assert rec.of("OnReceiveRealData") == []


def test_realreg_limits(control, rec):
    codes = ";".join(f"{i:06d}" for i in range(101))
    assert rec.call(REG, "1004", codes, "10", "0") == -204
    fids = ";".join(str(f) for f in range(1, 102))
    assert rec.call(REG, "1004", "005930", fids, "0") == -206


def test_market_status_stream_with_an_empty_code(control, rec, stepper):
    if stepper.real:
        import pytest

        pytest.skip("needs hours of wall time on the real control")
    assert rec.call(REG, "1005", "", "215;20;214", "0") == 0
    stepper.advance(5 * 3600 + 21 * 60)  # 10:00 -> 15:21
    status = [e[1] for e in rec.of("OnReceiveRealData")]
    assert status and all(code == "" and name == "장시작시간" for code, name, _ in status)
    fields = [data.split("\t") for _c, _n, data in status]
    assert all(len(f) == 3 and len(f[1]) == 6 for f in fields)
    assert ["2", "152000"] in [f[:2] for f in fields]
