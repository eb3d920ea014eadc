"""Order tracking without I/O: client order id dedup, chejan correlation, lifecycle state, risk limits.

The tracker is fed what the control reports (the send's return code, OnReceiveMsg, the order
number from OnReceiveTrData, chejan gubun 0/1) and returns the lifecycle events each order's reply
stream should carry. Chejan that arrives before the order number (it happens under load) is held
and replayed once the number is known, or bound at once when the screen and code identify a single
waiting order. A client order id is written to the journal before the order is sent, so the same
id is never sent twice, even across a client retry or a broker restart.
"""
from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from koabus.common.errors import DuplicateOrder, InvalidRequest, RiskRejected

from .config import RiskSettings

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
TERMINAL = frozenset({FILLED, CANCELLED, MODIFIED, REJECTED, FAILED})

SIDES = {"buy": 1, "sell": 2}
KINDS = ("stock", "credit", "fo")
ACTIONS = ("new", "cancel", "modify")

# chejan gubun 0 FIDs
F_ACCOUNT, F_ORDER_NO, F_CODE, F_STATUS, F_QTY, F_PRICE = 9201, 9203, 9001, 913, 900, 901
F_UNFILLED, F_CUM_AMOUNT, F_ORIG_NO, F_ORDER_KIND, F_SIDE, F_TIME = 902, 903, 904, 905, 907, 908
F_FILL_NO, F_FILL_PRICE, F_FILL_QTY, F_UNIT_PRICE, F_UNIT_QTY, F_REJECT, F_SCREEN = (
    909, 910, 911, 914, 915, 919, 920)


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


