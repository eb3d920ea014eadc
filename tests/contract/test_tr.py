"""TR queries: single, multi, continuation, OPTKWFID, input checking, read-only-inside-the-event."""
from __future__ import annotations

import re

from koabus.metadata import catalog, values
from tests.contract.shapes import same_shape

GET = "GetCommData(QString, QString, int, QString)"
SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"


def _read_single(control, tr, names):
    return {n: control.dynamicCall(GET, tr, "", 0, n).strip() for n in names}


def _read_rows(control, tr, names):
    count = control.dynamicCall("GetRepeatCnt(QString, QString)", tr, "")
    return [[control.dynamicCall(GET, tr, "", i, n).strip() for n in names] for i in range(count)]


def _request(rec, stepper, tr, inputs, prev_next=0, screen="0101", rq="rq"):
    for name, value in inputs:
        rec.call(SET, name, value)
    rc = rec.call(RQ, rq, tr, prev_next, screen)
    assert rc == 0, rc
    assert stepper.wait(lambda: rec.of("OnReceiveTrData") and rec.of("OnReceiveMsg"))
    return rec.of("OnReceiveTrData")[-1]


def test_opt10001_matches_the_recorded_shapes(control, rec, stepper, traces):
    recorded = traces["tr_opt10001"][0]
    names = list(recorded["single"])
    rec.readers["OnReceiveTrData"] = lambda *a: _read_single(control, a[2], names)
    name, args, got = _request(rec, stepper, "opt10001", [("종목코드", "005930")])
    assert args[:5] == ("0101", "rq", "opt10001", "", "0")
    assert len(args) == 9
    spec = catalog().tr("opt10001")
    assert names == list(spec.single_names)
    for field, theirs in recorded["single"].items():
        if field in ("시가총액비중",):
            continue
        assert same_shape(got[field], theirs), (field, got[field], theirs)
    kinds = {f.name: f.kind for f in spec.single_outputs}
    for field, raw in got.items():
        if raw:
            values.parse(kinds[field], raw)
    # Signs follow the reference price, and the sign code agrees with them.
    ref, price = int(got["기준가"]), got["현재가"]
    assert (price[0] == "+") == (abs(int(price)) > ref) and (price[0] == "-") == (abs(int(price)) < ref)
    assert got["대비기호"] in ("1", "2", "3", "4", "5")
    assert int(got["전일대비"]) == abs(int(price)) - ref
    assert got["종목코드"] == "005930" and got["종목명"] == "삼성전자"
    msg = rec.of("OnReceiveMsg")[-1][1]
    assert msg[:3] == ("0101", "rq", "opt10001") and msg[3]


def test_comm_data_only_inside_the_event(control, rec, stepper):
    _request(rec, stepper, "opt10001", [("종목코드", "005930")])
    assert control.dynamicCall(GET, "opt10001", "", 0, "현재가") == ""
    assert control.dynamicCall("GetRepeatCnt(QString, QString)", "opt10001", "") == 0


def test_record_name_argument_is_ignored(control, rec, stepper):
    rec.readers["OnReceiveTrData"] = lambda *a: (
        control.dynamicCall(GET, a[2], "", 0, "현재가"),
        control.dynamicCall(GET, a[2], a[1], 0, "현재가"),
        control.dynamicCall(GET, a[2], "주식기본정보", 0, "현재가"))
    _, _, got = _request(rec, stepper, "opt10001", [("종목코드", "005930")])
    assert len(set(got)) == 1 and got[0]


def test_inputs_out_of_order_fail_to_parse(control, rec, stepper):
    rec.call(SET, "기준일자", "20240613")
    rec.call(SET, "종목코드", "005930")
    rec.call(SET, "수정주가구분", "1")
    assert rec.call(RQ, "rq", "opt10081", 0, "0101") == 0
    assert stepper.wait(lambda: rec.of("OnReceiveMsg"))
    stepper.pump()
    assert rec.of("OnReceiveTrData") == []
    assert rec.of("OnReceiveMsg")[0][1][3] == "Fail to parse Request TR"


def test_unknown_tr_and_bad_screen_fail(control, rec):
    rec.call(SET, "종목코드", "005930")
    assert rec.call(RQ, "rq", "opt99998", 0, "0101") < 0
    rec.call(SET, "종목코드", "005930")
    assert rec.call(RQ, "rq", "opt10001", 0, "0000") < 0


