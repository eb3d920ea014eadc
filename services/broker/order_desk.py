"""Order desk (Qt thread): turns `order`/`cancel_order`/`modify_order` requests into paced sends.

It checks risk limits, asks the OrderTracker whether the client order id is new (a retry re-attaches
to the existing order and replays its events instead of sending again), queues the send in the
order class of the pacer, and routes what the tracker derives from OnReceiveMsg, OnReceiveTrData
and chejan to every stream attached to the order. A stream ends after the `done` event; after a
fill it first waits briefly for the balance event that follows it.

Every order is journaled ahead (`journal.py`, always on): its `request` before it is queued,
`sending` right before the SendOrder call. A broker restarted on the same journal rebuilds its
orders, and `reconcile.py` checks the unfinished ones against the account before order ops are
served again (they are held meanwhile, at most `reconcile_timeout_s`). `faults.crash_at` kills the
process with SIGKILL at a named point of the n-th order (tests only).
"""
from __future__ import annotations

import logging
import os
import re
import signal
from typing import Any, Callable, Dict, List, Optional

from koabus.common.errors import (
    Cancelled,
    InvalidRequest,
    JournalUnavailable,
    NotFound,
    Overloaded,
    Unavailable,
)
from koabus.common.protocol.constants import PubType

from .journal import OrderJournal
from .order_rules import validate_order
from .orders import (
    IN_DOUBT,
    OrderRequest,
    OrderTracker,
    check_risk,
    order_request_from_args,
)
from .pacing import ORDER, PacedCall
from .reconcile import Reconciler

log = logging.getLogger(__name__)

#: the code a server message starts with: "[RC4025] 모의투자 주문가능금액을 확인하세요."
_MSG_CODE = re.compile(r"^\s*\[([^\]]{1,16})\]")

ORDER_SCREENS = 8
ORDER_OVERLOAD_CODES = frozenset({-308, -311})
MAX_OVERLOAD_RETRIES = 5
ORDER_TYPE = {("new", "buy"): 1, ("new", "sell"): 2, ("cancel", "buy"): 3, ("cancel", "sell"): 4,
              ("modify", "buy"): 5, ("modify", "sell"): 6}
FO_KIND = {"new": 1, "modify": 2, "cancel": 3}
FO_SIDE = {"sell": "1", "buy": "2"}
FO_HOGA = {"00": "1", "03": "3", "05": "2", "06": "4", "10": "5", "20": "6", "13": "7", "23": "8",
           "16": "9", "26": "A"}


