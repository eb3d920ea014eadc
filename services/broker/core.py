"""The Qt-thread half of the broker: OCX event handlers, request dispatch, session state, pacing driver.

Everything here runs on the thread that owns the control. Event handlers copy the arguments (and
read GetCommData/GetCommRealData/GetChejanData inside the event, as the OCX demands), decode them and
hand publications and replies to the I/O thread through the Outbox; realtime events, the hot path,
go raw (stamped with their receive time) and the I/O thread decodes them. Requests arrive from the I/O
thread already validated structurally; each becomes a `Stream` that answers exactly once.
"""
from __future__ import annotations

import heapq
import logging
import time
from collections import Counter
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple, Union

from PyQt5.QtCore import QObject, QTimer

from koabus.common.errors import (
    Cancelled,
    InvalidRequest,
    KoabusError,
    NotFound,
    Timeout,
    Unavailable,
)
from koabus.common.krx_calendar import default_calendar
from koabus.common.protocol import End, ErrorReply, Part, PubType, Reply, chejan_topic, realtime_topic

from .adapter import ControlAdapter
from .channels import Outbox
from .conditions import ConditionDesk
from .config import BrokerSettings
from .decoding import ChejanDecoder, FieldTable, RealtimeDecoder, parse_fid_list, parser_for
from .master import MasterList
from .order_desk import OrderDesk
from .orders import _code
from .pacing import PacedCall, Pacer
from .realwork import RealtimeWork
from .requests import REFUSED_CALLS
from .session import RealReg, RealtimeRegistry, ScreenAllocator
from .supervision import Supervisor
from .timers import ClockTimers
from .tr import TrRunner

log = logging.getLogger(__name__)
_parse_price = parser_for("price")

_ARG_TYPES = {"QString": (str,), "int": (int,), "bool": (bool,), "QVariant": (str, int, float, bool)}
CHEJAN_TYPES = frozenset({"order", "balance", "fo_balance"})
#: realtime types that have a market-wide stream (registered with the empty code, `_` in requests)
MARKET_WIDE_TYPES = frozenset({"장시작시간", "VI발동/해제"})
ORDER_OPS = frozenset({"order", "cancel_order", "modify_order"})
#: a subscribe/unsubscribe still waiting for its control calls is answered this long before its deadline
REPLY_MARGIN_S = 0.1
#: ops that wait while journaled orders are reconciled with the account (OrderDesk.hold)
RECONCILE_HELD_OPS = ORDER_OPS | {"order_status"}


class Stream:
    """Answers one request from the Qt thread: parts then end, a reply, or an error; exactly once."""

    __slots__ = ("identity", "request_id", "op", "outbox", "parts", "closed", "on_cancel", "_registry")

    def __init__(self, identity: bytes, request_id: int, op: str, outbox: Outbox, registry: Dict):
        self.identity = identity
        self.request_id = request_id
        self.op = op
        self.outbox = outbox
        self.parts = 0
        self.closed = False
        self.on_cancel: Optional[Callable[[], None]] = None
        self._registry = registry

    def part(self, data: Any) -> None:
        if self.closed:
            return
        self.outbox.put(("R", self.identity, Part(self.request_id, self.parts, data)))
        self.parts += 1

    def end(self, result: Any = None) -> None:
        if self._close():
            self.outbox.put(("R", self.identity, End(self.request_id, self.parts, result)))

    def reply(self, result: Any) -> None:
        if self._close():
            self.outbox.put(("R", self.identity, Reply(self.request_id, result)))

    def fail(self, error: BaseException) -> None:
        if self._close():
            self.outbox.put(("R", self.identity, ErrorReply.from_exception(self.request_id, error)))

    def detach(self) -> None:
        """Stop answering (the client is gone); tells the I/O thread the request is over."""
        if self._close():
            self.outbox.put(("X", self.identity, self.request_id))

    def _close(self) -> bool:
        if self.closed:
            return False
        self.closed = True
        self._registry.pop((self.identity, self.request_id), None)
        return True


