"""Login, session info, master data, KOA_Functions and the dynamicCall surface."""
from __future__ import annotations

import re

from tests.contract.conftest import Recorder
from tests.helpers import pump_until


def test_login_is_asynchronous_and_reports_zero(fresh_control, qapp):
    rec = Recorder(fresh_control)
    try:
        assert fresh_control.dynamicCall("GetConnectState()") == 0
        assert fresh_control.dynamicCall("GetLoginInfo(QString)", "ACCNO") == ""
        assert fresh_control.dynamicCall("GetCodeListByMarket(QString)", "0") == ""
        assert fresh_control.dynamicCall("GetMasterCodeName(QString)", "005930") == ""
        assert fresh_control.dynamicCall("CommConnect()") == 0
        assert rec.events == []  # never inside the call
        assert pump_until(qapp, lambda: rec.of("OnEventConnect"), timeout_s=60)
        assert rec.of("OnEventConnect")[0][1] == (0,)
        assert fresh_control.dynamicCall("GetConnectState()") == 1
    finally:
        rec.close()


def test_login_info_tags(control):
    call = control.dynamicCall
    accno = call("GetLoginInfo(QString)", "ACCNO")
    assert accno.endswith(";")
    accounts = [a for a in accno.split(";") if a]
    assert accounts and all(re.fullmatch(r"\d{10}", a) for a in accounts)
    assert call("GetLoginInfo(QString)", "ACCLIST") == accno
    assert call("GetLoginInfo(QString)", "ACCOUNT_CNT") == str(len(accounts))
    assert call("GetLoginInfo(QString)", "USER_ID")
    assert call("GetLoginInfo(QString)", "KEY_BSECGB") in ("0", "1")
    assert call("GetLoginInfo(QString)", "FIREW_SECGB") in ("0", "1", "2")
    assert call("GetLoginInfo(QString)", "GetServerGubun") == "1"  # the suite runs on a mock account
    assert call("KOA_Functions(QString, QString)", "GetServerGubun", "") == "1"
    assert call("GetLoginInfo(QString)", "GET_SERVER_GUBUN") == ""


def test_signature_spellings_and_argument_conversion(control):
    spellings = ["GetMasterCodeName(QString)", "GetMasterCodeName(const QString&)",
                 "GetMasterCodeName(String)", "GetMasterCodeName( QString )"]
    assert {control.dynamicCall(s, "005930") for s in spellings} == {"삼성전자"}
    assert control.dynamicCall("GetMasterCodeName(QString)", ["005930"]) == "삼성전자"
    # GetChejanData takes an int; a QString spelling with "10" works outside the event (empty).
    assert control.dynamicCall("GetChejanData(QString)", "10") == ""
    assert control.dynamicCall("GetRepeatCnt(QString, QString)", "opt10001", "") == 0
    assert control.dynamicCall("GetCommData(QString, QString, int, QString)", "opt10001", "", "0", "현재가") == ""


def test_unknown_member_returns_none(control):
    assert control.dynamicCall("NoSuchMethod(QString)", "x") is None
    assert control.dynamicCall("GetMasterCodeName(QString, QString)", "005930", "x") is None


def test_master_data(control):
    call = control.dynamicCall
    kospi = call("GetCodeListByMarket(QString)", "0")
    assert kospi.endswith(";")
    codes = [c for c in kospi.split(";") if c]
    assert "005930" in codes and all(re.fullmatch(r"\d{6}", c) for c in codes)
    kosdaq = [c for c in call("GetCodeListByMarket(QString)", "10").split(";") if c]
    assert kosdaq and not set(kosdaq) & set(codes)
    assert call("GetMasterCodeName(QString)", "005930") == "삼성전자"
    assert call("GetMasterCodeName(QString)", "999999") == ""
    last = call("GetMasterLastPrice(QString)", "005930")
    assert re.fullmatch(r"\d{8}", last) and int(last) > 0
    assert re.fullmatch(r"(19|20)\d{6}", call("GetMasterListedStockDate(QString)", "005930"))
    assert call("GetMasterConstruction(QString)", "005930") in ("정상", "투자주의", "투자경고", "투자위험",
                                                               "투자주의환기종목")
    tokens = call("GetMasterStockState(QString)", "005930").split("|")
    assert all(re.fullmatch(r"정상|증거금\d+%|거래정지|관리종목|감리종목|투자유의종목|담보대출|액면분할|신용가능", t)
               for t in tokens)
    count = call("KOA_Functions(QString, QString)", "GetMasterListedStockCntEx", "005930")
    assert count.isdigit() and int(count) > 2 ** 31  # why the Ex form exists
    assert isinstance(call("GetMasterListedStockCnt(QString)", "005930"), int)
    assert call("KOA_Functions(QString, QString)", "GetStockMarketKind", "005930") == "0"
    assert call("GetMarketType(QString)", kosdaq[0]) == 10
    info = call("KOA_Functions(QString, QString)", "GetMasterStockInfo", "005930")
    assert info.startswith("시장구분0|거래소;") and info.endswith(";")
    assert call("KOA_Functions(QString, QString)", "IsOrderWarningStock", "005930") in ("0", "2", "3", "4", "5")
    upjong = call("KOA_Functions(QString, QString)", "GetUpjongCode", "0")
    assert all(len(item.split(",")) == 3 for item in upjong.split("|"))
    assert call("GetAPIModulePath()")


def test_code_lists_hold_enough_stocks_for_a_200_code_watchlist(control):
    """KOSPI ("0", with its ETFs) and KOSDAQ ("10") together name at least 200 distinct stocks,
    each with a name: what a 200-code OPTKWFID snapshot needs."""
    call = control.dynamicCall
    etfs = {c for c in call("GetCodeListByMarket(QString)", "8").split(";") if c}
    kospi = [c for c in call("GetCodeListByMarket(QString)", "0").split(";") if c]
    kosdaq = [c for c in call("GetCodeListByMarket(QString)", "10").split(";") if c]
    stocks = set(kospi + kosdaq) - etfs
    assert len(stocks) >= 200
    assert len(set(kospi)) == len(kospi) and len(set(kosdaq)) == len(kosdaq)
    assert all(call("GetMasterCodeName(QString)", c) for c in sorted(stocks)[:50])
    assert all(call("GetMarketType(QString)", c) == 10 for c in kosdaq[:20])


def test_themes_carry_a_prefix(control):
    themes = control.dynamicCall("GetThemeGroupList(int)", 0)
    first = themes.split(";")[0]
    code, _, name = first.partition("|")
    assert code and name
    members = control.dynamicCall("GetThemeGroupCode(QString)", code).split(";")
    assert members and all(re.fullmatch(r"A\d{6}", m) for m in members)


def test_second_comm_connect_is_silent(qapp, control):
    """CommConnect again after a successful login delivers nothing new and stays connected."""
    rec = Recorder(control)
    try:
        assert control.dynamicCall("CommConnect()") == 0
        pump_until(qapp, lambda: False, timeout_s=0.05)
        assert rec.of("OnEventConnect") == []
        assert control.dynamicCall("GetConnectState()") == 1
    finally:
        rec.close()
