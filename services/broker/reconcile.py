"""Reconciliation: unfinished journaled orders checked against the account's truth after each login.

At start (orders restored from the journal) and after every re-login (chejan may have been missed
while the link was down), the broker asks the server what became of every order of the day that
may have reached it and is not final: opw00007 (계좌별주문체결내역상세: every order of the day with its
quantities, fills and order time) per account, through the broker's own TR runner and pacer. Each
journaled order is matched to a server order by its order number when known, else by account,
code, side, action, quantity, price and an order time at or after its `sending` record, each server
order claimed once, in journal order. A match refreshes the order (forward only, see
`OrderTracker.refresh`); an order that is not there is in doubt and never re-sent. Order ops wait
while this runs (`OrderDesk.hold`).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from koabus.common.clock import KST
from koabus.common.errors import Cancelled, KoabusError

from .orders import (
    ACCEPTED,
    CANCELLED,
    CONFIRMED,
    FILLED,
    IN_DOUBT,
    MODIFIED,
    PARTIAL,
    Order,
    OrderRequest,
    Reported,
    _code,
    _int,
    _norm_no,
)

log = logging.getLogger(__name__)

#: the pacer's client id for the broker's own queries
RECONCILE_CLIENT = b"\x00koabus-reconcile"
ORDER_HISTORY_TR = "opw00007"
IDLE, WAITING, RUNNING = "idle", "waiting_login", "running"


@dataclass(frozen=True)
class ServerOrder:
    """One row of opw00007: an order of the day as the server knows it."""

    order_no: str
    code: str
    side: str  # buy / sell
    action: str  # new / cancel / modify
    qty: int
    price: int
    filled_qty: int
    avg_fill_price: int
    remaining_qty: int
    time: str  # HHMMSS (KST)
    orig_order_no: str


def server_orders(rows: Sequence[Dict[str, Any]]) -> List[ServerOrder]:
    """opw00007 rows (untyped strings by Korean field name) -> ServerOrders; rows without a number are skipped."""
    out = []
    for row in rows:
        number = _norm_no(row.get("주문번호", ""))
        if not number:
            continue
        kind = str(row.get("주문구분", ""))
        side = "buy" if "매수" in kind else "sell" if "매도" in kind else ""
        action = "cancel" if "취소" in kind else "modify" if "정정" in kind else "new"
        out.append(ServerOrder(
            order_no=number, code=_code(str(row.get("종목번호", ""))), side=side, action=action,
            qty=_int(row.get("주문수량")) or 0, price=abs(_int(row.get("주문단가")) or 0),
            filled_qty=_int(row.get("체결수량")) or 0, avg_fill_price=abs(_int(row.get("체결단가")) or 0),
            remaining_qty=_int(row.get("주문잔량")) or 0,
            time="".join(ch for ch in str(row.get("주문시간", "")) if ch.isdigit())[:6].ljust(6, "0"),
            orig_order_no=_norm_no(row.get("원주문", "")),
        ))
    return out


def _same_order(request: OrderRequest, server: ServerOrder) -> bool:
    return (_code(request.code) == server.code and request.side == server.side
            and request.action == server.action and request.qty == server.qty
            and request.price == server.price
            and (request.action == "new" or _norm_no(request.orig_order_no) == server.orig_order_no))


def _hhmmss(t: Optional[float]) -> str:
    return datetime.fromtimestamp(t, KST).strftime("%H%M%S") if t is not None else "000000"


def match_orders(orders: Sequence[Order], server: Sequence[ServerOrder],
                 known_numbers: Set[str] = frozenset()) -> Dict[int, ServerOrder]:
    """internal_id -> the server order it is. By number first; then by content and time, in journal
    order, each server order claimed once (numbers in `known_numbers` belong to other orders)."""
    found: Dict[int, ServerOrder] = {}
    by_no = {s.order_no: s for s in server}
    claimed = set(known_numbers)
    for order in orders:
        if order.order_no:
            claimed.add(order.order_no)
            if order.order_no in by_no:
                found[order.internal_id] = by_no[order.order_no]
    candidates = sorted(server, key=lambda s: (s.time, s.order_no))
    waiting = sorted((o for o in orders if not o.order_no),
                     key=lambda o: (o.sending_t if o.sending_t is not None else 0.0, o.internal_id))
    for order in waiting:
        since = _hhmmss(order.sending_t)
        for candidate in candidates:
            if candidate.order_no in claimed or candidate.time < since:
                continue
            if _same_order(order.request, candidate):
                claimed.add(candidate.order_no)
                found[order.internal_id] = candidate
                break
    return found


def reported_state(order: Order, server_order: ServerOrder, day: Sequence[ServerOrder]) -> Reported:
    """What the server's row says about `order`, in the tracker's terms."""
    s = server_order
    if order.request.action == "cancel":
        state = CONFIRMED
    elif s.qty and s.filled_qty >= s.qty:
        state = FILLED
    elif s.remaining_qty > 0:
        state = PARTIAL if s.filled_qty else ACCEPTED
    elif any(o.orig_order_no == s.order_no and o.action == "modify" for o in day):
        state = MODIFIED
    else:
        state = CANCELLED
    return {"order_no": s.order_no, "state": state, "filled_qty": s.filled_qty,
            "remaining_qty": s.remaining_qty, "fill_amount": s.avg_fill_price * s.filled_qty}


class _Collector:
    """Stands in for a client's stream: gathers a TR's rows and reports once (Qt thread)."""

    def __init__(self, done: Callable[[Optional[List[Dict[str, Any]]], Optional[KoabusError]], None]):
        self._done = done
        self.rows: List[Dict[str, Any]] = []
        self.closed = False
        self.on_cancel: Optional[Callable[[], None]] = None

    def part(self, data: Any) -> None:
        if not self.closed and isinstance(data, dict):
            self.rows += [r for r in data.get("multi") or [] if isinstance(r, dict)]

    def end(self, result: Any = None) -> None:
        self._finish(self.rows, None)

    def reply(self, result: Any) -> None:
        self._finish(self.rows, None)

    def fail(self, error: BaseException) -> None:
        self._finish(None, error if isinstance(error, KoabusError) else KoabusError(str(error)))

    def detach(self) -> None:
        self._finish(None, Cancelled("the query was dropped"))

    def _finish(self, rows, error) -> None:
        if self.closed:
            return
        self.closed = True
        self._done(rows, error)


class Reconciler:
    """Runs one reconciliation at a time for the OrderDesk; `busy` while order ops must wait."""

    def __init__(self, core, desk):
        self.core = core
        self.desk = desk
        tracker = desk.tracker
        self.phase = WAITING if tracker.to_reconcile(tracker.today()) else IDLE
        self.runs = 0
        self.last: Dict[str, Any] = {}
        self._reason = ""
        self._day = ""
        self._started = 0.0
        self._answers: Dict[str, Tuple[Optional[List[Dict[str, Any]]], Optional[KoabusError]]] = {}
        self._accounts: List[str] = []
        #: the orders this run checks, fixed at its start (see `_checked`)
        self._orders: List[Order] = []

    @property
    def busy(self) -> bool:
        return self.phase != IDLE

    def state(self) -> Dict[str, Any]:
        return {"phase": self.phase, "runs": self.runs, "last": dict(self.last)}

    def start(self, reason: str) -> None:
        """Query the account of every unfinished order of today; a no-op when there is none."""
        if self.phase == RUNNING:
            return
        tracker = self.desk.tracker
        self._day = tracker.today()
        orders = tracker.to_reconcile(self._day)
        if not orders:
            self.phase = IDLE
            return
        self.phase = RUNNING
        self._reason = reason
        self._started = time.monotonic()
        self._answers = {}
        self._orders = list(orders)
        self._accounts = sorted({o.request.account for o in orders})
        log.info("reconciling %d order(s) on %d account(s) (%s)", len(orders), len(self._accounts), reason)
        for account in self._accounts:
            self._query(account)

    def _query(self, account: str) -> None:
        collector = _Collector(lambda rows, error: self._answered(account, rows, error))
        inputs = {"주문일자": self._day, "계좌번호": account, "비밀번호": "", "비밀번호입력매체구분": "00",
                  "조회구분": "1", "주식채권구분": "0", "매도수구분": "0", "종목코드": "", "시작주문번호": ""}
        args = {"code": ORDER_HISTORY_TR, "inputs": inputs, "all_pages": True, "typed": False}
        deadline = time.monotonic() + max(self.core.settings.tr_timeout_s, self.core.settings.reconcile_timeout_s)
        try:
            self.core.trs.start_tr(collector, RECONCILE_CLIENT, args, deadline)
        except KoabusError as exc:
            collector.fail(exc)

    def _answered(self, account: str, rows, error) -> None:
        if self.phase != RUNNING or account in self._answers:
            return
        self._answers[account] = (rows, error)
        if len(self._answers) == len(self._accounts):
            self._apply()

    def _checked(self, account: str) -> List[Order]:
        """The orders of `account` this run set out to check, those that ended meanwhile included: a
        chejan that arrived while the query waited (a fill that ends the order) may follow fills whose
        chejan was lost, and only the account's row has them (refresh moves forward only)."""
        tracker = self.desk.tracker
        return [o for o in self._orders if o.request.account == account and tracker.by_cid.get(o.key) is o]

    def _apply(self) -> None:
        tracker = self.desk.tracker
        events: List[Any] = []
        summary = {"reason": self._reason, "checked": 0, "matched": 0, "in_doubt": 0, "errors": {}}
        for account, (rows, error) in self._answers.items():
            orders = self._checked(account)
            summary["checked"] += len(orders)
            if error is not None:
                summary["errors"][account] = str(error)
                log.warning("reconciliation: %s could not be queried: %s", account, error)
                for order in orders:
                    if not order.order_no:
                        events += tracker.mark_in_doubt(
                            order, f"sent, no order number, and the account could not be queried ({error})")
                continue
            day = server_orders(rows or [])
            found = match_orders(orders, day, set(tracker.by_no))
            for order in orders:
                match = found.get(order.internal_id)
                if match is None:
                    events += tracker.mark_in_doubt(
                        order, f"SendOrder was called at {_hhmmss(order.sending_t)} but the order is not among "
                               f"the account's orders of {self._day} ({ORDER_HISTORY_TR})")
                    continue
                summary["matched"] += 1
                report = reported_state(order, match, day)
                if order.done:  # it ended while the query waited: the row may be older than its chejan
                    if report["filled_qty"] <= order.filled_qty:
                        continue
                    report = {k: report[k] for k in ("order_no", "filled_qty", "fill_amount")}
                events += tracker.refresh(order, report, ORDER_HISTORY_TR)
        summary["in_doubt"] = sum(1 for o in tracker.to_reconcile(self._day) if o.state == IN_DOUBT)
        summary["seconds"] = round(time.monotonic() - self._started, 3)
        self.last = summary
        self.runs += 1
        self._orders = []
        self.phase = IDLE
        log.info("reconciliation done: %s", summary)
        self.desk.on_reconciled(events)
