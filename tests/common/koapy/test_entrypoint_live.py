"""KiwoomOpenApiPlusEntrypoint against the real broker on the simulated control (a subprocess)."""
from __future__ import annotations

import threading

import pytest

from koabus.common.koapy import (
    KiwoomOpenApiContext,
    KiwoomOpenApiPlusEntrypoint,
    KiwoomOpenApiPlusRealType,
    MessageToDict,
    grpc,
)

BOUND_S = 20.0


@pytest.fixture
def entrypoint(broker, monkeypatch):
    monkeypatch.setenv("KOABUS_ROUTER", broker.router)  # as a script without arguments finds it
    monkeypatch.setenv("KOABUS_PUB", broker.pub)
    with KiwoomOpenApiPlusEntrypoint() as ep:
        yield ep


def test_login_server_and_accounts(entrypoint):
    assert entrypoint.EnsureConnected() is True and entrypoint.IsConnected() is True
    assert entrypoint.IsSimulationServer() is True and entrypoint.GetServerGubun() == "1"
    accounts = entrypoint.GetAccountList()
    assert entrypoint.GetFirstAvailableAccount() == accounts[0] and entrypoint.GetAccountCount() == len(accounts)
    assert entrypoint.GetMasterCodeName("005930") == "삼성전자"  # a control method, by name


def test_readme_conditions_exist_and_search(entrypoint):
    assert entrypoint.EnsureConditionLoaded() == 1 and entrypoint.IsConditionLoaded() is True
    names = dict((n, i) for i, n in entrypoint.GetConditionNameListAsList())
    assert {"대형 저평가 우량주", "중소형 저평가주"} <= set(names)
    codes, info = entrypoint.GetCodeListByCondition("대형 저평가 우량주", with_info=True)
    assert codes and list(info["종목코드"]) == codes
    # by name and by name with its index: the same condition. The simulated market moves while the two
    # searches run, so a code may cross the condition's line in between; two searches back to back agree
    by_index = entrypoint.GetCodeListByCondition("대형 저평가 우량주", names["대형 저평가 우량주"])
    for _ in range(5):
        if by_index == codes:
            break
        codes = entrypoint.GetCodeListByCondition("대형 저평가 우량주")
        by_index = entrypoint.GetCodeListByCondition("대형 저평가 우량주", names["대형 저평가 우량주"])
    assert by_index == codes


def test_transaction_call_events(entrypoint):
    events = list(entrypoint.TransactionCall("주식기본정보요청", "opt10001", "0001", {"종목코드": "005930"}))
    assert len(events) == 1
    event = events[0]
    assert event.name == "OnReceiveTrData"
    assert [a.string_value for a in event.arguments[:3]] == ["0001", "주식기본정보요청", "opt10001"]
    single = dict(zip(event.single_data.names, event.single_data.values))
    assert single["종목명"] == "삼성전자" and single["현재가"][:1] in "+-0123456789"
    assert list(single) == list(entrypoint.GetStockBasicInfoAsDict("005930"))
    pages = list(entrypoint.TransactionCall("rq", "opt10081", "0002",
                                            {"종목코드": "005930", "기준일자": "20250530", "수정주가구분": "0"},
                                            stop_condition={"name": "일자", "value": "20240101"}))
    assert pages and "일자" in pages[0].multi_data.names
    dates = [row.values[pages[0].multi_data.names.index("일자")] for p in pages for row in p.multi_data.values]
    # paged back to the stop condition; the rows meeting it (일자 <= 20240101) are left out, as KOAPY did
    assert dates[0] == "20250530" and min(dates) == "20240102" and dates == sorted(dates, reverse=True)


def test_realtime_stream_cancelled_by_a_timer_raises_rpc_error(entrypoint):
    fids = KiwoomOpenApiPlusRealType.get_fids_by_realtype_name("주식체결")
    stream = entrypoint.GetRealDataForCodesAsStream(["005930"], fids, "0", infer_fids=True, readable_names=True)
    trades, error = [], None
    timer = None
    try:
        for event in stream:
            assert event.name == "OnReceiveRealData" and event.arguments[0].string_value == "005930"
            if event.arguments[1].string_value == "주식체결":
                trades.append(event)
                if timer is None:
                    timer = threading.Timer(0.1, stream.cancel)
                    timer.start()
    except grpc.RpcError as exc:
        error = exc
    timer.join(BOUND_S)
    assert error is not None and error.code() == grpc.StatusCode.CANCELLED
    names = trades[0].single_data.names
    assert names == [KiwoomOpenApiPlusRealType.Fid.get_name_by_fid(f) for f in fids] and "현재가" in names
    values = dict(zip(names, trades[0].single_data.values))
    assert int(values["현재가"].lstrip("+-")) > 0 and len(values["체결시간"]) == 6
    assert trades[0].arguments[2].string_value.split("\t") == trades[0].single_data.values


def test_condition_stream_and_order_events(entrypoint):
    stream = entrypoint.GetCodeListByConditionAsStream("중소형 저평가주")
    first = next(stream)
    assert first.name == "OnReceiveTrCondition" and first.arguments[2].string_value == "중소형 저평가주"
    assert first.arguments[1].string_value.endswith(";") and first.arguments[3].long_value >= 0
    assert stream.cancel() is True
    with pytest.raises(grpc.RpcError):
        next(stream)

    account = entrypoint.GetFirstAvailableAccount()
    events = list(entrypoint.OrderCall("삼성전자 1주 시장가 신규 매수", "0001", account, 1, "005930", 1, 0, "03", ""))
    names = [e.name for e in events]
    assert names[0] == "OnReceiveMsg" and "OnReceiveTrData" in names
    chejan = [e for e in events if e.name == "OnReceiveChejanData"]
    assert {e.arguments[0].string_value for e in chejan} == {"0", "1"}
    order = dict(zip(chejan[0].single_data.names, chejan[0].single_data.values))
    assert order["종목코드"] == "005930" and order["계좌번호"] == account and order["주문번호"]
    assert MessageToDict(chejan[0], preserving_proto_field_name=True)["name"] == "OnReceiveChejanData"


def test_older_context_name(broker):
    with KiwoomOpenApiContext(broker.router, broker.pub) as context:
        assert context.EnsureConnected() is True and context.GetConnectState() == 1


def test_yearly_bars_and_market_lists(entrypoint):
    frame = entrypoint.GetYearlyStockDataAsDataFrame("005930", "2025-05-30", "2020-01-01", include_end=True)
    years = [d[:4] for d in frame["일자"]]
    assert years[0] == "2025" and years[-1] == "2020" and years == sorted(years, reverse=True)
    kospi = entrypoint.GetKospiCodeList()
    assert "005930" in kospi and kospi == sorted(kospi) and not set(kospi) & set(entrypoint.GetKosdaqCodeList())
