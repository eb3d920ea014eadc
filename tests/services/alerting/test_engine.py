"""The alerting core fed Publications and explicit times: each rule kind fires exactly when it should."""
from __future__ import annotations

import itertools
import textwrap
from datetime import datetime
from typing import Any, Dict, List, Optional

import pytest

from koabus.common.client.calendar import TradingCalendar
from koabus.common.clock import KST
from koabus.common.errors import ProtocolError
from koabus.common.protocol import Publication
from koabus.services.alerting.alert import Alert
from koabus.services.alerting.engine import Engine, order_event, render, ticks_between, vi_event
from koabus.services.alerting.rules import parse_rules

_seq = itertools.count(1)
#: a regular Wednesday, and the 2025 college entrance exam day (the market opens at 10:00, closes 16:30)
DAY = (2025, 11, 12)
EXAM_DAY = (2025, 11, 13)


def ns(hour: int, minute: int, second: float = 0.0, day=DAY) -> int:
    at = datetime(*day, hour, minute, int(second), int((second % 1) * 1e6), tzinfo=KST)
    return int(at.timestamp()) * 1_000_000_000 + at.microsecond * 1000


def pub(topic: str, body: Dict[str, Any], event_ns: Optional[int] = None, recv_ns: Optional[int] = None) -> Publication:
    recv = recv_ns if recv_ns is not None else (event_ns if event_ns is not None else ns(10, 0))
    kind = {"rt": "RT", "ch": "CHEJAN", "cond": "COND"}.get(topic.split(".")[0], "SYS")
    if topic.startswith("sys.hb"):
        kind = "HB"
    n = next(_seq)
    return Publication(topic, kind, 1, n, n, event_ns, recv, body)


def trade(code: str, at_ns: int, **values: Any) -> Publication:
    return pub(f"rt.trade.{code}", {"type": "주식체결", "code": code, "values": values}, event_ns=at_ns)


def engine(text: str, **kwargs: Any) -> Engine:
    return Engine(parse_rules(textwrap.dedent(text), "t.yaml"), **kwargs)


def feed(eng: Engine, pubs: List[Publication], now_s: float = 0.0) -> List[Alert]:
    alerts: List[Alert] = []
    for p in pubs:
        alerts += eng.on_publication(p, now_s)
    return alerts


def fired(eng: Engine, p: Publication, now_s: float = 0.0) -> List[str]:
    return [a.rule for a in eng.on_publication(p, now_s)]


def run_table(eng: Engine, steps) -> None:
    """Each step: (publication, the rule ids it must fire, in order); cooldowns are off in these rules."""
    for i, (p, want) in enumerate(steps):
        got = fired(eng, p, now_s=float(i))
        assert got == want, f"step {i} ({p.topic} {p.body}): fired {got}, want {want}"


# -- realtime kinds ------------------------------------------------------------------------------------------
def test_price_above_fires_when_it_becomes_true_and_rearms_below():
    eng = engine("""
        rules:
          - {id: up, kind: price, codes: ["005930"], above: 75000, cooldown: 0}
          - {id: down, kind: price, codes: ["005930"], below: 70000, cooldown: 0}
    """)
    t = ns(10, 0)
    run_table(eng, [
        (trade("005930", t, current_price=74900), []),
        (trade("005930", t, current_price=75000), ["up"]),
        (trade("005930", t, current_price=75500), []),          # still above: no repeat
        (trade("000660", t, current_price=80000), []),          # another code
        (trade("005930", t, current_price=74000), []),          # re-arms
        (trade("005930", t, current_price=76000), ["up"]),
        (trade("005930", t, current_price=70000), ["down"]),
        (trade("005930", t, current_price=69000), []),
        (trade("005930", t, current_price=None), []),           # no price: nothing changes
        (trade("005930", t, cum_volume=5), []),
    ])


