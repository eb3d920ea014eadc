"""The sans-I/O bridge: bus events -> browser messages, and the bounded, coalescing per-browser outbox."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from koabus.common.clock import KST
from koabus.services.web.bridge import Dashboard, Outbox, history_rows


def _at(hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2025, 6, 2, hh, mm, ss, tzinfo=KST)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def trade(price: int, volume: int, change: int = 300, rate: float = 0.35, cum: int = 1000):
    return {"current_price": price, "change": change, "change_rate": rate, "volume": volume, "cum_volume": cum}


def test_trade_updates_quote_and_folds_into_the_forming_candle():
    d = Dashboard(["005930"], "1m")
    d.set_names({"005930": "삼성전자"})
    out = d.on_trade("005930", trade(-86100, 10), _at(9, 5, 1))  # Kiwoom signs prices: shown without
    quote = next(m for m in out if m["t"] == "quote")
    assert (quote["k"], quote["name"], quote["price"], quote["change"]) == ("quote:005930", "삼성전자", 86100, 300)
    d.on_trade("005930", trade(86300, -5), _at(9, 5, 30))
    d.on_trade("005930", trade(86000, 7), _at(9, 5, 59))
    out = d.on_trade("005930", trade(86200, 1), _at(9, 6, 0))
    assert d.bars["005930"] == [[_ms(_at(9, 5)), 86100, 86300, 86000, 86000, 22],
                                [_ms(_at(9, 6)), 86200, 86200, 86200, 86200, 1]]
    assert out[-1] == {"t": "bar", "k": f"bar:005930:{_ms(_at(9, 6))}", "code": "005930",
                       "bar": [_ms(_at(9, 6)), 86200, 86200, 86200, 86200, 1]}


def test_a_trade_older_than_the_chart_leaves_it_alone():
    d = Dashboard(["005930"], "1m")
    d.set_history("005930", [[_ms(_at(9, 10)), 1, 2, 1, 2, 5]])
    out = d.on_trade("005930", trade(86000, 3), _at(9, 5))
    assert [m["t"] for m in out] == ["quote"]
    assert d.bars["005930"] == [[_ms(_at(9, 10)), 1, 2, 1, 2, 5]]


def test_bars_service_bars_replace_by_start_and_take_over_from_trades():
    d = Dashboard(["005930"], "1m")
    d.on_trade("005930", trade(86000, 3), _at(9, 5, 10))
    body = {"code": "005930", "interval": "1m", "start": "2025-06-02T09:05:00+09:00",
            "end": "2025-06-02T09:06:00+09:00", "open": 85900, "high": 86100, "low": 85800, "close": 86000,
            "volume": 1234, "value": 0, "trades": 9, "final": False, "carried": False}
    assert d.on_bar(body, now_s=1.0)[0]["bar"] == [_ms(_at(9, 5)), 85900, 86100, 85800, 86000, 1234]
    assert d.bars["005930"] == [[_ms(_at(9, 5)), 85900, 86100, 85800, 86000, 1234]]
    d.on_trade("005930", trade(99000, 3), _at(9, 5, 20))  # the bars service owns the candles now
    assert d.bars["005930"][-1][2] == 86100
    assert d.on_bar(dict(body, interval="5m"), 1.0) == []
    assert d.on_bar(dict(body, start="not a time"), 1.0) == []


def test_history_keeps_newer_live_bars_and_the_bar_limit():
    d = Dashboard(["005930"], "1m", max_bars=10)
    d.on_trade("005930", trade(100, 1), _at(9, 30, 5))
    rows = [[_ms(_at(9, m)), m, m, m, m, 1] for m in range(15, 31)]
    msg = d.set_history("005930", rows)[0]
    bars = msg["bars"]
    # the bar both the TR and the live trades know: the TR's open and volume, the live high/low/close
    assert len(bars) == 10 and bars[-1] == [_ms(_at(9, 30)), 30, 100, 30, 100, 1]
    assert bars[0][0] == _ms(_at(9, 21))


def test_history_rows_from_the_minute_tr_frame():
    index = pd.DatetimeIndex([pd.Timestamp("2025-06-02 09:01", tz=KST), pd.Timestamp("2025-06-02 09:00", tz=KST),
                              pd.Timestamp("2025-05-30 15:30", tz=KST)], name="체결시간")  # the TR: newest first
    frame = pd.DataFrame({"현재가": [86200, -86100, 86000], "거래량": [20, 10, 5], "시가": [86100, 86000, 86000],
                          "고가": [86300, 86200, 86000], "저가": [86100, 85900, 85900]}, index=index)
    rows = history_rows(frame, max_rows=2)
    assert rows == [[_ms(_at(9, 0)), 86000, 86200, 85900, 86100, 10], [_ms(_at(9, 1)), 86100, 86300, 86100, 86200, 20]]
    assert history_rows(frame.drop(columns=["시가"]), 5) == []


def test_book_has_ten_levels_each_side():
    values = {}
    for n in range(1, 11):
        values.update({f"ask_price_{n}": 86000 + 100 * n, f"ask_qty_{n}": n, f"bid_price_{n}": -(86000 - 100 * n),
                       f"bid_qty_{n}": 10 * n})
    book = Dashboard(["005930"]).on_book("005930", dict(values, total_ask_qty=55, total_bid_qty=550), _at(9, 5))[0]
    assert book["asks"][0] == [86100, 1] and book["asks"][9] == [87000, 10]
    assert book["bids"][0] == [85900, 10] and len(book["bids"]) == 10
    assert (book["total_ask"], book["total_bid"]) == (55, 550)


def test_chejan_tracks_open_orders_and_fills():
    d = Dashboard(["005930"])
    d.set_names({"005930": "삼성전자"})
    base = {"gubun": "0", "account": "8000000011", "code": "A005930", "order_no": "0000123"}
    accepted = {"order_status": "접수", "order_qty": 10, "order_price": 86000, "unfilled_qty": 10, "side": "+매수"}
    out = d.on_chejan(dict(base, values=accepted), _at(9, 5))
    assert out[0]["orders"][0]["name"] == "삼성전자" and out[0]["orders"][0]["unfilled"] == 10
    part = dict(accepted, order_status="체결", unfilled_qty=4, unit_fill_qty=6, unit_fill_price=86000)
    out = d.on_chejan(dict(base, values=part), _at(9, 5, 2))
    assert [m["t"] for m in out] == ["orders", "fills"]
    assert out[1]["fills"][0]["qty"] == 6 and out[0]["orders"][0]["unfilled"] == 4
    done = dict(part, unfilled_qty=0, unit_fill_qty=4)
    out = d.on_chejan(dict(base, values=done), _at(9, 5, 3))
    assert out[0]["orders"] == [] and [f["qty"] for f in out[1]["fills"]] == [4, 6]
    assert d.on_chejan(dict(base, gubun="1", values={}), None) == []  # balance chejan: not an order row


def test_health_ages_heartbeats_on_the_given_clock():
    d = Dashboard(["005930"])
    d.on_heartbeat("recorder", {"state": "running", "interval_ms": 1000, "lag_s": 0.2}, now_s=100.0)
    d.on_heartbeat("broker", {"state": "connected", "interval_ms": 1000}, now_s=101.0)
    d.on_status({"pacing": {"tr": {"queued": 2, "throttled": True, "wait_s": 1.5, "windows": []}}, "clock_s": 0})
    msg = d.health_message(now_s=103.5)
    assert [r["service"] for r in msg["services"]] == ["broker", "recorder"]
    broker, recorder = msg["services"]
    assert (broker["age_s"], broker["stale"]) == (2.5, False)
    assert (recorder["age_s"], recorder["stale"], recorder["lag_s"]) == (3.5, True, 0.2)
    assert msg["pacing"]["tr"]["throttled"] is True and msg["clock"] == "09:00:00"


def test_link_changes_are_sent_once():
    d = Dashboard(["005930"])
    assert d.set_link("ready", 7)[0]["state"] == "ready"
    assert d.set_link("ready") == []
    assert d.set_link("reconnecting")[0]["epoch"] == "7"


def test_outbox_coalesces_to_the_latest_state_per_key():
    box = Outbox(max_keys=10)
    for price in range(100):
        box.put({"t": "quote", "k": "quote:005930", "price": price})
    box.put({"t": "health", "k": "health"})
    resync, messages = box.take()
    assert not resync and [m.get("price") for m in messages] == [99, None]
    assert box.coalesced == 99 and len(box) == 0


def test_outbox_past_its_bound_asks_for_a_full_state():
    box = Outbox(max_keys=10)
    for n in range(25):
        box.put({"t": "bar", "k": f"bar:005930:{n}"})
    assert len(box) <= 10
    resync, messages = box.take()
    assert resync and messages == [] and box.overflows == 1
    box.put({"t": "quote", "k": "quote:1"})
    assert box.take() == (False, [{"t": "quote", "k": "quote:1"}])


def test_full_state_starts_with_hello_and_carries_the_selected_code():
    d = Dashboard(["005930", "000660"], trading=False)
    d.on_trade("000660", trade(236000, 1), _at(9, 5))
    kinds = [m["t"] for m in d.full_state(0.0, "000660")]
    assert kinds[:3] == ["hello", "link", "quote"] and "bars" in kinds and kinds[-1] == "health"
    assert d.full_state(0.0, "000660")[0]["trading"] is False


def test_history_rows_from_the_lakes_bars():
    frame = pd.DataFrame({"time": [pd.Timestamp("2025-06-02 09:00", tz=KST), pd.Timestamp("2025-06-02 09:01", tz=KST)],
                          "code": ["005930"] * 2, "open": [86000, 86100], "high": [86200, 86300],
                          "low": [85900, 86100], "close": [86100, 86200], "volume": [10, 20], "value": [0, 0],
                          "trades": [3, 4]})
    assert history_rows(frame, 10) == [[_ms(_at(9, 0)), 86000, 86200, 85900, 86100, 10],
                                       [_ms(_at(9, 1)), 86100, 86300, 86100, 86200, 20]]