class WallTimer:
    """A cancellable single-shot timer in wall seconds (timeouts that do not follow the virtual clock)."""

    def __init__(self, parent: QObject, seconds: float, callback: Callable[[], None]):
        self._callback = callback
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._fire)
        self._timer.start(max(0, int(seconds * 1000)))

    def _fire(self) -> None:
        self._timer.deleteLater()
        try:
            self._callback()
        except Exception:
            log.exception("timer callback failed")

    def cancel(self) -> None:
        self._timer.stop()
        self._timer.deleteLater()


class BrokerCore(QObject):
    """Owns the control adapter and every piece of session state; Qt main thread only."""

    def __init__(self, control, settings: BrokerSettings, clock, catalog, outbox: Outbox):
        super().__init__()
        self.settings = settings
        self.clock = clock
        self.catalog = catalog
        self.outbox = outbox
        self.adapter = ControlAdapter(control)
        self.timers = ClockTimers(clock, parent=self)
        self.pacer = Pacer(settings.pacing, clock)
        # orders and TRs/conditions keep their reserves: realtime can never starve them (session.py)
        self.screens = ScreenAllocator(reserved={"orders": settings.screens.reserved_for_orders,
                                                 "requests": settings.screens.reserved_for_requests})
        #: codes that exist and their kind, read from the control at each login (`master.py`)
        self.master = MasterList()
        self.registry = RealtimeRegistry(self.screens, self._fids_for)
        #: SetRealReg/SetRealRemove in request order, a bounded chunk per event-loop turn (realwork.py)
        self.realtime_work = RealtimeWork(self._run_real, parent=self)
        self.rt_decoder = RealtimeDecoder(catalog, clock)
        self.chejan_decoder = ChejanDecoder(catalog)
        self.trs = TrRunner(self)
        self.orders = OrderDesk(self)
        self.conditions = ConditionDesk(self)
        self.supervisor = Supervisor(self, settings.supervision)
        self.streams: Dict[Tuple[bytes, int], Stream] = {}
        self.counters: Counter = Counter()
        self._price_text: Dict[str, str] = {}  # code -> raw current price of its last realtime event
        self._rt_routes: Dict[Tuple[str, str], Tuple[str, FieldTable, int]] = {}
        self.on_shutdown: Optional[Callable[[], None]] = None
        self._accepting = True
        self._topics: Dict[Tuple[str, str], str] = {}
        self._type_fids: Dict[str, FrozenSet[int]] = {}
        self._pace_handle = None
        self._in_pace = False
        self._deadlines = 0
        #: deadlines (time.monotonic) of calls submitted to the pacer; may hold some already run
        self._deadline_heap: List[float] = []
        self._deadline_timer: Optional[WallTimer] = None
        self._deadline_timer_at = 0.0
        #: why `account.default` cannot be used (not among the login's accounts); None when it can
        self.account_error: Optional[str] = None
        self._handlers = {
            "OnReceiveTrData": self._guard(self._on_tr_data),
            "OnReceiveRealData": self._on_real_data,
            "OnReceiveMsg": self._guard(self._on_msg),
            "OnReceiveChejanData": self._guard(self._on_chejan),
            "OnEventConnect": self._guard(self._on_event_connect),
            "OnReceiveRealCondition": self._guard(self._on_real_condition),
            "OnReceiveTrCondition": self._guard(self._on_tr_condition),
            "OnReceiveConditionVer": self._guard(self._on_condition_ver),
        }
        self._ops: Dict[str, Callable[[Stream, bytes, Dict[str, Any], Optional[float]], None]] = {
            "login": lambda s, c, a, d: self.supervisor.wait_login(s),
            "call": self._op_call,
            "tr": self.trs.start_tr,
            "kwfid": self.trs.start_kwfid,
            "subscribe": self._op_subscribe,
            "unsubscribe": self._op_unsubscribe,
            "order": lambda s, c, a, d: self.orders.submit_new(s, c, a),
            "cancel_order": lambda s, c, a, d: self.orders.submit_change(s, c, a, "cancel"),
            "modify_order": lambda s, c, a, d: self.orders.submit_change(s, c, a, "modify"),
            "order_status": lambda s, c, a, d: s.reply(self.orders.status(a)),
            "condition_load": lambda s, c, a, d: self.conditions.load(s, "load"),
            "condition_list": lambda s, c, a, d: self.conditions.load(s, "list"),
            "condition_search": lambda s, c, a, d: self.conditions.search(s, c, a["name"], a["index"], False),
            "condition_watch": lambda s, c, a, d: self.conditions.search(s, c, a["name"], a["index"], True),
            "condition_stop": lambda s, c, a, d: s.reply(
                {"stopped": self.conditions.stop(c, a["name"], a["index"])}),
            "shutdown": self._op_shutdown,
        }
        self._state_timer = QTimer(self)
        self._state_timer.timeout.connect(self.push_state)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self.adapter.connect_events(self._handlers)
        self._state_timer.start(250)
        self.push_state()
        self.supervisor.start()

    def stop_intake(self) -> None:
        self._accepting = False

    def stop(self) -> None:
        """Fail whatever is pending, stop timers, disconnect from the control's signals."""
        self._accepting = False
        error = Cancelled("the broker is shutting down")
        self.trs.fail_all(error)
        self.conditions.fail_all(error)
        self.orders.fail_unsent(error)
        self.pacer.remove(lambda c: True)
        for stream in list(self.streams.values()):
            stream.fail(error)
        self.realtime_work.clear()  # after the streams failed: an unfinished subscribe is Cancelled
        self.supervisor.stop()
        self.timers.stop()
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        self._state_timer.stop()
        self.adapter.disconnect_events(self._handlers)
        self.push_state()

    # -- services the components use -----------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.supervisor.connected

    def require_connected(self) -> None:
        if not self.connected:
            raise Unavailable(f"the control is not connected ({self.supervisor.state})",
                              details={"state": self.supervisor.state})

    def publish(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int],
                droppable: bool = False) -> None:
        self.outbox.put(("P", topic, kind, body, event_ns, time.time_ns()), droppable)

    def wall_timer(self, seconds: float, callback: Callable[[], None]) -> WallTimer:
        return WallTimer(self, seconds, callback)

    def clock_timer(self, seconds: float, callback: Callable[[], None]):
        return self.timers.call_later(seconds, callback)

    def error_text(self, code: int) -> str:
        try:
            entry = self.catalog.error(code)
            return f"{entry.message_en} ({entry.message_ko})"
        except KoabusError:
            return f"control returned {code}"

    def price_hint(self, code: str) -> Optional[int]:
        text = self._price_text.get(code)
        if text is not None:
            try:
                price = _parse_price(text)
            except (ValueError, TypeError):
                price = None
            if price:
                return price
        if not self.connected:
            return None
        text = self.adapter.get_master_last_price(code).strip()
        return abs(int(text)) if text.lstrip("+-").isdigit() else None

    def has_realtime(self) -> bool:
        return len(self.registry) > 0

    def state_changed(self) -> None:
        self.push_state()

    # -- pacing driver ---------------------------------------------------------------------------
    def submit_paced(self, call: PacedCall) -> None:
        self.pacer.submit(call)
        if call.deadline is not None:
            self._deadlines += 1
            heapq.heappush(self._deadline_heap, call.deadline)
        self._pace()

    def paced_overload(self, call: PacedCall, code: int) -> None:
        """The control refused a paced call for overload: pause that budget and queue it again."""
        self.counters[f"overload.{code}"] += 1
        wait_s = self.pacer.report_overload(call.kind)
        self.pacer.requeue_front(call)
        log.warning("control returned %s for %s; pausing %.1f s", code, call.label, wait_s)

    def _pace(self) -> None:
        if self._in_pace:
            return
        self._in_pace = True
        try:
            if self._deadlines:
                now = time.monotonic()
                for call in self.pacer.remove(lambda c: c.deadline is not None and c.deadline < now):
                    self._deadlines -= 1
                    if call.on_expired is not None:
                        call.on_expired()
            while True:
                call = self.pacer.take_next()
                if call is None:
                    break
                if call.deadline is not None:
                    self._deadlines -= 1
                try:
                    call.run()
                except Exception:
                    log.exception("paced call %s failed", call.label)
            for event in self.pacer.throttle_events():
                self.publish("sys.throttle", PubType.SYSTEM,
                             {"state": event.state, "kind": event.kind, "queue_depth": event.queue_depth,
                              "wait_s": event.wait_s}, None)
            if self._pace_handle is not None:
                self._pace_handle.cancel()
                self._pace_handle = None
            wait_s = self.pacer.next_wakeup_s()
            if wait_s is not None:
                self._pace_handle = self.timers.call_later(wait_s, self._pace)
            self._arm_deadline_timer()
        finally:
            self._in_pace = False

    def _arm_deadline_timer(self) -> None:
        """Wake the driver when the earliest queued deadline passes (a wall-clock time), so a
        request whose deadline falls before its pacing slot fails with Timeout on time."""
        heap = self._deadline_heap
        now = time.monotonic()
        while heap and heap[0] < now:
            heapq.heappop(heap)
        if not heap or not self._deadlines:
            heap.clear()
            return
        due = heap[0]
        if self._deadline_timer is not None:
            if self._deadline_timer_at <= due:
                return
            self._deadline_timer.cancel()
        self._deadline_timer_at = due
        self._deadline_timer = self.wall_timer(due - now + 0.001, self._on_deadline_timer)

    def _on_deadline_timer(self) -> None:
        self._deadline_timer = None
        self._pace()

    # -- requests from the I/O thread --------------------------------------------------------------
    def on_inbox(self, item: Tuple[Any, ...]) -> None:
        tag = item[0]
        try:
            if tag == "req":
                _, identity, rid, op, args, deadline = item
                self._request(identity, rid, op, args, deadline)
            elif tag == "cancel":
                stream = self.streams.get((item[1], item[2]))
                if stream is not None:
                    if stream.on_cancel is not None:
                        stream.on_cancel()
                    stream.end({"cancelled": True})
            elif tag == "gone":
                self._client_gone(item[1])
        except Exception:
            log.exception("handling %s failed", tag)

    def _request(self, identity: bytes, rid: int, op: str, args: Dict[str, Any],
                 deadline: Optional[float]) -> None:
        stream = Stream(identity, rid, op, self.outbox, self.streams)
        self.streams[(identity, rid)] = stream
        self.counters[f"op.{op}"] += 1
        if not self._accepting:
            stream.fail(Unavailable("the broker is shutting down"))
            return
        if deadline is not None and time.monotonic() > deadline:
            stream.fail(Timeout("the deadline passed before the request could start"))
            return
        if op in RECONCILE_HELD_OPS and self.orders.reconciling:
            self.orders.hold(stream, lambda: self._dispatch(stream, identity, op, args, deadline))
            return
        self._dispatch(stream, identity, op, args, deadline)

    def _dispatch(self, stream: Stream, identity: bytes, op: str, args: Dict[str, Any],
                  deadline: Optional[float]) -> None:
        handler = self._ops.get(op)
        try:
            if handler is None:
                raise InvalidRequest(f"unknown op {op!r}")
            if op in ORDER_OPS and self.account_error and args.get("account") == self.settings.account.default:
                raise InvalidRequest(self.account_error, details={
                    "account": self.settings.account.default, "accounts": list(self.supervisor.accounts)})
            handler(stream, identity, args, deadline)
        except KoabusError as exc:
            stream.fail(exc)
        except Exception as exc:
            log.exception("op %s failed", op)
            stream.fail(KoabusError(f"internal error in {op}: {type(exc).__name__}: {exc}"))

    def _client_gone(self, identity: bytes) -> None:
        held = self.registry.subscriptions_of(identity)
        self._apply_real(self.registry.release_client(identity))  # in chunks, behind queued work
        self._forget_released(held)
        self.conditions.release_client(identity)
        self.trs.release_client(identity)
        mine = [s for (ident, _), s in list(self.streams.items()) if ident == identity]
        self.orders.release_client(set(mine))
        for stream in mine:
            stream.detach()
        self.pacer.remove(lambda c: c.client == identity and c.kind != "order")
        self.counters["clients_released"] += 1

    def _op_shutdown(self, stream: Stream, client: bytes, args: Dict[str, Any], deadline) -> None:
        stream.reply({})
        if self.on_shutdown is not None:
            QTimer.singleShot(0, self.on_shutdown)

    # -- generic call ------------------------------------------------------------------------------
    def _op_call(self, stream: Stream, client: bytes, args: Dict[str, Any], deadline) -> None:
        method = self.catalog.method(args["method"])
        if method.name in REFUSED_CALLS:  # also checked on the I/O thread; kept as a last guard
            use, why = REFUSED_CALLS[method.name]
            raise InvalidRequest(f"{method.name} cannot be called with 'call': {why}"
                                 + (f"; use op '{use}'" if use else ""), details={"method": method.name})
        if not method.supported:
            raise InvalidRequest(f"{method.name} is not supported by the control", details={"method": method.name})
        values = list(args.get("args") or [])
        if len(values) != len(method.args):
            raise InvalidRequest(f"{method.name} takes {len(method.args)} argument(s), got {len(values)}",
                                 details={"signature": method.signature})
        for arg, value in zip(method.args, values):
            types = _ARG_TYPES.get(arg.type, (str, int, float, bool))
            if isinstance(value, bool) and bool not in types:
                ok = False
            else:
                ok = isinstance(value, types)
            if not ok:
                raise InvalidRequest(f"{method.name}: argument {arg.name} must be {arg.type}, "
                                     f"not {type(value).__name__}", details={"signature": method.signature})
        if method.needs_login:
            self.require_connected()
        result = self.adapter.call(method.signature, values)
        if isinstance(result, tuple):
            result = list(result)
        stream.reply(result)

    # -- realtime subscriptions ----------------------------------------------------------------------
    def _op_subscribe(self, stream: Stream, client: bytes, args: Dict[str, Any], deadline) -> None:
        if not args["codes"]:
            raise InvalidRequest("subscribe needs at least one code")
        types = args.get("types") or []
        fids = args.get("fids") or []
        if not types and not fids:
            raise InvalidRequest("subscribe needs 'types' (slugs or names) or 'fids'")
        names: List[str] = []
        for key in types:
            realtype = self.catalog.realtype(key)
            if realtype.slug in CHEJAN_TYPES:
                raise InvalidRequest(f"{realtype.name} arrives as chejan on ch.<account>.*; no subscription needed")
            names.append(realtype.name)
        if fids:
            unknown = [f for f in fids if not self.catalog.has_fid(f)]
            if unknown:
                raise NotFound(f"unknown FID(s) {unknown}")
            wanted = set(fids)
            names += [rt.name for rt in self.catalog.realtypes()
                      if rt.slug not in CHEJAN_TYPES and wanted & set(rt.fids) and rt.name not in names]
        # every code checked (shape, master list) before the registry or the control sees any of them
        codes = self.master.check_codes(args["codes"], market_wide=set(names) <= MARKET_WIDE_TYPES)
        # Overloaded, changing nothing, when the codes need more screens than realtime may take
        actions = self.registry.subscribe(client, codes, names, extra_fids=fids)
        topics = []
        slugs = [self.catalog.realtype(name).slug for name in names]
        for code in dict.fromkeys(codes):
            for slug in slugs:
                topics.append(self._topic(slug, code))
        # answered once its control calls have run (they may wait behind other registrations)
        self._reply_when_applied(stream, actions, deadline, lambda done: {
            "topics": topics, "registered": self.connected and done, **({} if done else {"pending": True})})
        self.push_state()

    def _op_unsubscribe(self, stream: Stream, client: bytes, args: Dict[str, Any], deadline) -> None:
        codes = args.get("codes")
        if codes is None:
            held = self.registry.subscriptions_of(client)
            actions = self.registry.release_client(client)
        else:
            types = args.get("types")
            names = [self.catalog.realtype(t).name for t in types] if types else None
            # shape only: a client may release a code the master list no longer holds
            codes = self.master.check_codes(codes, market_wide=True, listed=False)
            held = self.registry.held_by(client, codes)  # what this request can release, not all it holds
            actions = self.registry.unsubscribe(client, codes, names)
        self._forget_released(held)
        released = len(held) - len(self.registry.held_by(client, [code for code, _ in held]))
        self._reply_when_applied(stream, actions, deadline,
                                 lambda done: {"released": released, **({} if done else {"pending": True})})
        self.push_state()

    def _forget_released(self, held: List[Tuple[str, str]]) -> None:
        """Tell the I/O thread to drop the cached values of (code, type)s nobody subscribes to now.

        A later snapshot must not serve values that stopped updating when the last subscriber left
        (the control no longer sends them). Queued behind every event already handed over, so no
        older event re-fills the cache after the drop.
        """
        topics = []
        for code, type_name in held:
            if not self.registry.wanted(code, type_name):
                self._rt_routes.pop((code, type_name), None)
                entry = self.rt_decoder.table(type_name)
                if entry is not None:
                    topics.append(self._topic(entry[0], code))
        if topics:
            self.outbox.put(("F", tuple(topics)))

    def _apply_real(self, actions, then: Optional[Callable[[], None]] = None) -> None:
        """Queue the control calls (run in bounded chunks, in order); `then()` once they have run.

        Not connected: nothing to call (the registrations are replayed at login), `then()` at once.
        """
        if not self.connected:
            actions = ()
        self.realtime_work.submit(actions, then)

    def _reply_when_applied(self, stream: Stream, actions, deadline: Optional[float],
                            result: Callable[[bool], Dict[str, Any]]) -> None:
        """Queue `actions`; reply `result(True)` once they have run. If the request's deadline comes
        first, reply `result(False)` just before it: the change stands and its calls follow in order."""
        timer: List[Any] = []

        def applied() -> None:
            if timer:
                timer.pop().cancel()
            stream.reply(result(True))

        self._apply_real(actions, applied)
        if deadline is not None and not stream.closed:
            def still_queued() -> None:
                timer.clear()
                stream.reply(result(False))

            wait_s = max(0.0, deadline - time.monotonic() - REPLY_MARGIN_S)
            timer.append(self.wall_timer(wait_s, still_queued))

    def _run_real(self, action) -> None:
        """One queued registration call; skipped when the link dropped since it was queued."""
        if not self.connected:
            return
        if isinstance(action, RealReg):
            ret = self.adapter.set_real_reg(action.screen, action.codes, action.fids, action.opt)
            if ret != 0:
                self.counters["realreg_errors"] += 1
                log.warning("SetRealReg(%s, %d codes) returned %s", action.screen, len(action.codes), ret)
        else:
            self.adapter.set_real_remove(action.screen, action.code)

    def _fids_for(self, type_name: str) -> FrozenSet[int]:
        """The FID to register for a type: its most distinctive one (in the fewest other types)."""
        fids = self._type_fids.get(type_name)
        if fids is None:
            realtype = self.catalog.realtype(type_name)
            usage: Counter = Counter()
            for rt in self.catalog.realtypes():
                usage.update(set(rt.fids))
            best = min(realtype.fids, key=lambda f: (usage[f], realtype.fids.index(f)))
            fids = self._type_fids[type_name] = frozenset({best})
        return fids

    def _topic(self, slug: str, code: str) -> str:
        key = (slug, code)
        topic = self._topics.get(key)
        if topic is None:
            topic = self._topics[key] = realtime_topic(slug, code)
        return topic

    # -- supervision hooks ---------------------------------------------------------------------------
    def on_connected(self, restoring: bool) -> int:
        """(Re)logged in: check the default account, register realtime, re-issue realtime conditions."""
        self.master.load(self.adapter)
        self._check_default_account()
        actions = self.registry.restore_actions()
        self._apply_real(actions)
        watches = self.conditions.restore() if restoring else 0
        # unfinished orders checked against the account before order ops are served again
        self.orders.reconcile("relogin" if restoring else "start")
        return len(actions) + watches

    def _check_default_account(self) -> None:
        default = self.settings.account.default
        accounts = list(self.supervisor.accounts)
        if default is None or default in accounts:
            self.account_error = None
            return
        self.account_error = (f"account.default {default} is not an account of this login "
                              f"(accounts: {', '.join(accounts) or 'none'}); orders must name their account "
                              "or the setting must be fixed")
        log.error("%s", self.account_error)

    def on_lost(self, error: KoabusError) -> None:
        unavailable = Unavailable(f"the control lost its connection ({error})")
        self.realtime_work.clear()  # the control forgot every registration; the login replays them
        self.trs.fail_all(unavailable)
        self.conditions.fail_all(unavailable)
        self.orders.fail_unsent(unavailable)

    # -- OCX events ------------------------------------------------------------------------------------
    def _guard(self, handler: Callable[..., None]) -> Callable[..., None]:
        def guarded(*args: Any) -> None:
            self.supervisor.touch()
            try:
                handler(*args)
            except Exception:
                self.counters["handler_errors"] += 1
                log.exception("%s failed", handler.__name__)

        guarded.__name__ = handler.__name__
        return guarded

    def _on_real_data(self, code: str, type_name: str, payload: str) -> None:
        """The hot path: stamp, filter, hand the raw text to the I/O thread (one deque append).

        Decoding happens on the I/O thread (`IoServer`), so the control's thread returns to the
        control quickly. Only what must happen inside the event stays here: reading each FID
        with GetCommRealData when the payload does not match the metadata layout.
        """
        recv_ns = time.time_ns()
        self.supervisor.last_event_monotonic = time.monotonic()
        if not self.registry.wanted(code, type_name):
            self.counters["realtime_unwanted"] += 1
            return
        try:
            route = self._rt_routes.get((code, type_name)) or self._rt_route(code, type_name)
            if route is None:
                return
            topic, table, price_at = route
            raw: Union[str, List[str]] = payload
            if not payload or payload.count("\t") + 1 != table.size:
                # the payload does not match the metadata: read each FID as the OCX documents
                raw = [self.adapter.get_comm_real_data(code, fid) for fid in table.fids]
            if price_at >= 0 and code:
                price = raw[price_at] if isinstance(raw, list) else raw.split("\t", price_at + 1)[price_at]
                if price.strip(" +-0"):
                    self._price_text[code] = price
            self.outbox.put(("T", topic, table, code, type_name, raw, recv_ns), True)
        except Exception:
            self.counters["handler_errors"] += 1
            log.exception("realtime %s %s failed", type_name, code)

    def _rt_route(self, code: str, type_name: str) -> Optional[Tuple[str, FieldTable, int]]:
        """(topic, field table, index of current_price or -1) for a realtime type and code."""
        entry = self.rt_decoder.table(type_name)
        if entry is None:
            return None
        slug, table = entry
        price_at = table.names.index("current_price") if "current_price" in table.names else -1
        route = self._rt_routes[(code, type_name)] = (self._topic(slug, code), table, price_at)
        return route

    def _on_tr_data(self, screen: str, rqname: str, trcode: str, record: str, prev_next: str, *rest: Any) -> None:
        if rqname.startswith("ord") and self.orders.on_tr_data(rqname, trcode):
            return
        if not self.trs.on_tr_data(screen, rqname, trcode, record, prev_next):
            self.counters["tr_data_unmatched"] += 1

    def _on_msg(self, screen: str, rqname: str, trcode: str, message: str) -> None:
        if self.orders.on_msg(rqname, trcode, message) or self.trs.on_msg(screen, rqname, trcode, message):
            return
        self.publish("sys.msg", PubType.SYSTEM,
                     {"screen": screen, "rq_name": rqname, "tr_code": trcode, "message": message}, None)

    def _on_chejan(self, gubun: str, item_count: int, fid_list: str) -> None:
        fids = parse_fid_list(fid_list)
        if not fids:
            try:
                fids = list(self.catalog.chejan_fids(gubun))
            except KoabusError:
                fids = []
        raw = {fid: self.adapter.get_chejan_data(fid) for fid in fids}
        recv_ns = time.time_ns()
        stripped = {fid: value.strip() for fid, value in raw.items()}
        values = self.chejan_decoder.decode(fids, raw)
        account = stripped.get(9201, "")
        code = _code(stripped.get(9001, ""))
        client_order_id = None
        if gubun == "0":
            client_order_id = self.orders.on_order_chejan(stripped) or None
        else:
            self.orders.on_balance(account, code, values)
        topic_account = account if account.isalnum() and account.isascii() else "_"
        kind = {"0": "order", "1": "balance", "4": "fo_balance"}.get(gubun, "other")
        body = {"gubun": gubun, "account": account, "code": code, "order_no": stripped.get(9203) or None,
                "client_order_id": client_order_id, "values": values,
                "raw": {str(fid): value for fid, value in raw.items()}}
        self.outbox.put(("P", chejan_topic(topic_account, kind), PubType.CHEJAN, body,
                         self._chejan_time_ns(stripped.get(908, "")), recv_ns))

    def _chejan_time_ns(self, hhmmss: str) -> Optional[int]:
        if len(hhmmss) < 6 or not hhmmss[:6].isdigit():
            return None
        return self.rt_decoder.event_ns({"time": f"{hhmmss[0:2]}:{hhmmss[2:4]}:{hhmmss[4:6]}"})

    def _on_event_connect(self, code: int) -> None:
        self.supervisor.on_event_connect(int(code))

    def _on_real_condition(self, code: str, kind: str, name: str, index: str) -> None:
        self.conditions.on_real_condition(code, kind, name, index)

    def _on_tr_condition(self, screen: str, codes: str, name: str, index: int, next_: int) -> None:
        self.conditions.on_tr_condition(screen, codes, name, index, next_)

    def _on_condition_ver(self, ret: int, message: str) -> None:
        self.conditions.on_condition_ver(int(ret), message)

    # -- status --------------------------------------------------------------------------------------
    def push_state(self) -> None:
        self.outbox.put(("S", self.state()))

    def state(self) -> Dict[str, Any]:
        registered = self.registry.registered_codes()
        by_purpose = Counter(self.screens.in_use().values())
        screens = self.screens
        sup = self.supervisor
        counters = dict(self.counters)
        counters["control_calls"] = dict(self.adapter.calls)
        return {
            "connected": sup.connected,
            "state": sup.state,
            "server": sup.server,
            "accounts": list(sup.accounts),
            "account": {"default": self.settings.account.default, "error": self.account_error},
            "realtime": {"codes": len(registered), "screens": self.registry.screen_count(),
                         "subscriptions": len(self.registry),
                         "pending_codes": self.realtime_work.pending(),
                         "code_list": sorted(registered)[:500]},
            "screens": {"in_use": len(screens), "limit": screens.limit, **dict(by_purpose),
                        "reserved": dict(screens.reserved), "free_for_realtime": screens.available("realtime")},
            "pacing": self.pacer.state(),
            "clock_s": round(self.clock.time(), 3),  # the broker's clock (virtual on the simulator)
            **default_calendar().market_state(self.clock.time()),  # market_phase, market_session
            "queues": {"pacer": self.pacer.depth(), "pending_tr": self.trs.pending(),
                       "streams": len(self.streams)},
            "orders": self.orders.state(),
            "conditions": self.conditions.state(),
            "supervision": {"logins": sup.logins, "losses": sup.losses, "attempt": sup.attempt},
            "timing": self._timing(),
            "counters": counters,
        }

    def _timing(self) -> Dict[str, Any]:
        """Seconds: inside dynamicCall (total and per member), and TR/kwfid pacing waits and control time."""
        adapter = self.adapter
        return {
            "control_s": round(adapter.control_s, 6),
            "control_call_s": {member: round(s, 6) for member, s in adapter.call_s.items()},
            "tr_paced_wait_s": round(self.trs.paced_wait_s, 6),
            "tr_control_s": round(self.trs.control_s, 6),
        }