def test_price_crosses_needs_a_previous_value_and_fires_both_ways():
    eng = engine('rules:\n  - {id: x, kind: price, codes: ["005930"], crosses: 75000, cooldown: 0}\n')
    t = ns(10, 0)
    run_table(eng, [
        (trade("005930", t, current_price=76000), []),          # first value: nothing to cross from
        (trade("005930", t, current_price=74000), ["x"]),
        (trade("005930", t, current_price=73000), []),
        (trade("005930", t, current_price=75000), ["x"]),
        (trade("005930", t, current_price=75100), []),
    ])
    alert = eng.on_publication(trade("005930", t, current_price=74000), 9.0)[0]
    assert alert.values["direction"] == "down" and alert.values["previous"] == 75100


def test_change_over_pct_uses_the_change_rate_or_computes_it():
    eng = engine('rules:\n  - {id: move, kind: change, codes: "*", over_pct: 3.0, cooldown: 0}\n')
    t = ns(10, 0)
    run_table(eng, [
        (trade("005930", t, change_rate=1.0), []),
        (trade("005930", t, change_rate=3.5), ["move"]),
        (trade("005930", t, change_rate=-3.6), []),             # still over: no repeat
        (trade("005930", t, change_rate=2.0), []),
        (trade("005930", t, change_rate=-3.1), ["move"]),
        # no FID 12: computed from the price and its change (103000 - 3000 = 100000: 3%)
        (trade("000660", t, change_rate=None, current_price=102000, change=2000), []),
        (trade("000660", t, change_rate=None, current_price=103000, change=3000), ["move"]),
    ])


def test_volume_spike_compares_the_minute_with_the_window_average_in_event_time():
    eng = engine('rules:\n  - {id: vol, kind: volume_spike, codes: ["000660"], times: 5, window: 5m, cooldown: 0}\n')
    steps = []
    for minute in range(5):  # 100 shares a minute for the window, buys and sells (signed volume)
        steps.append((trade("000660", ns(10, minute, 10), volume=60), []))
        steps.append((trade("000660", ns(10, minute, 40), volume=-40), []))
    steps += [
        (trade("000660", ns(10, 5, 1), volume=-300), []),       # 300 < 5 x 100
        (trade("000660", ns(10, 5, 30), volume=200), []),       # 500: not over 5 x 100
        (trade("000660", ns(10, 5, 50), volume=1), ["vol"]),    # 501
        (trade("000660", ns(10, 5, 55), volume=900), []),       # once per minute
        (trade("005930", ns(10, 5, 56), volume=99999), []),     # not a code of the rule
    ]
    run_table(eng, steps)
    # the next minute's average includes the spike: 100 x 4 + 1401 = 1801 / 5
    alert = eng.on_publication(trade("000660", ns(10, 6, 5), volume=2000), 50.0)
    assert alert and alert[0].values["minute_volume"] == 2000 and alert[0].values["average_volume"] == 360.2


def test_volume_spike_waits_for_a_whole_window_of_history():
    eng = engine('rules:\n  - {id: vol, kind: volume_spike, codes: ["000660"], times: 2, window: 3m, cooldown: 0}\n')
    run_table(eng, [
        (trade("000660", ns(9, 0, 5), volume=10), []),
        (trade("000660", ns(9, 1, 5), volume=10), []),
        (trade("000660", ns(9, 2, 5), volume=10_000), []),      # only 2 minutes seen: no baseline yet
        (trade("000660", ns(9, 3, 5), volume=10), []),
        (trade("000660", ns(9, 4, 5), volume=100_000), ["vol"]),
        # silent for longer than the window: history starts again, a burst after a halt is not a spike
        (trade("000660", ns(9, 20, 5), volume=10), []),
        (trade("000660", ns(9, 21, 5), volume=100_000), []),
    ])


