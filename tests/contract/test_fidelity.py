"""What the fields mean, not only their shapes: facts the recorded real traces show (facts §5.5,
§9, §10.3, §11 and recorded-traces/mock-server-2022-01-18.json), checked on whichever control runs.

Each test states a property of the real control: a market order on the mock server fills at the
current price (not the ask); the chejan fill number, after-hours price and P&L rate carry
their own values; OPTKWFID 예상체결가 is the auction price and 액면가 a whole won amount; opt10001
EPS/BPS/매출액 belong to a reporting period while PER/PBR follow the price; TR and realtime
거래대금 agree; FID 32 is a non-zero per-session constant; 005930's daily chart reaches 1985.
"""
from __future__ import annotations

import re

import pytest

from koabus.metadata import catalog

SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"
GET = "GetCommData(QString, QString, int, QString)"
SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
KW = "CommKwRqData(QString, bool, int, int, QString, QString)"
REG = "SetRealReg(QString, QString, QString, QString)"
REAL = "GetCommRealData(QString, int)"


def _chejan_reader(control):
    return lambda gubun, count, fids: {f: control.dynamicCall("GetChejanData(int)", int(f))
                                       for f in fids.rstrip(";").split(";")}


def _market_buy(rec, stepper, account, screen: str, code: str = "005930"):
    """One market buy of one share; (accepted, filled, balance) chejan values."""
    rec.readers["OnReceiveChejanData"] = _chejan_reader(rec.control)
    assert rec.call(SEND, "시장가 매수", screen, account, 1, code, 1, 0, "03", "") == 0
    assert stepper.until(lambda: len(rec.of("OnReceiveChejanData")) >= 3)
    chejan = [(e[1][0], e[2]) for e in rec.of("OnReceiveChejanData")]
    accepted = next(v for g, v in chejan if g == "0" and v["913"] == "접수")
    filled = next(v for g, v in chejan if g == "0" and v["913"] == "체결")
    balance = next(v for g, v in chejan if g == "1")
    return accepted, filled, balance


def _read_rows(control, tr, names):
    count = control.dynamicCall("GetRepeatCnt(QString, QString)", tr, "")
    return [{n: control.dynamicCall(GET, tr, "", i, n).strip() for n in names} for i in range(count)]


def _kw_rows(rec, stepper, codes, screen):
    names = list(catalog().tr("optkwfid").multi_names)
    rec.readers["OnReceiveTrData"] = lambda *a: _read_rows(rec.control, a[2], names)
    assert rec.call(KW, ";".join(codes), 0, len(codes), 0, "관심종목정보요청", screen) == 0
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    return rec.of("OnReceiveTrData")[-1][2]


def _opt10001(rec, stepper, names, screen="0201"):
    rec.readers["OnReceiveTrData"] = lambda *a: {n: rec.control.dynamicCall(GET, a[2], "", 0, n).strip()
                                                 for n in names}
    rec.clear()
    rec.call(SET, "종목코드", "005930")
    assert rec.call(RQ, "기본정보", "opt10001", 0, screen) == 0
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    return rec.of("OnReceiveTrData")[-1][2]


# -- orders and chejan (facts §5.5, §9) ---------------------------------------------------------

def test_market_order_fills_at_the_current_price(control, rec, stepper, account, traces):
    """Recorded: ask 77,100, bid 77,000, 현재가 77,000 -> filled at 77,000 (not the ask)."""
    recorded = traces["order_market_buy_1_share"][3]["single"]
    assert recorded["체결가"] == recorded["현재가"].lstrip("+-") != recorded["매도호가"].lstrip("+-")
    _accepted, filled, _balance = _market_buy(rec, stepper, account, "0301")
    assert int(filled["910"]) == abs(int(filled["10"])) == int(filled["914"])
    assert int(filled["903"]) == int(filled["910"]) * int(filled["911"])


