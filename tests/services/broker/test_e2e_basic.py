"""End to end over real sockets: hello, status, meta, TR queries, OPTKWFID, generic calls."""
from __future__ import annotations

from koabus.common.protocol import Welcome


def test_hello_and_status(stack):
    c = stack.client()
    welcome = c.hello()
    assert isinstance(welcome, Welcome)
    assert welcome.epoch == stack.broker.epoch
    status = c.result("status")
    assert status["connected"] is True
    assert status["server"] == "mock"
    assert status["epoch"] == stack.broker.epoch
    assert status["accounts"] == ["8000000011", "8000000031"]
    assert "tr" in status["pacing"] and "order" in status["pacing"]
    assert any(cl["name"] == "test" for cl in status["clients"])


def test_meta_lookups(stack):
    c = stack.client()
    tr = c.result("meta", {"kind": "tr", "key": "opt10081"})
    assert tr["input_names"] == ["종목코드", "기준일자", "수정주가구분"]
    assert c.result("meta", {"kind": "fid", "key": 10})["name_en"] == "current_price"
    assert c.result("meta", {"kind": "realtype", "key": "trade"})["name"] == "주식체결"
    final, _ = c.call("meta", {"kind": "tr", "key": "opt99999x"})
    assert final.TYPE == "ERROR" and final.kind == "NotFound"
    final, _ = c.call("meta", {"kind": "bogus", "key": 1})
    assert final.TYPE == "ERROR" and final.kind == "InvalidRequest"


def test_tr_single_page_typed(stack):
    c = stack.client()
    final, parts = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    assert final.TYPE == "END", final
    assert final.parts == len(parts) == 1
    single = parts[0].data["single"]
    assert single["종목코드"] == "005930"
    assert isinstance(single["현재가"], int) and single["현재가"] > 0  # sign resolved
    raw_final, raw_parts = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}, "typed": False})
    assert isinstance(raw_parts[0].data["single"]["현재가"], str)


def test_tr_all_pages_and_stop(stack):
    c = stack.client()
    final, parts = c.call("tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20240305"},
                                 "all_pages": True, "max_pages": 3}, timeout_s=10)
    assert final.TYPE == "END", final
    assert [p.data["page"] for p in parts] == [0, 1, 2]
    assert all(len(p.data["multi"]) == 600 for p in parts)
    assert {k: final.result[k] for k in ("pages", "rows")} == {"pages": 3, "rows": 1800}
    dates = [row["일자"] for p in parts for row in p.data["multi"]]
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == len(dates)
    # stop condition: rows older than 2024-01-01 are trimmed and paging ends on that page
    final, parts = c.call("tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20240305"},
                                 "all_pages": True, "stop": {"field": "일자", "op": "<", "value": "20240101"}},
                          timeout_s=10)
    assert final.TYPE == "END"
    rows = [row for p in parts for row in p.data["multi"]]
    assert len(parts) == 1 and rows
    assert min(r["일자"] for r in rows) >= "2024-01-01"
    assert max(r["일자"] for r in rows) <= "2024-03-05"