def test_spread_counts_krx_ticks_across_price_bands():
    assert ticks_between(74900, 75100) == 2 and ticks_between(49950, 50100) == 2
    assert ticks_between(1998, 2010) == 4 and ticks_between(5000, 5000) == 0
    eng = engine('rules:\n  - {id: wide, kind: spread, codes: ["035420"], over_ticks: 3, cooldown: 0}\n')

    def best(ask, bid):
        return pub("rt.best.035420", {"type": "주식우선호가", "code": "035420", "values": {"ask": ask, "bid": bid}},
                   event_ns=ns(10, 0))
    run_table(eng, [
        (best(200500, 200000), []),                             # 1 tick of 500
        (best(201500, 200000), []),                             # 3 ticks: not over 3
        (best(202000, 200000), ["wide"]),                       # 4 ticks
        (best(202500, 200000), []),
        (best(200500, 200000), []),
        (best(199900, 199600), []),                             # 3 ticks of 100 in the band below
        (best(200000, 199600), ["wide"]),                       # 4
        (best(0, 199600), []),                                  # one side empty: no spread
    ])


def test_vi_triggered_and_released_from_the_vi_fids():
    eng = engine("""
        rules:
          - {id: vi, kind: vi, codes: "*", cooldown: 0}
          - {id: vi-off, kind: vi, codes: ["005930"], on: [released], cooldown: 0}
    """)

    def vi(topic_code, code, flag, release):
        values = {"code": code, "name": "삼성전자", "fid_9068": flag, "vi_release_time": release}
        return pub(f"rt.vi.{topic_code}", {"type": "VI발동/해제", "code": code, "values": values}, ns(10, 0))
    run_table(eng, [
        (vi("005930", "005930", "1", None), ["vi"]),
        (vi("005930", "005930", "2", "100200"), ["vi-off"]),
        (vi("_", "000660", "1", None), ["vi"]),                 # the market-wide stream: code from FID 9001
        (vi("_", "000660", "", None), ["vi"]),                  # no 9068: no release time means triggered
    ])
    assert vi_event({"vi_release_time": "10:02:00"}) == "released"
    alert = eng.on_publication(vi("005930", "005930", "1", None), 9.0)[0]
    assert alert.text == "삼성전자 005930 VI triggered" and alert.code == "005930"


# -- condition search, orders ------------------------------------------------------------------------------
def test_condition_added_and_removed_by_name_or_index():
    eng = engine("""
        rules:
          - {id: new, kind: condition, condition: golden, on: [added], cooldown: 0}
          - {id: gone, kind: condition, condition: 7, on: [removed], cooldown: 0}
    """)

    def cond(index, name, code, kind):
        return pub(f"cond.{index}", {"index": index, "name": name, "code": code, "kind": kind}, ns(10, 0))
    run_table(eng, [
        (cond(7, "golden", "005930", "I"), ["new"]),
        (cond(7, "golden", "005930", "D"), ["gone"]),
        (cond(3, "golden", "000660", "I"), ["new"]),            # by name
        (cond(3, "golden", "000660", "D"), []),                 # index 3 is not 7
        (cond(8, "silver", "000660", "I"), []),
    ])


def _order(status: str, unfilled: Optional[int], account: str = "8000000011", reason: str = "") -> Publication:
    values = {"account": account, "order_no": "0000123", "code": "005930", "name": "삼성전자", "order_status": status,
              "order_qty": 10, "unfilled_qty": unfilled, "fill_qty": 5, "fill_price": 75000, "reject_reason": reason}
    body = {"gubun": "0", "account": account, "code": "005930", "order_no": "0000123", "client_order_id": "c-1",
            "values": values, "raw": {"913": status}}
    return pub(f"ch.{account}.order", body, event_ns=ns(10, 0))


