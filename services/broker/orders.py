"""Order tracking without I/O: journal keys and dedup, chejan correlation, forward-only lifecycle, risk.

The tracker is fed what the control reports (the send's return code, OnReceiveMsg, the order
number from OnReceiveTrData, chejan gubun 0/1) and what reconciliation reads from the account, and
returns the lifecycle events each order's reply stream should carry. Chejan that arrives before the
order number (it happens under load) is held and replayed once the number is known, or bound at once
when the screen and code identify a single waiting order.

Every order is written ahead to the journal (`journal.py`): its `request` before it is queued, a
`sending` record right before SendOrder, then every lifecycle event (state changes, fills with
quantities and prices, conflicts). A broker restarted on the same journal rebuilds each order and its
history from those records, so a retry of the same id is never sent twice and `order_status`
answers as before the crash. State only moves forward: filled quantity never decreases and a
terminal state never reopens; a report that disagrees is recorded as a `conflict` event instead.
"""
from __future__ import annotations

import itertools
import logging
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from koabus.common.clock import KST, Clock, SystemClock
from koabus.common.errors import (
    DuplicateOrder,
    InvalidRequest,
    JournalUnavailable,
    OrderInDoubt,
    RiskRejected,
)

from .config import RiskSettings
from .journal import OrderJournal

log = logging.getLogger(__name__)

# order lifecycle states
QUEUED = "queued"  # waiting for its pacing slot
SENT = "sent"  # SendOrder returned 0; no order number yet
ACCEPTED = "accepted"  # 접수
PARTIAL = "partially_filled"
FILLED = "filled"
CANCELLED = "cancelled"
MODIFIED = "modified"  # replaced by a modify order (its new number carries the rest)
CONFIRMED = "confirmed"  # a cancel/modify order confirmed (확인)
REJECTED = "rejected"
FAILED = "failed"  # never reached the server (send error, link lost before sending)
IN_DOUBT = "in_doubt"  # SendOrder may have run, but the server does not show the order: never re-sent
TERMINAL = frozenset({FILLED, CANCELLED, MODIFIED, REJECTED, FAILED})
#: how far along an order is; a report may move an order up this scale, never down
_RANK = {QUEUED: 0, SENT: 1, IN_DOUBT: 1, ACCEPTED: 2, CONFIRMED: 2, PARTIAL: 3}

NOT_SENT_AT_RESTART = "not sent: the broker stopped before sending"

SIDES = {"buy": 1, "sell": 2}
KINDS = ("stock", "credit", "fo")
ACTIONS = ("new", "cancel", "modify")

# chejan gubun 0 FIDs
F_ACCOUNT, F_ORDER_NO, F_CODE, F_STATUS, F_QTY, F_PRICE = 9201, 9203, 9001, 913, 900, 901
F_UNFILLED, F_CUM_AMOUNT, F_ORIG_NO, F_ORDER_KIND, F_SIDE, F_TIME = 902, 903, 904, 905, 907, 908
F_FILL_NO, F_FILL_PRICE, F_FILL_QTY, F_UNIT_PRICE, F_UNIT_QTY, F_REJECT, F_SCREEN = (
    909, 910, 911, 914, 915, 919, 920)


def rank(state: str) -> int:
    return 4 if state in TERMINAL else _RANK.get(state, 0)


@dataclass(frozen=True)
class OrderRequest:
    """What a client asked for; `fingerprint` decides whether a repeated client order id is a retry."""

    account: str
    code: str
    qty: int
    side: str = "buy"
    price: int = 0
    hoga: str = "00"
    kind: str = "stock"
    action: str = "new"
    orig_order_no: str = ""
    client_order_id: str = ""
    credit_gb: str = ""
    loan_date: str = ""

    def fingerprint(self) -> Tuple[Any, ...]:
        return (self.account, self.code, self.qty, self.side, self.price, self.hoga, self.kind,
                self.action, self.orig_order_no, self.credit_gb, self.loan_date)


_REQUEST_TYPES = {f.name: (int if f.name in ("qty", "price") else str) for f in fields(OrderRequest)}


def request_from_record(data: Any) -> OrderRequest:
    """The OrderRequest of a journal `request` record; ValueError when the record is not one."""
    if not isinstance(data, dict) or set(data) - set(_REQUEST_TYPES):
        raise ValueError("not an order request")
    for name, kind in _REQUEST_TYPES.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ValueError(f"order request field {name} is not {kind.__name__}")
    try:
        return OrderRequest(**data)
    except TypeError as exc:
        raise ValueError(str(exc)) from None