def test_tr_input_names_checked(stack):
    c = stack.client()
    final, _ = c.call("tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "날짜": "20240101"}})
    assert final.TYPE == "ERROR" and final.kind == "InvalidRequest"
    assert final.details["unknown"] == ["날짜"]
    assert final.details["valid"] == ["종목코드", "기준일자", "수정주가구분"]
    final, _ = c.call("tr", {"code": "opt10081", "inputs": {"종목코드": "005930"}})
    assert final.TYPE == "ERROR" and final.details["missing"] == ["기준일자"]
    final, _ = c.call("tr", {"code": "opt77777", "inputs": {}})
    assert final.TYPE == "ERROR" and final.kind == "NotFound"


def test_kwfid_chunks_by_100(stack):
    c = stack.client()
    listing = c.result("call", {"method": "GetCodeListByMarket", "args": [""]})
    listed = [x for x in listing.split(";") if x]
    assert len(listed) > 50
    codes = (listed * 3)[:130]  # the simulated market is small: repeat codes to pass 100
    final, parts = c.call("kwfid", {"codes": codes}, timeout_s=10)
    assert final.TYPE == "END", final
    assert [len(p.data["codes"]) for p in parts] == [100, 30]
    assert [p.data["codes"] for p in parts] == [codes[:100], codes[100:]]
    got = {row["종목코드"] for p in parts for row in p.data["rows"]}
    assert got == set(codes)
    assert stack.broker.core.adapter.calls["CommKwRqData"] == 2


def test_generic_call_checked_against_metadata(stack):
    c = stack.client()
    assert c.result("call", {"method": "GetMasterCodeName", "args": ["005930"]}) == "삼성전자"
    for args, why in (({"method": "GetMasterCodeName", "args": []}, "count"),
                      ({"method": "GetMasterCodeName", "args": [5930]}, "type"),
                      ({"method": "SendOrder", "args": []}, "refused"),
                      ({"method": "CommRqData", "args": ["a", "opt10001", 0, "0001"]}, "refused")):
        final, _ = c.call("call", args)
        assert final.TYPE == "ERROR" and final.kind == "InvalidRequest", (why, final)
    final, _ = c.call("call", {"method": "DeleteEverything", "args": []})
    assert final.TYPE == "ERROR" and final.kind == "NotFound"
    assert stack.broker.core.adapter.calls["SendOrder"] == 0


def test_cancel_stops_paging(stack):
    c = stack.client()
    calls = stack.broker.core.adapter.calls
    for _ in range(4):  # spend most of this second's budget: only the first page goes at once
        c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    rid = c.send("tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20240305"},
                        "all_pages": True})
    assert c.wait_for(lambda: any(m.TYPE == "PART" for m in c.messages_for(rid)), 5)
    c.cancel(rid)
    msgs = c.wait_final(rid, 5)
    assert msgs[-1].TYPE == "END" and msgs[-1].result["cancelled"] is True
    sent = calls["CommRqData"]
    stack.advance(5.0)
    assert calls["CommRqData"] == sent  # no further pages were requested
    assert stack.broker.core.trs.pending() == 0 and len(stack.broker.core.screens) == 0


def test_deadline_while_queued_times_out(stack):
    c = stack.client()
    for _ in range(5):  # use up this second's budget on the frozen clock
        c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    rid = c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "000660"}}, deadline_ms=100)
    c.pump(0.3)
    stack.advance(0.0)
    c.pump(0.2)
    stack.advance(2.0)
    msgs = c.wait_final(rid, 3)
    assert msgs[-1].TYPE == "ERROR" and msgs[-1].kind == "Timeout"


def test_idem_key_replays_the_first_answer(stack):
    c = stack.client()
    first = c.result("call", {"method": "GetMasterCodeName", "args": ["005930"]}, idem_key="k-1")
    calls = stack.broker.core.adapter.calls["GetMasterCodeName"]
    again = c.result("call", {"method": "GetMasterCodeName", "args": ["005930"]}, idem_key="k-1")
    assert again == first and stack.broker.core.adapter.calls["GetMasterCodeName"] == calls


def test_call_refuses_ui_and_session_changing_members_before_the_control(qapp):
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, spy=True)
    try:
        c = stack.client()
        own = len(stack.spy.of("KOA_Functions"))  # the broker's own at login (GetUpjongCode for its code list)
        for args, use in (({"method": "KOA_Functions", "args": ["ShowAccountWindow", ""]}, None),
                          ({"method": "KOA_Functions", "args": ["SetConditionSearchFlag", "AddPrice"]}, None),
                          ({"method": "SetInfoData", "args": ["someone"]}, None),
                          ({"method": "CommConnect", "args": []}, "login"),
                          ({"method": "CommTerminate", "args": []}, None)):
            final, _ = c.call("call", args)
            assert final.TYPE == "ERROR" and final.kind == "InvalidRequest", (args, final)
            assert final.details.get("use") == use or final.details.get("function") == args["args"][0]
        assert c.result("call", {"method": "KOA_Functions", "args": ["GetServerGubun", ""]}) == "1"
        koa = [x.args for x in stack.spy.of("KOA_Functions")[own:]]
        assert koa == [("GetServerGubun", "")]  # nothing refused reached the control
        assert not stack.spy.of("SetInfoData") and not stack.spy.of("CommTerminate")
        assert len(stack.spy.of("CommConnect")) == 1  # the broker's own login only
        assert c.result("status")["counters"]["error.InvalidRequest"] >= 5
    finally:
        stack.close()