def test_order_filled_partial_and_rejected_from_chejan():
    eng = engine("""
        rules:
          - {id: fills, kind: order, on: [filled, partial], cooldown: 0}
          - {id: refused, kind: order, on: [rejected], accounts: ["8000000011"], cooldown: 0}
    """)
    run_table(eng, [
        (_order("접수", 10), []),
        (_order("체결", 5), ["fills"]),                          # partial
        (_order("체결", 0), ["fills"]),                          # filled
        (_order("확인", 0), []),
        (_order("거부", 10, reason="주문가능금액 부족"), ["refused"]),
        (_order("거부", 10, account="8000000099"), []),        # not an account of the rule
    ])
    assert order_event({"order_status": "체결", "unfilled_qty": 3}, {})[0] == "partial"
    alert = eng.on_publication(_order("거부", 10, reason="주문가능금액 부족"), 9.0)[0]
    assert alert.values["event"] == "rejected" and "주문가능금액 부족" in alert.text
    assert alert.dedup_key == "refused:0000123:c-1:rejected"
    # a balance event on the same account is not an order event
    assert fired(eng, pub("ch.8000000011.balance", {"gubun": "1", "values": {}})) == []


# -- system, heartbeats ------------------------------------------------------------------------------------
def test_system_connection_throttle_and_recorder_gaps_and_lag():
    eng = engine("""
        rules:
          - {id: sys, kind: system, on: [disconnected, restored, throttled, recorder_gap, recorder_lag],
             lag_over: 10s, cooldown: 0}
    """)

    def rec(gaps, lag_s):
        return pub("sys.hb.recorder", {"service": "recorder", "state": "running", "gaps": gaps, "lag_s": lag_s})
    run_table(eng, [
        (pub("sys.conn", {"state": "connected", "code": 0, "message": ""}), []),
        (pub("sys.conn", {"state": "disconnected", "code": -106, "message": "socket closed"}), ["sys"]),
        (pub("sys.conn", {"state": "reconnecting", "code": 0, "message": ""}), []),
        (pub("sys.conn", {"state": "restored", "code": 0, "message": ""}), ["sys"]),
        (pub("sys.throttle", {"state": "start", "kind": "tr", "queue_depth": 4, "wait_s": 1.2}), ["sys"]),
        (pub("sys.throttle", {"state": "end", "kind": "tr", "queue_depth": 0, "wait_s": 0}), []),
        (rec(0, 0.5), []),                                      # the first beat sets the baseline
        (rec(0, 0.5), []),
        (rec(2, 0.5), ["sys"]),                                 # two new gaps
        (rec(2, 0.5), []),
        (rec(0, 0.5), []),                                      # the recorder restarted: counter from 0
        (rec(1, 0.5), ["sys"]),
        (rec(1, 12.0), ["sys"]),                                # lag over 10 s
        (rec(1, 15.0), []),
        (rec(1, 3.0), []),
        (rec(1, 11.0), ["sys"]),
        (pub("sys.hb.bars", {"service": "bars", "state": "running", "gaps": 5, "lag_s": 99}), []),
    ])
    alert = eng.on_publication(pub("sys.conn", {"state": "disconnected", "code": -106, "message": "socket closed"}),
                               99.0)[0]
    assert alert.text == "disconnected: disconnected socket closed" and alert.code == ""


def test_heartbeat_missing_fires_once_per_silence_on_tick():
    eng = engine("""
        rules:
          - {id: hb, kind: heartbeat, services: ["*"], missing_for: 5s, cooldown: 0}
          - {id: hb-rec, kind: heartbeat, services: [recorder], missing_for: 30s, cooldown: 0}
    """)

    def beat(service, state="running"):
        return pub(f"sys.hb.{service}" if service != "broker" else "sys.hb", {"service": service, "state": state})
    assert eng.on_tick(100.0) == []                             # nothing seen: nothing missing
    feed(eng, [beat("recorder"), beat("broker")], now_s=100.0)
    assert eng.on_tick(104.0) == []
    alerts = eng.on_tick(106.0)
    assert sorted(a.values["service"] for a in alerts) == ["broker", "recorder"] and {a.rule for a in alerts} == {"hb"}
    assert eng.on_tick(107.0) == []                             # once per silence
    feed(eng, [beat("broker")], now_s=108.0)
    assert [a.values["service"] for a in eng.on_tick(114.0)] == ["broker"]   # silent again
    assert [(a.rule, a.values["service"]) for a in eng.on_tick(131.0)] == [("hb-rec", "recorder")]
    feed(eng, [beat("relay", state="stopped")], now_s=140.0)    # a clean stop is not missing
    assert [a.values["service"] for a in eng.on_tick(200.0)] == []