@dataclass
class Order:
    """One order the broker sent (or is about to send) and what is known of it."""

    internal_id: int
    request: OrderRequest
    rqname: str
    #: journal key: the client order id, or one the broker assigned ("auto-<hex>")
    key: str = ""
    #: KST trading day (YYYYMMDD) whose journal file holds its records
    day: str = ""
    screen: str = ""
    state: str = QUEUED
    order_no: str = ""
    filled_qty: int = 0
    remaining_qty: int = 0
    fill_amount: int = 0
    message: str = ""
    error_code: Optional[int] = None
    trcode: str = ""
    history: List[Dict[str, Any]] = field(default_factory=list)
    had_fill: bool = False
    #: loaded from the journal of an earlier broker run and not heard of since (no chejan yet)
    historical: bool = False
    #: its reply streams were ended; later balance events no longer go to it
    closed: bool = False
    #: its final `done` went out (or would have, to a stream): later events are `late`
    ended: bool = False
    #: the request as the client sent it (before code normalization and `qty` 0 = all remaining of a
    #: cancel were resolved): a retry of its id must repeat this. None: the same as `request`
    asked: Optional[OrderRequest] = None
    #: the `sending` record is on disk: SendOrder may have reached the server
    dispatched: bool = False
    #: broker clock (epoch s) of the last `sending` record
    sending_t: Optional[float] = None
    #: why the order is in doubt (state IN_DOUBT)
    doubt: str = ""
    #: the journal records written for it (what OrderInDoubt reports)
    records: List[Dict[str, Any]] = field(default_factory=list)
    #: fill numbers already counted (a repeated chejan is not counted twice)
    fill_nos: Set[str] = field(default_factory=set)
    #: the n-th new order of this broker process (fault injection counts these)
    seq: int = 0
    #: failed before SendOrder for a reason a retry can overcome (a restart, a journal failure)
    retry_sends: bool = False

    @property
    def done(self) -> bool:
        return self.state in TERMINAL or (self.state == CONFIRMED and self.request.action == "cancel")

    def replay(self) -> List[Dict[str, Any]]:
        """The events a retry replays: the history its live stream delivered, without `late` events
        (recorded after its `done`, e.g. the original's own 확인 after its cancel was confirmed)."""
        return [event for event in self.history if not event.get("late")]

    @property
    def resendable(self) -> bool:
        """Failed before SendOrder was called, because the broker stopped or its journal failed: a
        retry of its id is a new attempt. (Other failures, e.g. a connection loss while queued,
        are final: a retry replays them.)"""
        return self.state == FAILED and not self.dispatched and self.retry_sends

    def summary(self) -> Dict[str, Any]:
        r = self.request
        return {
            "client_order_id": r.client_order_id, "journal_key": self.key, "order_no": self.order_no,
            "state": self.state,
            "account": r.account, "code": r.code, "side": r.side, "qty": r.qty, "price": r.price,
            "hoga": r.hoga, "kind": r.kind, "action": r.action, "orig_order_no": r.orig_order_no,
            "filled_qty": self.filled_qty, "remaining_qty": self.remaining_qty,
            "avg_fill_price": (self.fill_amount // self.filled_qty) if self.filled_qty else None,
            "message": self.message, "error_code": self.error_code, "done": self.done,
        }


Event = Tuple[Order, Dict[str, Any]]
#: what a reconciliation read on the server for one order
Reported = Dict[str, Any]


class OrderTracker:
    """All orders of this broker session, indexed by journal key, order number and request name.

    `journal` None keeps orders in memory only (unit tests); the broker always passes one.
    """

    def __init__(self, journal: Optional[OrderJournal] = None, clock: Optional[Clock] = None):
        self.journal = journal
        self.clock = clock or SystemClock()
        self._ids = itertools.count(1)
        self.by_cid: Dict[str, Order] = {}
        self.by_no: Dict[str, Order] = {}
        self.by_rq: Dict[str, Order] = {}
        self._orphans: Dict[str, List[Dict[int, str]]] = {}
        self.orphan_count = 0
        self.conflicts = 0
        self.journal_errors = 0
        #: called with (order, error) when a record after the send could not be written
        self.on_journal_error: Optional[Callable[[Order, JournalUnavailable], None]] = None

    def today(self) -> str:
        return self.clock.now().strftime("%Y%m%d")

    # -- creating --------------------------------------------------------------------------
    def create(self, request: OrderRequest, asked: Optional[OrderRequest] = None) -> Tuple[Order, bool]:
        """Return (order, is_new). A known id asked for again with the same content (`asked`: the
        request as received, default `request`) is a retry (not new), unless the order never reached
        SendOrder: then the retry is a new attempt. The `request` record is on disk before this
        returns a new order (JournalUnavailable otherwise, and nothing is kept)."""
        cid = request.client_order_id
        asked = asked or request
        if cid and cid in self.by_cid:
            existing = self.by_cid[cid]
            if (existing.asked or existing.request).fingerprint() != asked.fingerprint():
                raise DuplicateOrder(
                    f"client_order_id {cid!r} was already used for a different order",
                    details={"client_order_id": cid, "order_no": existing.order_no,
                             "state": existing.state},
                )
            if existing.state == IN_DOUBT:
                raise self.in_doubt_error(existing)
            if not existing.resendable:
                return existing, False
        internal = next(self._ids)
        order = Order(internal, request, rqname=f"ord{internal}", key=cid or f"auto-{uuid.uuid4().hex}",
                      day=self.today(), remaining_qty=request.qty,
                      asked=asked if asked != request else None)
        extra = {"asked": asdict(asked)} if order.asked is not None else {}
        self._write(order, "request", request=asdict(request), **extra)  # raises JournalUnavailable
        self.by_cid[order.key] = order
        self.by_rq[order.rqname] = order
        return order, True

    def mark_sending(self, order: Order, screen: str) -> None:
        """Journal `sending` right before SendOrder; JournalUnavailable means: do not send."""
        self._write(order, "sending", screen=screen, rqname=order.rqname)
        order.dispatched = True
        order.sending_t = order.records[-1]["t"]

    def find(self, client_order_id: Optional[str] = None, order_no: Optional[str] = None) -> Optional[Order]:
        """By client order id or journal key, else by order number."""
        if client_order_id:
            return self.by_cid.get(client_order_id)
        if order_no:
            return self.by_no.get(_norm_no(order_no))
        return None

    def open_orders(self) -> List[Order]:
        return [o for o in self.by_rq.values() if not o.done]

    def in_doubt_error(self, order: Order) -> OrderInDoubt:
        sending = order.sending_t
        return OrderInDoubt(
            f"order {order.key!r} is in doubt: {order.doubt or 'its fate could not be established'}; "
            "it is never re-sent automatically (check the account's orders)",
            details={"client_order_id": order.request.client_order_id, "journal_key": order.key,
                     "request": asdict(order.request), "order_no": order.order_no, "state": order.state,
                     "reason": order.doubt, "day": order.day, "sending_t": sending,
                     "sending_time": (datetime.fromtimestamp(sending, KST).isoformat()
                                      if sending is not None else None),
                     "filled_qty": order.filled_qty, "records": order.records[-50:]},
        )

    # -- what the control reports ----------------------------------------------------------
    def on_send_result(self, order: Order, ret: int, message: str = "") -> List[Event]:
        if ret == 0:
            if order.state == QUEUED:
                order.state = SENT
            return [self._event(order, "sent")]
        order.state = FAILED
        order.error_code = ret
        order.message = message
        # `error_code`, not `code`: every event carries the summary, whose `code` is the stock code
        return [self._event(order, "rejected", error_code=ret, message=message)]

    def fail_unsent(self, order: Order, message: str, retry_sends: bool = False) -> List[Event]:
        """The order will not be sent. `retry_sends`: a retry of its id may send it (see resendable)."""
        order.state = FAILED
        order.message = message
        order.retry_sends = retry_sends
        extra = {"retry_sends": True} if retry_sends else {}
        return [self._event(order, "rejected", message=message, **extra)]

    def on_message(self, rqname: str, trcode: str, message: str) -> List[Event]:
        order = self.by_rq.get(rqname)
        if order is None:
            return []
        order.message = message
        order.trcode = trcode or order.trcode
        return [self._event(order, "message", message=message, trcode=trcode)]

    def on_trdata(self, rqname: str, trcode: str, order_no: str) -> List[Event]:
        """OnReceiveTrData for an order: its number, or none (rejected; the reason came as a message)."""
        order = self.by_rq.get(rqname)
        if order is None:
            return []
        order.trcode = trcode or order.trcode
        number = _norm_no(order_no)
        if not number:
            if order.state in (SENT, QUEUED):
                order.state = REJECTED
                return [self._event(order, "rejected", message=order.message)]
            return []
        return self._bind(order, number)

    def on_order_chejan(self, raw: Dict[int, str]) -> List[Event]:
        """Chejan gubun 0. Unknown order numbers are held until the number is bound."""
        number = _norm_no(raw.get(F_ORDER_NO, ""))
        order = self.by_no.get(number)
        if order is None:
            order = self._bind_by_screen(raw)
            if order is None:
                if number:
                    self._orphans.setdefault(number, []).append(dict(raw))
                    self.orphan_count += 1
                return []
            if not number:
                return self._apply(order, raw)
            self._orphans.setdefault(number, []).append(dict(raw))
            return self._bind(order, number)  # replays the held chejan, this one last
        return self._apply(order, raw)

    def on_balance(self, account: str, code: str, values: Dict[str, Any]) -> List[Event]:
        """Chejan gubun 1/4: goes to the streams of orders on that account and code that filled."""
        events = []
        for order in list(self.by_rq.values()):
            r = order.request
            if (order.had_fill and not order.closed and not order.historical and r.account == account
                    and _code(r.code) == _code(code)):
                events.append(self._event(order, "balance", values=values))
        return events

    # -- reconciliation --------------------------------------------------------------------
    def to_reconcile(self, day: str) -> List[Order]:
        """Orders of `day` that may have reached the server and are not final, in journal order."""
        return [o for o in self.by_rq.values()
                if o.day == day and o.dispatched and not o.done and self.by_cid.get(o.key) is o]

    def refresh(self, order: Order, reported: Reported, source: str) -> List[Event]:
        """Apply what the account shows for `order` (order_no, state, filled/remaining qty, fill
        amount), forward only: a report that would move the order back is a `conflict` event; what
        it changed is a `reconciled` event."""
        events: List[Event] = []
        number = _norm_no(reported.get("order_no", ""))
        if number and not order.order_no:
            events += self._bind(order, number)
        elif number and number != order.order_no:
            events.append(self._conflict(order, "order_no", order.order_no, number, source))
        changed = []
        filled = int(reported.get("filled_qty", order.filled_qty))
        if filled < order.filled_qty:
            events.append(self._conflict(order, "filled_qty", order.filled_qty, filled, source))
        elif filled > order.filled_qty:
            order.fill_amount = max(order.fill_amount, int(reported.get("fill_amount", 0)))
            order.filled_qty = filled
            order.had_fill = True
            changed.append("filled_qty")
        remaining = int(reported.get("remaining_qty", order.remaining_qty))
        if remaining > order.remaining_qty:
            events.append(self._conflict(order, "remaining_qty", order.remaining_qty, remaining, source))
        elif remaining < order.remaining_qty:
            order.remaining_qty = remaining
            changed.append("remaining_qty")
        state = reported.get("state", order.state)
        if state != order.state:
            if order.state in TERMINAL or rank(state) < rank(order.state):
                events.append(self._conflict(order, "state", order.state, state, source))
            else:
                order.state = state
                order.doubt = ""
                changed.append("state")
        if changed:  # a report that only confirms what is known leaves the history alone
            events.append(self._event(order, "reconciled", source=source, changed=changed))
        return events

    def mark_in_doubt(self, order: Order, reason: str) -> List[Event]:
        """SendOrder may have run but the order's fate cannot be established: never re-sent."""
        if order.done or order.state == IN_DOUBT:
            return []
        order.state = IN_DOUBT
        order.doubt = reason
        return [self._event(order, "in_doubt", reason=reason)]

    # -- restart -----------------------------------------------------------------------------
    def restore(self, day: str) -> List[Order]:
        """Rebuild the orders journaled on `day` (an earlier run of the broker); returns them.

        Orders whose `request` is on disk but no `sending` record were never sent: they fail as
        NOT_SENT_AT_RESTART, so a retry of their id sends them (once). The others keep their last
        journaled state and history; reconciliation checks the ones that are not final.
        """
        if self.journal is None:
            return []
        entries: Dict[str, List[Dict[str, Any]]] = {}
        for record in self.journal.load(day):
            key = record.get("key")
            if not isinstance(key, str) or not key:
                continue
            if record.get("rec") == "request":
                entries.pop(key, None)  # a new attempt of the same id replaces the old one
                entries[key] = [record]
            elif key in entries:
                entries[key].append(record)
        restored = []
        for key, records in entries.items():
            order = self._rebuild(key, day, records)
            if order is not None:
                restored.append(order)
        for order in restored:
            if not order.dispatched and not order.done:
                self.fail_unsent(order, NOT_SENT_AT_RESTART, retry_sends=True)
            elif order.state == QUEUED:
                order.state = SENT  # killed between `sending` and the send's result
        return restored

    def _rebuild(self, key: str, day: str, records: List[Dict[str, Any]]) -> Optional[Order]:
        try:
            request = request_from_record(records[0].get("request"))
            asked = request_from_record(records[0]["asked"]) if "asked" in records[0] else None
        except ValueError as exc:
            log.warning("order journal: skipping %r (%s)", key, exc)
            return None
        internal = next(self._ids)
        order = Order(internal, request, rqname=f"old{internal}", key=key, day=day, historical=True,
                      remaining_qty=request.qty, records=list(records), asked=asked)
        for record in records[1:]:
            kind = record.get("rec")
            if kind == "sending":
                order.dispatched = True
                order.sending_t = _number(record.get("t"))
                order.screen = str(record.get("screen", ""))
            elif kind == "event" and isinstance(record.get("event"), dict):
                self._replay(order, record)
        order.ended = order.done  # its `done` went out in the earlier run: what comes now is late
        self.by_cid[key] = order
        self.by_rq[order.rqname] = order
        if order.order_no:
            self.by_no[order.order_no] = order
        return order

    @staticmethod
    def _replay(order: Order, record: Dict[str, Any]) -> None:
        """One journaled event: back into the history, and the order's fields as they were then."""
        payload = record["event"]
        order.history.append(payload)
        for name in ("state", "message", "order_no"):
            if isinstance(payload.get(name), str):
                setattr(order, name, payload[name])
        for name in ("filled_qty", "remaining_qty"):
            if isinstance(payload.get(name), int):
                setattr(order, name, payload[name])
        if isinstance(payload.get("error_code"), int) or payload.get("error_code") is None:
            order.error_code = payload.get("error_code")
        if isinstance(record.get("fill_amount"), int):
            order.fill_amount = record["fill_amount"]
        if payload.get("event") == "fill":
            order.had_fill = True
            if payload.get("fill_no"):
                order.fill_nos.add(str(payload["fill_no"]))
        if payload.get("event") == "in_doubt":
            order.doubt = str(payload.get("reason", ""))
        order.retry_sends = payload.get("retry_sends") is True
        order.order_no = _norm_no(order.order_no)

    # -- internals -------------------------------------------------------------------------
    def _bind(self, order: Order, number: str) -> List[Event]:
        events: List[Event] = []
        if not order.order_no:
            order.order_no = number
            self.by_no[number] = order
            events.append(self._event(order, "order_no"))
        for raw in self._orphans.pop(number, []):
            events += self._apply(order, raw)
        return events

    def _bind_by_screen(self, raw: Dict[int, str]) -> Optional[Order]:
        screen = raw.get(F_SCREEN, "").strip()
        code = _code(raw.get(F_CODE, ""))
        if not screen:
            return None
        waiting = [o for o in self.by_rq.values()
                   if not o.order_no and o.state in (SENT, IN_DOUBT) and not o.historical
                   and o.screen == screen and _code(o.request.code) == code]
        return waiting[0] if len(waiting) == 1 else None

    def _apply(self, order: Order, raw: Dict[int, str]) -> List[Event]:
        """One chejan gubun 0 for `order`; forward only (see `refresh`)."""
        order.historical = False  # heard of in this run: live again
        status = raw.get(F_STATUS, "").strip()
        unfilled = _int(raw.get(F_UNFILLED))
        common = {"status": status, "time": raw.get(F_TIME, "").strip(), "order_kind": raw.get(F_ORDER_KIND, "").strip()}
        if "거부" in status:
            if order.done and order.state != REJECTED:
                return [self._conflict(order, "state", order.state, REJECTED, "chejan")]
            order.state = REJECTED
            reason = raw.get(F_REJECT, "").strip()
            order.message = order.message or reason
            return [self._event(order, "rejected", reason=reason, **common)]
        if status == "체결":
            return self._apply_fill(order, raw, unfilled, common)
        events: List[Event] = []
        if unfilled is not None and unfilled > order.remaining_qty:
            events.append(self._conflict(order, "remaining_qty", order.remaining_qty, unfilled, "chejan"))
            unfilled = None
        if status == "확인":
            if unfilled is not None and order.request.action != "cancel":
                order.remaining_qty = unfilled
            if order.request.action != "new" and not order.done:
                order.state = CONFIRMED
            events.append(self._event(order, "confirmed", **common))
            events += self._confirm_target(order)
            if order.request.action == "modify" and order.state == CONFIRMED:
                order.state = ACCEPTED  # the modify order now lives on with its own number
            return events
        # 접수 or anything else: an acceptance or an update of the remaining quantity
        if unfilled is not None:
            order.remaining_qty = unfilled
        if rank(order.state) < rank(ACCEPTED):
            order.state = ACCEPTED
            order.doubt = ""
            events.append(self._event(order, "accepted", **common))
        else:
            events.append(self._event(order, "update", **common))
        return events

    def _apply_fill(self, order: Order, raw: Dict[int, str], unfilled: Optional[int],
                    common: Dict[str, Any]) -> List[Event]:
        fill_no = raw.get(F_FILL_NO, "").strip()
        if fill_no and fill_no in order.fill_nos:
            return []  # the same fill again
        # 체결량 (911) is the order's fills so far: a fill whose chejan was lost (link down, a broker
        # killed with it queued) is counted here. Were 911 per fill, it never exceeds counted + unit.
        cumulative_qty = _int(raw.get(F_FILL_QTY)) or 0
        qty = _int(raw.get(F_UNIT_QTY)) or cumulative_qty
        price = abs(_int(raw.get(F_UNIT_PRICE)) or _int(raw.get(F_FILL_PRICE)) or 0)
        total = _int(raw.get(F_QTY)) or order.request.qty
        filled = max(order.filled_qty + qty, cumulative_qty)
        if unfilled is not None and total:
            filled = min(filled, total - unfilled)  # a fill a reconciliation already counted
        if fill_no:
            order.fill_nos.add(fill_no)
        if filled < order.filled_qty:
            return [self._conflict(order, "filled_qty", order.filled_qty, filled, "chejan")]
        added = filled - order.filled_qty
        order.filled_qty = filled
        cumulative_amount = _int(raw.get(F_CUM_AMOUNT))  # 체결누계금액 (903): the lost fills' prices too
        if added > qty and cumulative_amount is not None and cumulative_amount > order.fill_amount:
            order.fill_amount = cumulative_amount
        else:
            order.fill_amount += added * price
        order.had_fill = True
        if unfilled is not None and unfilled <= order.remaining_qty:
            order.remaining_qty = unfilled
        elif unfilled is None:
            order.remaining_qty = max(0, order.remaining_qty - added)
        if not order.done:
            order.state = FILLED if order.remaining_qty == 0 else PARTIAL
            order.doubt = ""
        return [self._event(order, "fill", fill_no=fill_no, fill_price=price, fill_qty=qty,
                            counted_qty=added, **common)]

    def _confirm_target(self, order: Order) -> List[Event]:
        """A cancel/modify order was confirmed: the original order is cancelled or replaced."""
        target = self.by_no.get(_norm_no(order.request.orig_order_no))
        if target is None or target is order or target.done:
            return []
        if order.request.action == "cancel":
            target.remaining_qty = max(0, target.remaining_qty - order.request.qty) \
                if order.request.qty else 0
            if target.remaining_qty == 0:
                target.state = CANCELLED
            return [self._event(target, "cancelled", by_order_no=order.order_no,
                                cancelled_qty=order.request.qty)]
        target.state = MODIFIED
        return [self._event(target, "modified", new_order_no=order.order_no)]

    def _conflict(self, order: Order, name: str, have: Any, reported: Any, source: str) -> Event:
        """A report that disagrees with what is known and would move the order back: not applied."""
        self.conflicts += 1
        log.warning("order %s (%s): %s reports %s=%r, known %r; not applied", order.key, order.order_no or "-",
                    source, name, reported, have)
        return self._event(order, "conflict", field=name, have=have, reported=reported, source=source)

    def _event(self, order: Order, name: str, **extra: Any) -> Event:
        """Every lifecycle event: its name, the order's summary (order_no, client_order_id, state,
        code, quantities...), then what is particular to the event. Journaled and kept in history;
        `late: true` once the order's `done` went out (order_status lists it, a retry does not replay it)."""
        payload = {"event": name, **order.summary(), **extra}
        if order.ended:
            payload["late"] = True
        order.history.append(payload)
        try:
            self._write(order, "event", event=payload, fill_amount=order.fill_amount)
        except JournalUnavailable as exc:  # after the send nothing can be undone: keep going, loudly
            self.journal_errors += 1
            log.error("order %s: %s", order.key, exc)
            if self.on_journal_error is not None:
                self.on_journal_error(order, exc)
        return order, payload

    def _write(self, order: Order, kind: str, **fields_: Any) -> None:
        record = {"rec": kind, "key": order.key, "t": self.clock.time(), **fields_}
        if self.journal is not None:
            self.journal.append(order.day, record)
        order.records.append(record)


def check_risk(request: OrderRequest, risk: RiskSettings, price_hint: Optional[int]) -> None:
    """Refuse an order the configured limits forbid (before it reaches Kiwoom)."""
    if request.action == "cancel":
        return  # cancelling always reduces risk
    if risk.trading_disabled:
        raise RiskRejected("trading is disabled in the broker's configuration")
    if risk.allowed_codes is not None and _code(request.code) not in risk.allowed_codes:
        raise RiskRejected(f"code {request.code} is not in the allowed list",
                           details={"allowed_codes": list(risk.allowed_codes)})
    if risk.max_qty is not None and request.qty > risk.max_qty:
        raise RiskRejected(f"quantity {request.qty} exceeds the limit {risk.max_qty}",
                           details={"max_qty": risk.max_qty})
    if risk.max_notional is not None:
        price = request.price or price_hint
        if not price:
            raise RiskRejected("no price to check the notional limit against (market order, price unknown)")
        notional = abs(int(price)) * request.qty
        if notional > risk.max_notional:
            raise RiskRejected(f"notional {notional} exceeds the limit {risk.max_notional}",
                               details={"max_notional": risk.max_notional, "notional": notional})


def order_request_from_args(args: Dict[str, Any], action: str = "new") -> OrderRequest:
    """Validate the `order` op arguments (types were checked by the server) into an OrderRequest."""
    side = args.get("side", "buy")
    if side not in SIDES:
        raise InvalidRequest(f"side must be 'buy' or 'sell', not {side!r}")
    kind = args.get("kind", "stock")
    if kind not in KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    qty = args.get("qty")
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 0 or (qty == 0 and action != "cancel"):
        raise InvalidRequest("qty must be a positive integer")
    price = args.get("price", 0) or 0
    if not isinstance(price, int) or isinstance(price, bool) or price < 0:
        raise InvalidRequest("price must be a non-negative integer (KRW)")
    return OrderRequest(
        account=str(args.get("account", "")), code=str(args.get("code", "")), qty=qty, side=side,
        price=price, hoga=str(args.get("hoga", "00")), kind=kind, action=action,
        orig_order_no=_norm_no(str(args.get("orig_order_no", "") or "")),
        client_order_id=str(args.get("client_order_id", "") or ""),
        credit_gb=str(args.get("credit_gb", "") or ""), loan_date=str(args.get("loan_date", "") or ""),
    )


def _norm_no(number: Any) -> str:
    """Order numbers are 7-digit zero-padded strings; '0000000' and '' mean none."""
    text = str(number or "").strip()
    if not text or not text.isdigit() or int(text) == 0:
        return ""
    return text.zfill(7)


def _code(code: str) -> str:
    text = (code or "").strip()
    if text.startswith("*"):
        text = text[1:]
    if text[:1] == "A" and len(text) == 7:
        text = text[1:]
    return text


def _number(value: Any) -> Optional[float]:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(raw: Optional[str]) -> Optional[int]:
    if raw is None:
        return None
    text = str(raw).strip().replace(",", "")
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return None