def test_daily_chart_pages_newest_first_with_continuation(control, rec, stepper):
    spec = catalog().tr("opt10081")
    names = list(spec.multi_names)
    rec.readers["OnReceiveTrData"] = lambda *a: (
        _read_rows(control, a[2], names),
        control.dynamicCall("GetCommDataEx(QString, QString)", a[2], ""))
    inputs = [("종목코드", "005930"), ("기준일자", "20240613"), ("수정주가구분", "1")]
    _, args, (rows, bulk) = _request(rec, stepper, "opt10081", inputs)
    assert args[4] == "2" and len(rows) == 600
    assert [[c.strip() for c in r] for r in bulk] == rows
    dates = [r[names.index("일자")] for r in rows]
    assert dates[0] == "20240613" and dates == sorted(dates, reverse=True)
    assert rows[0][names.index("종목코드")] == "005930"
    assert all(r[names.index("종목코드")] == "" for r in rows[1:])
    for column in ("현재가", "시가", "고가", "저가", "거래량", "거래대금"):
        assert all(re.fullmatch(r"\d+", r[names.index(column)]) for r in rows), column  # unsigned
    for r in rows:
        o, h, lo, c = (int(r[names.index(n)]) for n in ("시가", "고가", "저가", "현재가"))
        assert lo <= min(o, c) and h >= max(o, c)
    stepper.advance(1.0)
    rec.clear()
    _, args2, (rows2, _bulk) = _request(rec, stepper, "opt10081", inputs, prev_next=2)
    dates2 = [r[names.index("일자")] for r in rows2]
    assert rows2 and dates2[0] < dates[-1] and dates2 == sorted(dates2, reverse=True)
    assert args2[4] in ("0", "2")


def test_minute_chart_prices_are_signed_and_times_full(control, rec, stepper):
    names = list(catalog().tr("opt10080").multi_names)
    rec.readers["OnReceiveTrData"] = lambda *a: _read_rows(control, a[2], names)
    _, args, rows = _request(rec, stepper, "opt10080", [("종목코드", "005930"), ("틱범위", "1"),
                                                          ("수정주가구분", "1")])
    assert 0 < len(rows) <= 900
    times = [r[names.index("체결시간")] for r in rows]
    assert all(re.fullmatch(r"\d{14}", t) for t in times) and times == sorted(times, reverse=True)
    assert all(re.fullmatch(r"[+-]?\d+", r[names.index("현재가")]) for r in rows)


def test_optkwfid_has_63_columns_and_recorded_shapes(control, rec, stepper, traces):
    recorded = traces["condition_search_with_optkwfid"][1]
    names = recorded["multi"]["names"]
    assert len(names) == 63 and list(catalog().tr("optkwfid").multi_names) == names
    rec.readers["OnReceiveTrData"] = lambda *a: _read_rows(control, a[2], names)
    kw = "CommKwRqData(QString, bool, int, int, QString, QString)"
    assert rec.call(kw, "005930;000660;035420", 0, 3, 0, "관심종목정보요청", "9991") == 0
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    _, args, rows = rec.of("OnReceiveTrData")[-1]
    assert args[:5] == ("9991", "관심종목정보요청", "OPTKWFID", "", "0")
    assert [r[0] for r in rows] == ["005930", "000660", "035420"]
    # a domestic row: the foreign listings (900xxx) print their foreign par value as '0.00'
    theirs = next(r for r in recorded["multi"]["rows"] if not r[0].startswith("9"))
    mismatched = [(n, a, b) for n, a, b in zip(names, rows[0], theirs) if not same_shape(a, b)]
    assert not mismatched
    codes = ";".join(f"{i:06d}" for i in range(101))
    assert rec.call(kw, codes, 0, 101, 0, "rq", "9992") == -204


def test_optkwfid_snapshot_of_200_codes_in_two_requests(control, rec, stepper):
    """A 200-stock watchlist: two CommKwRqData of 100 codes, every field read inside the event."""
    etfs = set(rec.call("GetCodeListByMarket(QString)", "8").split(";"))
    listed = (rec.call("GetCodeListByMarket(QString)", "0") + rec.call("GetCodeListByMarket(QString)", "10"))
    stocks = [c for c in dict.fromkeys(listed.split(";")) if c and c not in etfs][:200]
    assert len(stocks) == 200
    names = list(catalog().tr("optkwfid").multi_names)
    rec.readers["OnReceiveTrData"] = lambda *a: _read_rows(control, a[2], names)
    kw = "CommKwRqData(QString, bool, int, int, QString, QString)"
    for screen, batch in (("9993", stocks[:100]), ("9994", stocks[100:])):
        assert rec.call(kw, ";".join(batch), 0, len(batch), 0, "관심종목", screen) == 0
    assert stepper.wait(lambda: len(rec.of("OnReceiveTrData")) == 2)
    rows = [row for _, _, got in rec.of("OnReceiveTrData") for row in got]
    assert [r[0] for r in rows] == stocks
    assert all(r[1] and re.fullmatch(r"[+-]?\d+", r[names.index("현재가")]) for r in rows)


def test_query_rate_limit(control, rec, stepper):
    codes = []
    for _ in range(6):
        rec.call(SET, "종목코드", "005930")
        codes.append(rec.call(RQ, "rq", "opt10001", 0, "0101"))
    assert codes[:5] == [0] * 5 and codes[5] == -200
    stepper.advance(1.1)
    rec.call(SET, "종목코드", "005930")
    assert rec.call(RQ, "rq", "opt10001", 0, "0101") == 0
