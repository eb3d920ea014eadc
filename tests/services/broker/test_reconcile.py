"""Reconciliation without I/O: opw00007 rows read as server orders, journaled orders matched to them,
the state each row reports."""
from __future__ import annotations

from datetime import datetime

from koabus.common.clock import KST
from koabus.services.broker.orders import (
    ACCEPTED,
    CANCELLED,
    CONFIRMED,
    FILLED,
    MODIFIED,
    PARTIAL,
    OrderRequest,
    OrderTracker,
)
from koabus.services.broker.reconcile import match_orders, reported_state, server_orders

ACCOUNT = "8000000011"


def _t(hhmmss: str) -> float:
    return datetime(2024, 3, 6, int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:]), tzinfo=KST).timestamp()


def _row(no, kind="+매수", code="A005930", qty=3, price=70000, filled=0, avg=0, left=None, at="100000",
         orig="0000000"):
    return {"주문번호": no, "종목번호": code, "주문구분": kind, "주문수량": str(qty), "주문단가": str(price),
            "체결수량": str(filled), "체결단가": str(avg), "주문잔량": str(qty - filled if left is None else left),
            "주문시간": at, "원주문": orig, "매매구분": "보통"}


def _sent(tracker, cid, at, number="", **kw):
    base = dict(account=ACCOUNT, code="005930", qty=3, side="buy", price=70000, hoga="00", client_order_id=cid)
    base.update(kw)
    order, _ = tracker.create(OrderRequest(**base))
    tracker.mark_sending(order, "0001")
    order.sending_t = _t(at)
    if number:
        tracker.on_trdata(order.rqname, "x", number)
    return order


def test_rows_become_server_orders():
    rows = [_row("0000010", at="10:00:01"), _row("11", kind="-매도정정", orig="0000010"),
            _row("0000012", kind="매수취소", price=0), {"주문번호": "", "주문구분": "+매수"}]
    s = server_orders(rows)
    assert [o.order_no for o in s] == ["0000010", "0000011", "0000012"]
    assert (s[0].code, s[0].side, s[0].action, s[0].time) == ("005930", "buy", "new", "100001")
    assert (s[1].side, s[1].action, s[1].orig_order_no) == ("sell", "modify", "0000010")
    assert (s[2].side, s[2].action) == ("buy", "cancel")


def test_match_by_number_then_by_content_and_time_each_server_order_once_in_journal_order():
    t = OrderTracker()
    known = _sent(t, "a", "100000", number="0000020")
    first = _sent(t, "b", "100005")
    second = _sent(t, "c", "100006")
    late = _sent(t, "d", "100030")
    server = server_orders([
        _row("0000020", at="100000"),
        _row("0000019", at="100004"),  # identical, but before b was sent: someone else's
        _row("0000021", at="100005"), _row("0000022", at="100007"),
        _row("0000023", at="100030", qty=4),  # not the same order as d (qty)
    ])
    found = match_orders([late, second, first, known], server)
    assert found[known.internal_id].order_no == "0000020"
    assert found[first.internal_id].order_no == "0000021"  # journal order: b claims first
    assert found[second.internal_id].order_no == "0000022"
    assert late.internal_id not in found
    # numbers this broker knows for other orders are never claimed by content
    again = match_orders([first], server_orders([_row("0000020", at="100006")]), known_numbers={"0000020"})
    assert again == {}


def test_each_row_reports_a_state():
    t = OrderTracker()
    new = _sent(t, "a", "100000", number="0000030")
    cancel = _sent(t, "b", "100001", action="cancel", orig_order_no="0000030", price=0)
    day = server_orders([_row("0000030", filled=1, avg=70000, left=0), _row("0000031", kind="매수취소", price=0),
                         _row("0000032", kind="+매수정정", orig="0000033"), _row("0000033", left=0),
                         _row("0000034", filled=3, avg=69900), _row("0000035", filled=1, avg=70000)])
    by_no = {s.order_no: s for s in day}
    assert reported_state(new, by_no["0000030"], day)["state"] == CANCELLED
    assert reported_state(new, by_no["0000033"], day)["state"] == MODIFIED
    assert reported_state(cancel, by_no["0000031"], day)["state"] == CONFIRMED
    filled = reported_state(new, by_no["0000034"], day)
    assert filled["state"] == FILLED and filled["fill_amount"] == 3 * 69900 and filled["remaining_qty"] == 0
    assert reported_state(new, by_no["0000035"], day)["state"] == PARTIAL
    assert reported_state(new, server_orders([_row("0000036")])[0], day)["state"] == ACCEPTED


class _Runner:
    """The broker's TR runner as the Reconciler sees it: the opw00007 query waits until the test answers."""

    def __init__(self):
        self.collectors = []

    def start_tr(self, collector, client, args, deadline):
        assert args["code"] == "opw00007" and args["all_pages"]
        self.collectors.append(collector)


class _Desk:
    def __init__(self, tracker):
        self.tracker = tracker
        self.delivered = []

    def on_reconciled(self, events):
        self.delivered += events


def test_an_order_that_ends_while_the_query_waits_still_takes_the_fills_only_the_account_shows():
    """Restored open with 0 of 3 filled; a fill of 1 happened while the broker was away (its chejan lost).
    The reconciliation's query waits in the pacer while the last fill's chejan (2, remaining 0, a per-fill
    체결량) ends the order: the account's row, older or newer, still brings the lost fill in."""
    from types import SimpleNamespace

    from koabus.services.broker.reconcile import Reconciler

    t = OrderTracker()
    order = _sent(t, "a", "100000", number="0000040")
    t.on_order_chejan({9201: ACCOUNT, 9203: "0000040", 9001: "A005930", 913: "접수", 900: "3", 902: "3"})
    runner, desk = _Runner(), _Desk(t)
    core = SimpleNamespace(trs=runner, settings=SimpleNamespace(tr_timeout_s=10.0, reconcile_timeout_s=30.0))
    reconciler = Reconciler(core, desk)
    assert reconciler.busy  # restored orders wait for the first run
    reconciler.start("relogin")
    (collector,) = runner.collectors
    t.on_order_chejan({9201: ACCOUNT, 9203: "0000040", 9001: "A005930", 913: "체결", 900: "3", 902: "0",
                       909: "f2", 911: "2", 915: "2", 914: "70000"})
    assert order.state == FILLED and order.filled_qty == 2  # what the chejan alone knows
    collector.part({"multi": [_row("0000040", filled=3, avg=70000, left=0)]})
    collector.end()
    assert not reconciler.busy and reconciler.last["matched"] == 1
    assert order.state == FILLED and order.filled_qty == 3 and order.summary()["avg_fill_price"] == 70000
    assert [e["event"] for _, e in desk.delivered] == ["reconciled"]
    # a row older than the chejan (1 filled, 2 open) moves nothing back and raises no conflict
    reconciler.start("relogin")
    assert runner.collectors[1:] == []  # nothing left to check: the order is done
    t2 = OrderTracker()
    other = _sent(t2, "b", "100000", number="0000041")
    reconciler2 = Reconciler(SimpleNamespace(trs=runner, settings=core.settings), _Desk(t2))
    reconciler2.start("relogin")
    t2.on_order_chejan({9201: ACCOUNT, 9203: "0000041", 9001: "A005930", 913: "체결", 900: "3", 902: "0",
                        909: "g1", 911: "3", 915: "3", 914: "70000"})
    runner.collectors[-1].part({"multi": [_row("0000041", filled=1, avg=70000, left=2)]})
    runner.collectors[-1].end()
    assert other.state == FILLED and other.filled_qty == 3 and t2.conflicts == 0