def test_market_order_fill_follows_its_acceptance_in_time(control, rec, stepper, account, traces):
    """Recorded: 908 '142940' on 접수, '142941' on 체결 (each event its own time, the fill not
    before the acceptance); 909, 910 and 911 empty until the fill."""
    recorded = traces["order_market_buy_1_share"]
    assert recorded[2]["single"]["주문/체결시간"] < recorded[3]["single"]["주문/체결시간"]
    accepted, filled, _balance = _market_buy(rec, stepper, account, "0302")
    assert re.fullmatch(r"\d{6}", accepted["908"]) and re.fullmatch(r"\d{6}", filled["908"])
    assert accepted["908"] <= filled["908"]
    assert accepted["909"] == "" and accepted["910"] == "" and accepted["911"] == ""


def test_fill_number_is_the_servers_running_number(control, rec, stepper, account, traces):
    """Recorded 909 '1234931': a plain 7-digit number, not a zero-padded count of our own fills."""
    recorded = traces["order_market_buy_1_share"][3]["single"]["체결번호"]
    assert re.fullmatch(r"[1-9]\d{6}", recorded)
    _accepted, filled, _balance = _market_buy(rec, stepper, account, "0303")
    assert re.fullmatch(r"[1-9]\d{6}", filled["909"])


def test_after_hours_price_is_not_the_current_price(control, rec, stepper, account, traces):
    """10010 (시간외단일가_현재가) is the after-hours single-price market's price: recorded '-77300'
    beside 현재가 '-77000'. During the regular session it stands still while 현재가 moves: the
    same in every chejan event of two orders a minute apart."""
    recorded = traces["order_market_buy_1_share"]
    assert {e["single"]["시간외단일가_현재가"] for e in recorded[2:]} == {"-77300"}
    first = _market_buy(rec, stepper, account, "0304")
    rec.clear()
    stepper.advance(60)
    second = _market_buy(rec, stepper, account, "0305")
    after_hours = {v["10010"] for v in first + second}
    assert len(after_hours) == 1
    assert re.fullmatch(r"[+-]?\d+", after_hours.pop())


def test_balance_pnl_rate_of_a_buy_is_zero(control, rec, stepper, account, traces):
    """Recorded balance after a buy: 매입단가 77,150 over 현재가 77,000, yet 8019 손익율 '0.00' and
    991 '0.00': they are realised figures (nothing sold today), not the holding's unrealised rate."""
    recorded = traces["order_market_buy_1_share"][4]["single"]
    assert recorded["매입단가"] != recorded["현재가"].lstrip("+-") and recorded["손익율"] == "0.00"
    _accepted, _filled, balance = _market_buy(rec, stepper, account, "0306", code="000660")
    assert balance["8019"] == "0.00" and balance["991"] == "0.00"


# -- OPTKWFID (facts §11; the recorded 63-column rows) ------------------------------------------

def test_optkwfid_expected_price_is_the_opening_auction_price(control, rec, stepper, traces):
    """At 14:29 every recorded row has 예상체결가 equal to 시가 (the opening auction's price), not
    the current price."""
    recorded = traces["condition_search_with_optkwfid"][1]["multi"]
    names = recorded["names"]
    for row in recorded["rows"]:
        r = dict(zip(names, row))
        assert r["예상체결가"] == r["시가"]
    rows = _kw_rows(rec, stepper, ["005930", "000660", "035420"], "9701")
    for r in rows:
        assert int(r["시가"]) != 0
        assert abs(int(r["예상체결가"])) == abs(int(r["시가"])), r["종목코드"]


def test_optkwfid_par_value_is_whole_won(control, rec, stepper, traces):
    """액면가 prints '5000', '500' for domestic stocks (recorded); 005930's par is 100 won (its
    opt10001 row says '100') and 000660's 5,000."""
    recorded = traces["condition_search_with_optkwfid"][1]["multi"]
    par = recorded["names"].index("액면가")
    assert {row[par] for row in recorded["rows"] if not row[0].startswith("9")} <= {"5000", "500"}
    rows = _kw_rows(rec, stepper, ["005930", "000660"], "9702")
    assert [r["액면가"] for r in rows] == ["100", "5000"]


# -- opt10001 (facts §11) ---------------------------------------------------------------------

