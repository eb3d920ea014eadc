"""A recorded day played through a real broker: the same messages, in order, twice identically; TRs from
the lake or a clear refusal; orders filled at recorded prices."""
from __future__ import annotations

import pytest

from tests.services.replay.recording import (
    SESSION_DAY,
    fingerprint,
    play,
    record_session,
    replay_stack,
    write_daily_history,
    write_hand_day,
)

ACCOUNT = "8000000011"


@pytest.fixture(scope="module")
def recorded(qapp, tmp_path_factory):
    """(lake, captured publications) of one short simulated session, recorded once for the module."""
    from koabus.common.lake.schema import trading_date

    lake = tmp_path_factory.mktemp("lake")
    captured = record_session(qapp, lake)
    # the lake files a row under its exchange date, or its receive date when it has no exchange time
    # (주식우선호가): the broker stamps receive times with the wall clock, not the simulator's
    pubs = [p for p in captured if trading_date(p) == SESSION_DAY.isoformat()]
    assert len(pubs) >= 150 and {p.topic.split(".")[1] for p in pubs} == {"trade", "book"}
    return lake, pubs


@pytest.fixture
def replay(qapp, recorded):
    stack = replay_stack(qapp, recorded[0])
    try:
        yield stack
    finally:
        stack.close()


def test_replay_reproduces_the_recorded_messages_in_order(replay, recorded):
    _, recorded_pubs = recorded
    played = play(replay)
    assert fingerprint(played) == fingerprint(recorded_pubs)
    assert {p.epoch for p in played} == {replay.broker.epoch}
    assert replay.broker.epoch != recorded_pubs[0].epoch  # fresh numbers: a new broker epoch
    for topic in {p.topic for p in played}:
        seqs = [p.topic_seq for p in played if p.topic == topic]
        assert seqs == list(range(1, len(seqs) + 1))


def test_two_replays_are_identical(qapp, recorded):
    runs = []
    for _ in range(2):
        stack = replay_stack(qapp, recorded[0])
        try:
            played = play(stack)
        finally:
            stack.close()
        runs.append([(p.topic, p.topic_seq, p.body, p.event_ns) for p in played])
    assert runs[0] == runs[1] and len(runs[0]) == len(recorded[1])


def _last_trade(pubs, code, until_ns):
    trades = [p for p in pubs if p.topic == f"rt.trade.{code}" and p.event_ns <= until_ns]
    return trades[-1].body["values"]


def test_tr_answers_from_the_lake_and_refuses_clearly_without_data(replay, recorded):
    lake, recorded_pubs = recorded
    write_daily_history(lake, "005930", [
        {"date": "20240305", "open": 73000, "high": 74000, "low": 72500, "current_price": 73400,
         "volume": 1000, "trade_value": 73},
        {"date": "20240304", "open": 72000, "high": 73100, "low": 71900, "current_price": 72900,
         "volume": 900, "trade_value": 65}])
    played = play(replay)
    c = replay.client("tr")
    c.subscribe_pub("sys.msg")
    c.pump(0.2)
    final, parts = c.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})
    assert final.TYPE == "END", final
    last = _last_trade(played, "005930", int(replay.sim.clock.time() * 1e9))
    single = parts[0].data["single"]
    assert (single["현재가"], single["거래량"]) == (last["current_price"], last["cum_volume"])
    assert single["기준가"] == last["current_price"] - last["change"]

    final, parts = c.call("tr", {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20240306",
                                                                "수정주가구분": "1"}})
    assert final.TYPE == "END", final
    rows = parts[0].data["multi"]
    assert [(r["일자"], r["현재가"], r["거래량"]) for r in rows] == [("2024-03-05", 73400, 1000),
                                                                 ("2024-03-04", 72900, 900)]

    for code, inputs in (("opt10081", {"종목코드": "000660", "기준일자": "20240306", "수정주가구분": "1"}),
                         ("opt10004", {"종목코드": "005930"})):
        final, _ = c.call("tr", {"code": code, "inputs": inputs})
        assert final.TYPE == "ERROR" and final.kind == "KiwoomError" and final.code == -201, final

    def refusals():
        return [p.body["message"] for p in c.pubs_on("sys.msg") if p.body["message"].startswith("[REPLAY]")]

    assert c.wait_for(lambda: len(refusals()) >= 2, 3.0)
    messages = refusals()
    assert messages[0].startswith("[REPLAY] no daily bars of '000660'")
    assert messages[1].startswith("[REPLAY] opt10004 has no recorded data")


def test_an_order_fills_at_a_recorded_price(replay, recorded):
    _, recorded_pubs = recorded
    c = replay.client("orders")
    c.subscribe_pub("rt.trade.005930")
    c.pump(0.2)
    c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    replay.advance(5.0)
    assert c.wait_for(lambda: c.pubs_on("rt.trade.005930"), 3.0)
    last = c.pubs_on("rt.trade.005930")[-1].body["values"]["current_price"]
    final, parts = c.call("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0,
                                    "hoga": "03", "client_order_id": "replay-1"}, timeout_s=8)
    assert final.TYPE == "END" and final.result["state"] == "filled", final
    fill = [p.data for p in parts if p.data["event"] == "fill"][0]
    # the mock server fills a market order whole at the current price: the last recorded print
    assert fill["fill_price"] == last



def test_orders_without_a_recorded_book_fill_against_the_recorded_prints(qapp, tmp_path):
    write_hand_day(tmp_path, [("10:00:01", 70000, 10, 70100, 70000), ("10:00:05", 69900, -20, 70000, 69900),
                              ("10:00:09", 70100, 5, 70200, 70100)])
    stack = replay_stack(qapp, tmp_path)
    try:
        c = stack.client("orders")
        c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
        stack.advance(2.0)  # 10:00:01: the first print is past
        market = c.send("order", {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0,
                                  "hoga": "03", "client_order_id": "m-1"})
        c.wait_final(market, 5.0)  # the mock server's rule: whole, at once, at the last recorded print
        assert [f["fill_price"] for f in _fills(c, market)] == [70000]
        limit = c.send("order", {"account": ACCOUNT, "side": "sell", "code": "005930", "qty": 1, "price": 70000,
                                 "hoga": "00", "client_order_id": "l-1"})
        c.pump(0.3)
        assert not _fills(c, limit)  # no recorded book to take from: it waits for a print through it
        stack.advance(4.0)  # 10:00:05 prints 69,900: below the sell limit
        c.pump(0.3)
        assert not _fills(c, limit)
        stack.advance(4.0)  # 10:00:09 prints 70,100, through the sell limit: filled at its price
        c.wait_final(limit, 5.0)
        assert [f["fill_price"] for f in _fills(c, limit)] == [70000]
    finally:
        stack.close()


def _fills(client, rid):
    return [m.data for m in client.messages_for(rid) if m.TYPE == "PART" and m.data["event"] == "fill"]