class OrderDesk:
    def __init__(self, core):
        self.core = core
        # '{date}' in the path: one journal per KST trading day; always on
        self.journal = OrderJournal(core.settings.journal_template())
        self.tracker = OrderTracker(self.journal, core.clock)
        self.tracker.on_journal_error = self._journal_error
        restored = self.tracker.restore(self.tracker.today())  # JournalUnavailable: do not start blind
        if restored:
            log.info("order journal: %d order(s) of today restored, %d to reconcile", len(restored),
                     len(self.tracker.to_reconcile(self.tracker.today())))
        self.reconciler = Reconciler(core, self)
        self._held: List[List[Any]] = []
        self._requests = 0
        self.streams: Dict[int, List[Any]] = {}
        self._balance_timers: Dict[int, Any] = {}
        self._screens: List[str] = []
        self._next_screen = 0
        self.sent = 0

    # -- requests ------------------------------------------------------------------------------
    def submit_new(self, stream, client, args: Dict[str, Any]) -> None:
        request = order_request_from_args(args, "new")
        self._submit(stream, client, request)

    def submit_change(self, stream, client, args: Dict[str, Any], action: str) -> None:
        target = self.tracker.find(args.get("client_order_id"), args.get("order_no"))
        if target is None and args.get("client_order_id") and not args.get("order_no"):
            raise NotFound(f"no order with client_order_id {args['client_order_id']!r}")
        if target is not None:
            if target.state == IN_DOUBT and not target.order_no:
                raise self.tracker.in_doubt_error(target)
            if not target.order_no:
                raise Unavailable("the original order has no order number yet; retry shortly",
                                  details={"client_order_id": target.request.client_order_id})
            code, side, kind = target.request.code, target.request.side, target.request.kind
            orig_no = target.order_no
            remaining = target.remaining_qty
        else:
            code, side, kind = args.get("code"), args.get("side"), args.get("kind", "stock")
            if not code or side not in ("buy", "sell"):
                raise InvalidRequest("an order unknown to this broker needs code and side (buy/sell)")
            orig_no, remaining = str(args["order_no"]), 0
        qty = args.get("qty", 0) or 0
        merged = {
            "account": args["account"], "code": code, "side": side, "kind": kind, "qty": qty,
            "price": args.get("price", 0) if action == "modify" else 0,
            "hoga": args.get("hoga", "00") if action == "modify" else "00",
            "client_order_id": args.get("client_order_id_new", ""), "orig_order_no": orig_no,
        }
        asked = order_request_from_args(merged, action)  # a retry is compared with this, not with
        if action == "cancel" and qty == 0:  # the quantity "all remaining" resolves to now
            merged["qty"] = remaining
        self._submit(stream, client, order_request_from_args(merged, action), asked)

    def _submit(self, stream, client, request: OrderRequest, asked: Optional[OrderRequest] = None) -> None:
        asked = asked or request  # as received, before validation normalizes it
        self._requests += 1
        seq = self._requests  # faults.crash_on_order counts every order request of this process
        known = self.tracker.find(request.client_order_id) if request.client_order_id else None
        if known is None or known.resendable:
            # price on the tick grid, code listed, account of this login... (order_rules.py)
            request = validate_order(request, self.core.master, self.core.supervisor.accounts)
            check_risk(request, self.core.settings.risk, self.core.price_hint(request.code))
            self.core.require_connected()
            self._crash_point("before_journal", seq)
        # DuplicateOrder when the id means another order, OrderInDoubt, JournalUnavailable (not sent)
        order, is_new = self.tracker.create(request, asked)
        if not is_new:
            self._reattach(stream, order)
            return
        order.seq = seq
        self._crash_point("after_journal", seq)
        self._attach(stream, order)
        call = PacedCall(ORDER, client, lambda: None, label=f"order {order.rqname}", owner=order)
        call.run = lambda: self._send(order, call)
        self.core.submit_paced(call)

    def _reattach(self, stream, order) -> None:
        """A retry of a known client order id: replay what happened, keep streaming if still live."""
        self.core.counters["order_retries"] += 1
        for event in order.replay():
            stream.part({**event, "replayed": True})
        if order.done and order.internal_id not in self.streams:
            stream.part({"event": "done", **order.summary()})
            stream.end(order.summary())
            return
        self._attach(stream, order)

    def _attach(self, stream, order) -> None:
        self.streams.setdefault(order.internal_id, []).append(stream)
        stream.on_cancel = lambda: self._detach(stream, order)

    def _detach(self, stream, order) -> None:
        streams = self.streams.get(order.internal_id, [])
        if stream in streams:
            streams.remove(stream)
        stream.end({"detached": True, **order.summary()})

    def status(self, args: Dict[str, Any]) -> Dict[str, Any]:
        order = self.tracker.find(args.get("client_order_id"), args.get("order_no"))
        if order is None:
            raise NotFound("no such order", details={k: v for k, v in args.items() if k in
                                                     ("client_order_id", "order_no")})
        return {**order.summary(), "events": list(order.history)}

    # -- sending -------------------------------------------------------------------------------
    def _send(self, order, call: PacedCall, attempt: int = 0) -> None:
        if order.done:
            return
        if not self.core.connected:
            self._fail_unsent(order, Unavailable("the control is not connected; the order was not sent"))
            return
        r = order.request
        try:
            order.screen = self._screen()
        except Overloaded as exc:  # no screen to send on: not sent, and the stream is told so (typed)
            self._fail_unsent(order, exc)
            return
        try:
            self.tracker.mark_sending(order, order.screen)  # on disk before the call
        except JournalUnavailable as exc:
            self._fail_unsent(order, exc)
            return
        adapter = self.core.adapter
        if r.kind == "fo":
            ret = adapter.send_order_fo(order.rqname, order.screen, r.account, r.code, FO_KIND[r.action],
                                        FO_SIDE[r.side], FO_HOGA.get(r.hoga, r.hoga), r.qty, str(r.price),
                                        r.orig_order_no)
        elif r.kind == "credit":
            ret = adapter.send_order_credit(order.rqname, order.screen, r.account, ORDER_TYPE[(r.action, r.side)],
                                            r.code, r.qty, r.price, r.hoga, r.credit_gb, r.loan_date,
                                            r.orig_order_no)
        else:
            ret = adapter.send_order(order.rqname, order.screen, r.account, ORDER_TYPE[(r.action, r.side)],
                                     r.code, r.qty, r.price, r.hoga, r.orig_order_no)
        self.sent += 1
        self._crash_point("after_send", order.seq)
        if ret in ORDER_OVERLOAD_CODES and call.overloads < MAX_OVERLOAD_RETRIES:
            call.overloads += 1  # not sent: safe to try again
            self.core.paced_overload(call, ret)
            return
        events = self.tracker.on_send_result(order, ret, self.core.error_text(ret) if ret else "")
        self._deliver(events)
        if ret:
            self._publish_refusal(order, str(ret), order.message)

    def _screen(self) -> str:
        if len(self._screens) < ORDER_SCREENS:
            try:
                self._screens.append(self.core.screens.allocate("order"))
            except Overloaded:
                if not self._screens:
                    raise  # not a single screen: the caller fails the order as not sent
        screen = self._screens[self._next_screen % len(self._screens)]
        self._next_screen += 1
        return screen

    # -- events --------------------------------------------------------------------------------
    def on_msg(self, rqname: str, trcode: str, message: str) -> bool:
        if rqname not in self.tracker.by_rq:
            return False
        self._deliver(self.tracker.on_message(rqname, trcode, message))
        return True

    def on_tr_data(self, rqname: str, trcode: str) -> bool:
        if rqname not in self.tracker.by_rq:
            return False
        number = self.core.adapter.get_comm_data(trcode, rqname, 0, "주문번호")
        events = self.tracker.on_trdata(rqname, trcode, number)
        self._deliver(events)
        for order, payload in events:
            if payload.get("event") == "rejected":  # the server refused it: no order number
                message = str(payload.get("message") or "")
                match = _MSG_CODE.match(message)
                self._publish_refusal(order, match.group(1) if match else "", message)
        return True

    def on_order_chejan(self, raw: Dict[int, str]) -> Optional[str]:
        """Chejan gubun 0; returns the client order id when the event belongs to a known order."""
        events = self.tracker.on_order_chejan(raw)
        self._deliver(events)
        order = events[0][0] if events else None
        return order.request.client_order_id if order is not None else None

    def on_balance(self, account: str, code: str, values: Dict[str, Any]) -> None:
        events = self.tracker.on_balance(account, code, values)
        self._deliver(events)
        for order, _ in events:
            if order.done:
                self._close(order)

    def _publish_refusal(self, order, code_msg: str, message: str) -> None:
        """`sys.reject` on the bus: a refusal concerns more than the order's own stream (alerting)."""
        r = order.request
        self.core.publish("sys.reject", PubType.SYSTEM, {
            "account": r.account, "code": r.code, "side": r.side, "qty": r.qty, "price": r.price,
            "client_order_id": r.client_order_id, "order_no": "", "code_msg": code_msg, "message": message}, None)

    # -- routing -------------------------------------------------------------------------------
    def _deliver(self, events) -> None:
        finished = []
        for order, payload in events:
            for stream in self.streams.get(order.internal_id, ()):
                stream.part(payload)
            name = payload.get("event")
            if name == "conflict":
                self.core.counters["order_conflicts"] += 1
            elif name == "order_no":
                self._crash_point("after_ack", order.seq)
            elif name == "in_doubt":
                self._fail_streams(order, self.tracker.in_doubt_error(order))
            if order.done and order not in finished:
                finished.append(order)
        for order in finished:  # closed with or without a stream: what comes later is late either way
            if order.closed:
                continue
            if order.had_fill and order.internal_id not in self._balance_timers:
                wait_s = self.core.settings.order_balance_wait_s
                self._balance_timers[order.internal_id] = self.core.wall_timer(wait_s, lambda o=order: self._close(o))
            elif not order.had_fill:
                self._close(order)

    def _close(self, order) -> None:
        timer = self._balance_timers.pop(order.internal_id, None)
        if timer is not None:
            timer.cancel()
        if order.closed:
            return
        order.closed = order.ended = True
        summary = order.summary()
        for stream in self.streams.pop(order.internal_id, ()):
            stream.part({"event": "done", **summary})
            stream.end(summary)

    def release_client(self, client_streams) -> None:
        """Detach (not cancel) the streams of a client that is gone."""
        for streams in self.streams.values():
            for stream in [s for s in streams if s in client_streams]:
                streams.remove(stream)
                stream.detach()

    def fail_unsent(self, error) -> None:
        """After a loss: orders still waiting for their pacing slot are not sent, now or ever.

        Their streams get the `rejected` event, then an `Unavailable` error (details: the summary),
        so a client can tell "never reached Kiwoom" from a rejection.
        """
        for call in self.core.pacer.remove(lambda c: c.kind == ORDER):
            order = call.owner
            if order is not None and not order.done:
                self._fail_unsent(order, error)

    def _fail_unsent(self, order, error) -> None:
        reason = str(error) or "the order was not sent"
        # the journal failed, no screen was free, or the broker is stopping: the order never reached
        # Kiwoom, so a retry of the id may send it (once)
        events = self.tracker.fail_unsent(order, f"not sent: {reason}",
                                          retry_sends=isinstance(error, (JournalUnavailable, Cancelled,
                                                                         Overloaded)))
        order.closed = order.ended = True
        streams = self.streams.pop(order.internal_id, [])
        summary = order.summary()
        kind = JournalUnavailable if isinstance(error, JournalUnavailable) else Unavailable
        failure = kind(f"order not sent: {reason}", details=summary)
        for _, payload in events:
            for stream in streams:
                stream.part(payload)
        for stream in streams:
            stream.fail(failure)

    def _fail_streams(self, order, error) -> None:
        """End the order's streams with `error` (the order itself stays known)."""
        order.closed = True
        timer = self._balance_timers.pop(order.internal_id, None)
        if timer is not None:
            timer.cancel()
        for stream in self.streams.pop(order.internal_id, ()):
            stream.fail(error)

    def _journal_error(self, order, error) -> None:
        """A record after the send could not be written: the order goes on; count it and say so."""
        self.core.counters["journal_errors"] += 1

    def _crash_point(self, point: str, seq: int) -> None:
        """faults.crash_at (tests only): a real `kill -9` of this process at a known point."""
        faults = self.core.settings.faults
        if faults.crash_at == point and seq and seq == faults.crash_on_order:
            log.critical("faults.crash_at=%s: killing the broker (order %d)", point, seq)
            for handler in logging.getLogger().handlers:
                handler.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    # -- reconciliation ------------------------------------------------------------------------
    @property
    def reconciling(self) -> bool:
        """Order ops wait: a reconciliation runs, or restored orders wait for the first one."""
        return self.reconciler.busy

    def reconcile(self, reason: str) -> None:
        """Logged in (again): check unfinished orders against the account before serving orders."""
        self.reconciler.start(reason)
        if not self.reconciler.busy:
            self.release_held()

    def hold(self, stream, run: Callable[[], None]) -> None:
        """Run an order op once reconciliation is over; after `reconcile_timeout_s` it fails instead."""
        entry: List[Any] = [stream, run, None]
        entry[2] = self.core.wall_timer(self.core.settings.reconcile_timeout_s,
                                        lambda: self._hold_expired(entry))
        self._held.append(entry)
        self.core.counters["order_ops_held"] += 1

    def _hold_expired(self, entry: List[Any]) -> None:
        if entry in self._held:
            self._held.remove(entry)
            entry[0].fail(Unavailable(
                "reconciling: the broker is checking its journaled orders against the account; retry shortly",
                details={"reconciling": True, **self.reconciler.state()}))

    def release_held(self) -> None:
        held, self._held = self._held, []
        for stream, run, timer in held:
            timer.cancel()
            if not stream.closed:
                run()

    def on_reconciled(self, events) -> None:
        """What reconciliation found, delivered to any live streams; then held ops run."""
        self._deliver(events)
        self.core.state_changed()
        self.release_held()

    def state(self) -> Dict[str, Any]:
        tracker = self.tracker
        return {"open": len(tracker.open_orders()), "known": len(tracker.by_rq),
                "sent": self.sent, "orphan_chejan": tracker.orphan_count,
                "in_doubt": sum(1 for o in tracker.by_rq.values() if o.state == IN_DOUBT),
                "conflicts": tracker.conflicts, "held": len(self._held),
                "journal": {"path": self.journal.path(tracker.today()), "writes": self.journal.writes,
                            "errors": self.journal.errors},
                "reconcile": self.reconciler.state()}