# -- cooldown, dedup, scope ----------------------------------------------------------------------------------
def test_cooldown_holds_per_dedup_key():
    eng = engine('rules:\n  - {id: up, kind: price, codes: "*", above: 100, cooldown: 60s}\n')
    t = ns(10, 0)
    assert fired(eng, trade("005930", t, current_price=101), now_s=0.0) == ["up"]
    assert fired(eng, trade("000660", t, current_price=101), now_s=1.0) == ["up"]  # its own key
    eng.on_publication(trade("005930", t, current_price=99), 2.0)
    assert fired(eng, trade("005930", t, current_price=101), now_s=30.0) == []     # re-armed, cooling down
    eng.on_publication(trade("005930", t, current_price=99), 31.0)
    assert fired(eng, trade("005930", t, current_price=101), now_s=60.5) == ["up"]
    assert eng.counters["cooldown"] == 1


def test_a_shared_dedup_key_lets_one_event_alert_once():
    eng = engine("""
        defaults: {cooldown: 5m}
        rules:
          - {id: a, kind: price, codes: ["005930"], above: 100, dedup: "{code}"}
          - {id: b, kind: change, codes: ["005930"], over_pct: 5, dedup: "{code}"}
          - {id: c, kind: change, codes: ["005930"], over_pct: 5}
    """)
    alerts = eng.on_publication(trade("005930", ns(10, 0), current_price=110, change_rate=10.0), 0.0)
    assert [(a.rule, a.dedup_key) for a in alerts] == [("a", "005930"), ("c", "c:005930")]


def test_between_scopes_by_event_time_and_unseen_events_leave_no_state():
    eng = engine('rules:\n  - {id: up, kind: price, codes: ["005930"], above: 100, between: ["09:00", "15:30"], cooldown: 0}\n')
    run_table(eng, [
        (trade("005930", ns(8, 55), current_price=120), []),    # before the window: not seen
        (trade("005930", ns(9, 0, 1), current_price=120), ["up"]),
        (trade("005930", ns(15, 29), current_price=90), []),
        (trade("005930", ns(15, 31), current_price=130), []),
    ])
    night = engine('rules:\n  - {id: n, kind: price, codes: ["005930"], above: 1, between: ["22:00", "02:00"], cooldown: 0}\n')
    assert fired(night, trade("005930", ns(1, 0), current_price=5)) == ["n"]
    assert fired(night, trade("005930", ns(12, 0), current_price=0)) == []


@pytest.fixture(scope="module")
def calendar():
    return TradingCalendar()


def test_sessions_follow_the_calendar_including_the_exam_day_late_open(calendar):
    assert calendar.session_hours(datetime(*EXAM_DAY).date())[0].hour == 10  # what the calendar knows
    eng = engine("""
        rules:
          - {id: reg, kind: vi, codes: "*", sessions: regular, cooldown: 0}
          - {id: pre, kind: vi, codes: "*", sessions: pre, cooldown: 0}
          - {id: post, kind: vi, codes: "*", sessions: post, cooldown: 0}
    """, calendar=calendar)

    def vi(at_ns):
        return pub("rt.vi.005930", {"type": "VI발동/해제", "code": "005930", "values": {"fid_9068": "1"}}, at_ns)
    run_table(eng, [
        (vi(ns(9, 30)), ["reg"]),
        (vi(ns(8, 40)), ["pre"]),
        (vi(ns(16, 0)), ["post"]),
        (vi(ns(9, 30, day=EXAM_DAY)), ["pre"]),                 # the exam day opens at 10:00
        (vi(ns(10, 30, day=EXAM_DAY)), ["reg"]),
        (vi(ns(16, 0, day=EXAM_DAY)), ["reg"]),                 # ... and closes at 16:30
        (vi(ns(16, 45, day=EXAM_DAY)), ["post"]),
        (vi(ns(10, 30, day=(2025, 11, 15))), []),               # a Saturday
    ])