@dataclass
class Order:
    """One order the broker sent (or is about to send) and what is known of it."""

    internal_id: int
    request: OrderRequest
    rqname: str
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
    #: loaded from the journal of an earlier broker run: no stream, no resend
    historical: bool = False
    #: its reply streams were ended; later balance events no longer go to it
    closed: bool = False

    @property
    def done(self) -> bool:
        return self.state in TERMINAL or (self.state == CONFIRMED and self.request.action == "cancel")

    def summary(self) -> Dict[str, Any]:
        r = self.request
        return {
            "client_order_id": r.client_order_id, "order_no": self.order_no, "state": self.state,
            "account": r.account, "code": r.code, "side": r.side, "qty": r.qty, "price": r.price,
            "hoga": r.hoga, "kind": r.kind, "action": r.action, "orig_order_no": r.orig_order_no,
            "filled_qty": self.filled_qty, "remaining_qty": self.remaining_qty,
            "avg_fill_price": (self.fill_amount // self.filled_qty) if self.filled_qty else None,
            "message": self.message, "error_code": self.error_code, "done": self.done,
        }


Event = Tuple[Order, Dict[str, Any]]


class OrderJournal:
    """Append-only JSON lines: every client order id before it is sent, then its order number/state."""

    def __init__(self, path: str):
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)

    def load(self) -> Dict[str, Dict[str, Any]]:
        records: Dict[str, Dict[str, Any]] = {}
        if not os.path.exists(self.path):
            return records
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue  # a torn last line after a crash
                cid = entry.get("client_order_id") if isinstance(entry, dict) else None
                if isinstance(cid, str) and cid:
                    records.setdefault(cid, {}).update(entry)
        return records

    def write(self, entry: Dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


class OrderTracker:
    """All orders of this broker session, indexed by client id, order number and request name."""

    def __init__(self, journal: Optional[OrderJournal] = None):
        self.journal = journal
        self._ids = itertools.count(1)
        self.by_cid: Dict[str, Order] = {}
        self.by_no: Dict[str, Order] = {}
        self.by_rq: Dict[str, Order] = {}
        self._orphans: Dict[str, List[Dict[int, str]]] = {}
        self.orphan_count = 0
        if journal is not None:
            for cid, entry in journal.load().items():
                self._restore(cid, entry)

    # -- creating --------------------------------------------------------------------------
    def create(self, request: OrderRequest) -> Tuple[Order, bool]:
        """Return (order, is_new). A known client order id with the same content is a retry."""
        cid = request.client_order_id
        if cid and cid in self.by_cid:
            existing = self.by_cid[cid]
            if existing.request.fingerprint() != request.fingerprint():
                raise DuplicateOrder(
                    f"client_order_id {cid!r} was already used for a different order",
                    details={"client_order_id": cid, "order_no": existing.order_no,
                             "state": existing.state},
                )
            return existing, False
        internal = next(self._ids)
        order = Order(internal, request, rqname=f"ord{internal}", remaining_qty=request.qty)
        if cid:
            self.by_cid[cid] = order
            if self.journal is not None:
                self.journal.write({"client_order_id": cid, "request": asdict(request), "state": QUEUED})
        self.by_rq[order.rqname] = order
        return order, True

    def find(self, client_order_id: Optional[str] = None, order_no: Optional[str] = None) -> Optional[Order]:
        if client_order_id:
            return self.by_cid.get(client_order_id)
        if order_no:
            return self.by_no.get(_norm_no(order_no))
        return None

    def open_orders(self) -> List[Order]:
        return [o for o in self.by_rq.values() if not o.done]

    # -- what the control reports ----------------------------------------------------------
    def on_send_result(self, order: Order, ret: int, message: str = "") -> List[Event]:
        if ret == 0:
            order.state = SENT
            return [self._event(order, "sent")]
        order.state = FAILED
        order.error_code = ret
        order.message = message
        self._journal_state(order)
        # `error_code`, not `code`: every event carries the summary, whose `code` is the stock code
        return [self._event(order, "rejected", error_code=ret, message=message)]

    def fail_unsent(self, order: Order, message: str) -> List[Event]:
        order.state = FAILED
        order.message = message
        self._journal_state(order)
        return [self._event(order, "rejected", message=message)]

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
                self._journal_state(order)
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

    # -- internals -------------------------------------------------------------------------
    def _bind(self, order: Order, number: str) -> List[Event]:
        events: List[Event] = []
        if not order.order_no:
            order.order_no = number
            self.by_no[number] = order
            self._journal_state(order)
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
                   if not o.order_no and o.state == SENT and o.screen == screen and _code(o.request.code) == code]
        return waiting[0] if len(waiting) == 1 else None

    def _apply(self, order: Order, raw: Dict[int, str]) -> List[Event]:
        status = raw.get(F_STATUS, "").strip()
        unfilled = _int(raw.get(F_UNFILLED))
        common = {"status": status, "time": raw.get(F_TIME, "").strip(), "order_kind": raw.get(F_ORDER_KIND, "").strip()}
        events: List[Event] = []
        if "거부" in status:
            order.state = REJECTED
            reason = raw.get(F_REJECT, "").strip()
            order.message = order.message or reason
            events.append(self._event(order, "rejected", reason=reason, **common))
        elif status == "체결":
            qty = _int(raw.get(F_UNIT_QTY)) or _int(raw.get(F_FILL_QTY)) or 0
            price = abs(_int(raw.get(F_UNIT_PRICE)) or _int(raw.get(F_FILL_PRICE)) or 0)
            order.filled_qty += qty
            order.fill_amount += qty * price
            order.had_fill = True
            if unfilled is not None:
                order.remaining_qty = unfilled
            else:
                order.remaining_qty = max(0, order.remaining_qty - qty)
            order.state = FILLED if order.remaining_qty == 0 else PARTIAL
            events.append(self._event(order, "fill", fill_no=raw.get(F_FILL_NO, "").strip(),
                                      fill_price=price, fill_qty=qty, **common))
        elif status == "확인":
            if unfilled is not None and order.request.action != "cancel":
                order.remaining_qty = unfilled
            order.state = CONFIRMED if order.request.action != "new" else order.state
            events.append(self._event(order, "confirmed", **common))
            events += self._confirm_target(order)
            if order.request.action == "modify":
                order.state = ACCEPTED  # the modify order now lives on with its own number
        else:  # 접수 or anything else: an acceptance or an update of the remaining quantity
            if unfilled is not None and order.state not in (PARTIAL,):
                order.remaining_qty = unfilled
            if order.state in (QUEUED, SENT):
                order.state = ACCEPTED
                events.append(self._event(order, "accepted", **common))
            else:
                events.append(self._event(order, "update", **common))
        if order.done:
            self._journal_state(order)
        return events

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
            self._journal_state(target)
            return [self._event(target, "cancelled", by_order_no=order.order_no,
                                cancelled_qty=order.request.qty)]
        target.state = MODIFIED
        self._journal_state(target)
        return [self._event(target, "modified", new_order_no=order.order_no)]

    def _event(self, order: Order, name: str, **extra: Any) -> Event:
        """Every lifecycle event: its name, the order's summary (order_no, client_order_id, state,
        code, quantities...), then what is particular to the event."""
        payload = {"event": name, **order.summary(), **extra}
        return order, self._record(order, payload)

    @staticmethod
    def _record(order: Order, payload: Dict[str, Any]) -> Dict[str, Any]:
        order.history.append(payload)
        return payload

    def _journal_state(self, order: Order) -> None:
        cid = order.request.client_order_id
        if self.journal is not None and cid:
            self.journal.write({"client_order_id": cid, "order_no": order.order_no, "state": order.state})

    def _restore(self, cid: str, entry: Dict[str, Any]) -> None:
        try:
            request = OrderRequest(**entry["request"])
        except (KeyError, TypeError):
            return
        internal = next(self._ids)
        state = entry.get("state", SENT)
        if state == QUEUED:  # the broker stopped between journaling and sending: treat as unknown
            state = SENT
        order = Order(internal, request, rqname=f"old{internal}", state=state,
                      order_no=_norm_no(entry.get("order_no", "")), historical=True,
                      remaining_qty=request.qty)
        self.by_cid[cid] = order
        if order.order_no:
            self.by_no[order.order_no] = order


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