def test_opt10001_per_and_pbr_follow_the_price_over_fixed_eps_and_bps(control, rec, stepper, traces):
    """Recorded: 현재가 77,000 / EPS 3,841 = PER 20.05 and / BPS 39,406 = PBR 1.95. EPS, BPS and
    매출액 are the reporting period's; they do not move with the price within a session."""
    recorded = traces["tr_opt10001"][0]["single"]
    price = abs(int(recorded["현재가"]))
    assert f"{price / int(recorded['EPS']):.2f}" == recorded["PER"]
    assert abs(price / int(recorded["BPS"]) - float(recorded["PBR"])) < 0.01
    names = ["현재가", "EPS", "BPS", "PER", "PBR", "매출액"]
    first = _opt10001(rec, stepper, names)
    for _ in range(5):  # until the price has moved (a few minutes of wall time on the real control)
        stepper.advance(60)
        second = _opt10001(rec, stepper, names)
        if second["현재가"] != first["현재가"]:
            break
    for got in (first, second):
        price = abs(int(got["현재가"]))
        assert abs(price / int(got["EPS"]) - float(got["PER"])) < 0.006
        assert abs(price / int(got["BPS"]) - float(got["PBR"])) < 0.006
    assert [second[n] for n in ("EPS", "BPS", "매출액")] == [first[n] for n in ("EPS", "BPS", "매출액")]


# -- realtime and TR agree ----------------------------------------------------------------------

def test_trade_value_agrees_between_optkwfid_and_the_stream(control, rec, stepper, real):
    """FID 14 누적거래대금 of the last 주식체결 and OPTKWFID 거래대금 right after it are one figure
    (백만원); on the real control only the prints between the two reads may separate them (the
    simulator's clock stands still between them)."""
    rec.readers["OnReceiveRealData"] = lambda code, name, data: rec.control.dynamicCall(REAL, code, 14)
    assert rec.call(REG, "9703", "005930", "20", "0") == 0
    assert stepper.until(lambda: any(e[1][1] == "주식체결" for e in rec.of("OnReceiveRealData")))
    streamed = int([e[2] for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"][-1])
    rec.call("SetRealRemove(QString, QString)", "9703", "005930")
    row = _kw_rows(rec, stepper, ["005930"], "9704")[0]
    snapshot = int(row["거래대금"])
    assert streamed > 0
    assert 0 <= snapshot - streamed <= (max(2, streamed // 500) if real else 0)


def test_trading_cost_fid_32_is_a_non_zero_session_constant(control, rec, stepper, traces):
    """Recorded FID 32 거래비용 '201' in every 주식체결 event while the price moved."""
    recorded = [e["single"] for e in traces["realtime_005930"] if e["args"][1] == "주식체결"]
    assert {r["거래비용"] for r in recorded} == {"201"} and len({r["현재가"] for r in recorded}) > 1
    fids = catalog().realtype("주식체결").fids
    rec.readers["OnReceiveRealData"] = lambda code, name, data: dict(zip(fids, data.split("\t")))
    assert rec.call(REG, "9705", "005930", "10", "0") == 0
    assert stepper.until(lambda: len([e for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"]) >= 5)
    trades = [e[2] for e in rec.of("OnReceiveRealData") if e[1][1] == "주식체결"]
    costs = {t[32] for t in trades}
    assert len(costs) == 1 and int(costs.pop()) > 0


# -- history depth (facts §5.3) ------------------------------------------------------------------

def test_daily_chart_of_005930_starts_on_1985_01_04(control, rec, stepper):
    """opt10081 for 005930 pages back to 1985-01-04 (9,792 rows by 2022-01-18, recorded)."""
    names = ["일자", "현재가"]
    rec.readers["OnReceiveTrData"] = lambda *a: [r["일자"] for r in _read_rows(rec.control, a[2], names)]
    for name, value in (("종목코드", "005930"), ("기준일자", "19850131"), ("수정주가구분", "0")):
        rec.call(SET, name, value)
    assert rec.call(RQ, "일봉", "opt10081", 0, "0202") == 0
    assert stepper.wait(lambda: rec.of("OnReceiveTrData"))
    _name, args, dates = rec.of("OnReceiveTrData")[-1]
    if not dates:
        pytest.fail("no daily bars for January 1985")
    assert dates[0] <= "19850131" and dates[-1] == "19850104"
    assert args[4] in ("0", "")  # nothing older