# -- state -------------------------------------------------------------------------------------------------
def test_replace_rules_keeps_the_state_of_unchanged_rules():
    text = """
        rules:
          - {id: keep, kind: price, codes: ["005930"], above: 100, cooldown: 0, message: "%s"}
          - {id: moved, kind: price, codes: ["005930"], above: %d, cooldown: 0}
    """
    eng = engine(text % ("first", 100))
    assert fired(eng, trade("005930", ns(10, 0), current_price=150)) == ["keep", "moved"]
    eng.replace_rules(parse_rules(textwrap.dedent(text % ("second {code}", 120)), "t.yaml"))
    # `keep` only changed its message: still above, no new alert; `moved` has a new level: state starts over
    alerts = eng.on_publication(trade("005930", ns(10, 1), current_price=150), 1.0)
    assert [a.rule for a in alerts] == ["moved"]
    eng.on_publication(trade("005930", ns(10, 2), current_price=90), 2.0)
    assert [a.text for a in eng.on_publication(trade("005930", ns(10, 3), current_price=150), 3.0)][0] == "second 005930"
    eng.replace_rules(())
    assert eng.rules == () and eng.on_publication(trade("005930", ns(10, 4), current_price=150), 4.0) == []


def test_state_is_bounded_per_rule_oldest_code_first():
    eng = engine('rules:\n  - {id: up, kind: price, codes: "*", above: 100, cooldown: 0}\n', max_codes=3)
    for i in range(5):
        eng.on_publication(trade(f"00000{i}", ns(10, 0), current_price=150), float(i))
    assert eng.evicted == 2
    # 000000 was forgotten: its next price above the level alerts again; 000004 is remembered
    assert fired(eng, trade("000004", ns(10, 1), current_price=150)) == []
    assert fired(eng, trade("000000", ns(10, 1), current_price=150)) == ["up"]


def test_alert_text_uses_event_values_names_and_rule_parameters():
    eng = engine("""
        rules:
          - id: samsung
            kind: price
            codes: ["005930"]
            above: 75000
            severity: critical
            message: "{name} {code} at {current_price:,} (>= {above:,}) {time}"
            title: "{rule} {name}"
            notify: [console, ops]
    """, names={"005930": "삼성전자"})
    alert = eng.on_publication(trade("005930", ns(10, 5, 7), current_price=75500), 0.0)[0]
    assert alert.text == "삼성전자 005930 at 75,500 (>= 75,000) 10:05:07"
    assert (alert.title, alert.severity, alert.notify, alert.time_ns) == (
        "samsung 삼성전자", "critical", ("console", "ops"), ns(10, 5, 7))
    assert Alert.from_body(alert.to_body()) == alert


def test_render_never_loses_an_alert_to_its_format():
    assert render("{price:,} {missing} {name}", {"price": "n/a", "name": "x"}) == "n/a  x"


def test_malformed_bodies_are_ignored():
    eng = engine("""
        rules:
          - {id: up, kind: price, codes: "*", above: 1, cooldown: 0}
          - {id: o, kind: order, cooldown: 0}
          - {id: s, kind: system, on: [recorder_gap], cooldown: 0}
    """)
    for p in (pub("rt.trade.005930", {"values": "x"}), pub("rt.trade", {}), pub("ch.1.order", {"values": 3}),
              pub("sys.hb.recorder", {"gaps": "many"}), pub("cond.1", {}), pub("alert.up", {"rule": "up"})):
        assert eng.on_publication(p, 0.0) == []
    assert fired(eng, trade("005930", ns(10, 0), current_price="5")) == ["up"]


def test_alert_bodies_are_checked():
    with pytest.raises(ProtocolError):
        Alert.from_body({"rule": "r"})
    with pytest.raises(ProtocolError):
        Alert.from_body({"rule": "r", "kind": "k", "severity": "info", "title": "t", "text": 5})
    with pytest.raises(ProtocolError):
        Alert.from_body([])
