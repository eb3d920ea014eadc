"""Orders (the recorded event sequence and FID lists) and condition search."""
from __future__ import annotations

import re

from tests.contract.shapes import same_shape

SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"


def _chejan_reader(control):
    return lambda gubun, count, fids: {f: control.dynamicCall("GetChejanData(int)", int(f))
                                       for f in fids.rstrip(";").split(";")}


def _order_no_reader(control):
    return lambda *a: control.dynamicCall("GetCommData(QString, QString, int, QString)", a[2], "", 0, "주문번호")


def test_market_buy_follows_the_recorded_sequence(control, rec, stepper, account, traces):
    recorded = traces["order_market_buy_1_share"]
    rec.readers["OnReceiveChejanData"] = _chejan_reader(control)
    rec.readers["OnReceiveTrData"] = _order_no_reader(control)
    assert rec.call(SEND, "삼성전자 1주 시장가 신규 매수", "0001", account, 1, "005930", 1, 0, "03", "") == 0
    assert rec.events == []
    assert stepper.until(lambda: len(rec.of("OnReceiveChejanData")) >= 3)
    names = rec.names()[:5]
    assert names == [e["event"] for e in recorded]
    msg, trd, accepted, filled, balance = rec.events[:5]
    assert msg[1] == ("0001", "삼성전자 1주 시장가 신규 매수", "KOA_NORMAL_BUY_KP_ORD", recorded[0]["args"][3])
    assert trd[1][:5] == ("0001", "삼성전자 1주 시장가 신규 매수", "KOA_NORMAL_BUY_KP_ORD", "", "")
    assert re.fullmatch(r"\d{7}", trd[2])
    for ours, theirs in ((accepted, recorded[2]), (filled, recorded[3]), (balance, recorded[4])):
        assert ours[1] == tuple(theirs["args"])  # gubun, FID count, FID list
        fids = theirs["args"][2].split(";")
        for fid, (_label, value) in zip(fids, theirs["single"].items()):
            assert same_shape(ours[2][fid], value) or fid == "9201", (fid, ours[2][fid], value)
    assert accepted[2]["913"] == "접수" and filled[2]["913"] == "체결"
    assert accepted[2]["9203"] == filled[2]["9203"] == trd[2]
    assert accepted[2]["9001"] == "A005930" and accepted[2]["905"] == "+매수" and accepted[2]["906"] == "시장가"
    assert accepted[2]["902"] == "1" and filled[2]["902"] == "0"
    assert int(filled[2]["903"]) == int(filled[2]["910"]) * int(filled[2]["911"])
    assert balance[2]["9001"] == "A005930" and int(balance[2]["930"]) >= 1


def test_unsupported_hoga_is_rejected_by_the_server(control, rec, stepper, account):
    rec.readers["OnReceiveTrData"] = _order_no_reader(control)
    assert rec.call(SEND, "rq", "0002", account, 1, "005930", 1, 0, "06", "") == 0  # 최유리지정가
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    stepper.pump()
    assert rec.names()[:2] == ["OnReceiveMsg", "OnReceiveTrData"]
    assert rec.of("OnReceiveMsg")[0][1][3]
    assert rec.of("OnReceiveTrData")[0][2] == ""
    assert rec.of("OnReceiveChejanData") == []


def test_limit_order_then_cancel_confirms(control, rec, stepper, account):
    rec.readers["OnReceiveChejanData"] = _chejan_reader(control)
    rec.readers["OnReceiveTrData"] = _order_no_reader(control)
    last = int(control.dynamicCall("GetMasterLastPrice(QString)", "005930"))
    low = (last * 75 // 100) // 100 * 100  # far below the market: rests
    assert rec.call(SEND, "rq", "0003", account, 1, "005930", 1, low, "00", "") == 0
    assert stepper.wait(lambda: rec.of("OnReceiveChejanData"))
    order_no = rec.of("OnReceiveTrData")[0][2]
    assert re.fullmatch(r"\d{7}", order_no)
    rec.clear()
    assert rec.call(SEND, "rq", "0003", account, 3, "005930", 1, 0, "00", order_no) == 0
    assert stepper.wait(lambda: any(e[2]["913"] == "확인" for e in rec.of("OnReceiveChejanData")))
    stepper.pump()
    assert rec.of("OnReceiveTrData")[0][1][2] == "KOA_NORMAL_KP_CANCEL"
    confirmed = [e[2] for e in rec.of("OnReceiveChejanData") if e[2]["913"] == "확인"]
    assert any(c["904"] == order_no and c["905"] == "매수취소" for c in confirmed)


def test_kosdaq_orders_use_kq_names(control, rec, stepper, account):
    kosdaq = [c for c in control.dynamicCall("GetCodeListByMarket(QString)", "10").split(";") if c]
    assert rec.call(SEND, "rq", "0004", account, 1, kosdaq[0], 1, 0, "03", "") == 0
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    assert rec.of("OnReceiveTrData")[0][1][2] == "KOA_NORMAL_BUY_KQ_ORD"


def test_order_rate_limit(control, rec, account):
    results = [rec.call(SEND, "rq", "0005", account, 1, "005930", 1, 0, "03", "") for _ in range(6)]
    assert results[:5] == [0] * 5 and results[5] == -308


def test_condition_search(control, rec, stepper, traces):
    recorded = traces["condition_search_realtime"][0]["args"]
    assert rec.call("GetConditionLoad()") == 1
    assert stepper.wait(lambda: rec.of("OnReceiveConditionVer"))
    assert rec.of("OnReceiveConditionVer")[0][1][0] == 1
    names = control.dynamicCall("GetConditionNameList()")
    assert names.endswith(";")
    items = [item.split("^") for item in names.split(";") if item]
    assert items and all(re.fullmatch(r"\d{3}", i) and n for i, n in items)
    index, name = int(items[0][0]), items[0][1]
    assert rec.call("SendCondition(QString, QString, int, int)", "8686", name, index, 0) == 1
    assert stepper.wait(lambda: rec.of("OnReceiveTrCondition"))
    screen, codes, got_name, got_index, next_ = rec.of("OnReceiveTrCondition")[0][1]
    assert (screen, got_name, got_index, next_) == ("8686", name, index, 0)
    assert type(got_index) is type(recorded[3]) and type(next_) is type(recorded[4])
    assert codes == "" or (codes.endswith(";") and all(re.fullmatch(r"\d{6}", c) for c in codes.split(";") if c))
    # The same condition again within a minute fails; a wrong name/index pair fails.
    assert rec.call("SendCondition(QString, QString, int, int)", "8686", name, index, 0) == 0
    assert rec.call("SendCondition(QString, QString, int, int)", "8687", name + "x", index, 0) == 0
    rec.call("SendConditionStop(QString, QString, int)", "8686", name, index)
