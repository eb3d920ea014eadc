"""SimulatedControl: a QObject with the surface of QAxWidget("KHOPENAPI.KHOpenAPICtrl.1").

`dynamicCall(signature, *args)` (or `dynamicCall(signature, [args])`) normalises the signature,
finds the member by name among the OCX's 58 dispatch members, converts the arguments to the
member's declared types as QAxBase would and runs the emulation. The nine OCX events are
positional `pyqtSignal`s with the real argument lists, always emitted later from the Qt event
loop. `control.sim` (a SimHarness) is the test and operator handle: clock stepping, market
access, fault injection; it is not part of the OCX surface.

Unknown members and malformed signatures behave like QAxBase: a warning is logged and the call
returns None (an invalid QVariant).
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Dict, Optional, Tuple

from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from koabus.common.clock import Clock
from koabus.services.control.signature import SignatureError, parse

from .conditions import ConditionService
from .config import SimConfig
from .core import SimCore
from .delivery import EventQueue, PendingEvent
from .harness import SimHarness, make_clock, open_state
from .master import MasterData
from .methods import METHODS_BY_NAME, MethodType, make_invoker
from .orders import OrderService
from .realtime import RealtimeService
from .session import Session
from .trs.requests import TrContext, TrService
from .world import World

log = logging.getLogger(__name__)

_MAX_BINDINGS = 1024  # distinct signature spellings remembered
_Binding = Tuple[int, Callable[[Tuple], Any], str]  # (arity, invoker, member name)


class SimulatedControl(QObject):
    """The simulated OpenAPI+ control. See the module docstring and docs/simulator.md."""

    OnReceiveTrData = pyqtSignal(str, str, str, str, str, int, str, str, str)
    OnReceiveRealData = pyqtSignal(str, str, str)
    OnReceiveMsg = pyqtSignal(str, str, str, str)
    OnReceiveChejanData = pyqtSignal(str, int, str)
    OnEventConnect = pyqtSignal(int)
    OnReceiveInvestRealData = pyqtSignal(str)
    OnReceiveRealCondition = pyqtSignal(str, str, str, str)
    OnReceiveTrCondition = pyqtSignal(str, str, str, int, int)
    OnReceiveConditionVer = pyqtSignal(int, str)

    def __init__(self, config: Optional[SimConfig] = None, clock: Optional[Clock] = None,
                 parent: Optional[QObject] = None):
        super().__init__(parent)
        self._config = config or SimConfig()
        self._clock = clock if clock is not None else make_clock(self._config)
        # The simulated server's persistent state (None: in memory); it may move the clock forward.
        self._store = open_state(self._config, self._clock)
        self._queue = EventQueue(self._deliver, self._config.events_per_tick, self)
        self._world = self._make_world(self._config, self._clock, self._store)
        self._core = SimCore(self._config, self._clock, self._world, self._queue.post, self._queue.post_records)
        self._queue.delay_ms = self._core.faults.event_delay_ms
        self._session = Session(self._core)
        self._master = MasterData(self._core)
        self._trs = self._make_trs(self._core)
        self._realtime = self._make_realtime(self._core)
        if self._config.hold_until_codes > 0 and (self._store is None or self._store.anchor is None):
            self._realtime.hold_clock(self._config.hold_until_codes)
        self._orders = OrderService(self._core)
        self._conditions = ConditionService(self._core)
        self._trs.on_realtime_request = self._realtime.register_from_tr
        self._core.on_disconnect += [self._realtime.clear_all, self._conditions.clear_all]
        # What the handler of the event being emitted may read.
        self._tr_context: Optional[TrContext] = None
        self._real_context: Optional[Dict[int, str]] = None
        self._chejan_context: Optional[Dict[int, str]] = None
        self._handlers = self._build_handlers()
        self._invokers = {name: make_invoker(METHODS_BY_NAME[name], handler)
                          for name, handler in self._handlers.items()}
        self._bindings: Dict[str, _Binding] = {}
        self.sim = SimHarness(self, self._core, self._queue)
        if self._store is not None:
            self._restore()
        # Always running: a frozen clock makes each tick a no-op, and a clock whose speed is raised
        # later (VirtualClock.set_speed) starts the market without anything else to do.
        self._tick_timer = QTimer(self)
        self._tick_timer.timeout.connect(self.sim.tick)
        self._tick_timer.start(self._config.tick_interval_ms)

    # -- seams: a subclass may substitute the market source (services/replay plays a recorded day) --
    def _make_world(self, config: SimConfig, clock: Clock, store: Any) -> World:
        return World(config, clock, store, store.records if store is not None else ())

    def _make_trs(self, core: SimCore) -> TrService:
        return TrService(core)

    def _make_realtime(self, core: SimCore) -> RealtimeService:
        return RealtimeService(core)

    def _restore(self) -> None:
        """Rebuild the exchange from the store now, so resting orders fill from the first tick on."""
        try:
            if self._store.records:
                self._orders.restore(self._world.restore())
            self._world.save_anchor(force=True)
        except BaseException:
            self._store.close()
            raise

    # -- the OCX surface -----------------------------------------------------------------------
    def dynamicCall(self, signature: str, *args: Any) -> Any:  # noqa: N802 (Qt's name)
        # Hot path (a snapshot reads tens of thousands of values): one dict lookup by the exact
        # signature string, then the member's prebuilt converter. Nothing is logged unless the
        # call is wrong.
        try:
            binding = self._bindings[signature]
        except (KeyError, TypeError):  # TypeError: an unhashable "signature" (parse rejects it)
            binding = self._bind(signature)
            if binding is None:
                return None
        arity, invoke, name = binding
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if len(args) != arity:
            log.warning("QAxBase: Error calling IDispatch member %s: %s", name,
                        "Non-optional parameter missing" if len(args) < arity else "Bad parameter count")
            return None
        return invoke(args)

    def _bind(self, signature: Any) -> Optional[_Binding]:
        """Parse a signature once: (arity, invoker, member name), cached by the exact string; None (after
        QAxBase's warning) for a malformed signature or an unknown member (not cached)."""
        try:
            name, _types = parse(signature)
        except SignatureError as exc:
            log.warning("QAxBase::dynamicCallHelper: %s", exc)
            return None
        method = METHODS_BY_NAME.get(name)
        if method is None:
            log.warning("QAxBase::dynamicCallHelper: %s: No such property in KHOPENAPI.KHOpenAPICtrl.1",
                        name)
            return None
        binding = (len(method.args), self._invokers[name], name)
        if len(self._bindings) >= _MAX_BINDINGS:  # a caller inventing spellings must not grow it forever
            self._bindings.clear()
        self._bindings[signature] = binding
        return binding

    def _call(self, method: MethodType, args) -> Any:
        """Run a member with already-converted arguments (the uncached path, kept for callers)."""
        result = self._handlers[method.name](*args)
        if method.returns == "void":
            return None
        if method.returns in ("long", "BOOL"):
            return int(result or 0)
        if method.returns == "BSTR":
            return "" if result is None else str(result)
        return result

    def _build_handlers(self) -> Dict[str, Callable[..., Any]]:
        s, m, t, r = self._session, self._master, self._trs, self._realtime
        o, c = self._orders, self._conditions
        handlers: Dict[str, Callable[..., Any]] = {
            "CommConnect": s.comm_connect,
            "CommTerminate": s.comm_terminate,
            "GetConnectState": s.get_connect_state,
            "GetLoginInfo": s.get_login_info,
            "GetAPIModulePath": s.get_api_module_path,
            "SetInfoData": s.set_info_data,
            "CommRqData": t.comm_rq_data,
            "SetInputValue": t.set_input_value,
            "CommKwRqData": t.comm_kw_rq_data,
            "CommInvestRqData": t.comm_invest_rq_data,
            "SetOutputFID": t.set_output_fid,
            "GetRepeatCnt": self._get_repeat_cnt,
            "GetCommData": self._get_comm_data,
            "GetCommDataEx": self._get_comm_data_ex,
            "GetDataCount": self._get_data_count,
            "GetOutputValue": self._get_output_value,
            "CommGetData": self._comm_get_data,
            "GetCommRealData": self._get_comm_real_data,
            "GetChejanData": self._get_chejan_data,
            "SetRealReg": r.set_real_reg,
            "SetRealRemove": r.set_real_remove,
            "DisconnectRealData": self._disconnect_real_data,
            "SendOrder": o.send_order,
            "SendOrderCredit": o.send_order_credit,
            "SendOrderFO": o.send_order_fo,
            "GetConditionLoad": c.get_condition_load,
            "GetConditionNameList": c.get_condition_name_list,
            "SendCondition": c.send_condition,
            "SendConditionStop": c.send_condition_stop,
        }
        for name, handler in m.handlers().items():
            handlers.setdefault(name, handler)
        missing = set(METHODS_BY_NAME) - set(handlers)
        if missing:
            raise RuntimeError(f"no emulation for {sorted(missing)}")
        return handlers

    # -- reads that are valid only inside an event -----------------------------------------------
    def _get_repeat_cnt(self, tr_code: str, record: str) -> int:
        ctx = self._tr_context
        return ctx.repeat_count() if ctx is not None else 0

    def _get_comm_data(self, tr_code: str, record: str, index: int, item: str) -> str:
        ctx = self._tr_context
        return ctx.value(index, item.strip()) if ctx is not None else ""

    def _get_comm_data_ex(self, tr_code: str, record: str) -> Any:
        ctx = self._tr_context
        return ctx.rows_as_lists() if ctx is not None else None

    def _get_data_count(self, record: str) -> int:
        return self._get_repeat_cnt("", record)

    def _get_output_value(self, record: str, row: int, column: int) -> str:
        ctx = self._tr_context
        return ctx.value_at(row, column) if ctx is not None else ""

    def _comm_get_data(self, code: str, real_type: str, item: str, index: int, inner: str) -> str:
        """Deprecated catch-all: TR data inside OnReceiveTrData, FID values inside realtime/chejan."""
        if self._tr_context is not None:
            return self._tr_context.value(index, item.strip())
        fid = inner.strip() or item.strip()
        if fid.isdigit():
            if self._real_context is not None:
                return self._real_context.get(int(fid), "")
            if self._chejan_context is not None:
                return self._chejan_context.get(int(fid), "")
        return ""

    def _get_comm_real_data(self, code: str, fid: int) -> str:
        ctx = self._real_context
        return ctx.get(fid, "") if ctx is not None else ""

    def _get_chejan_data(self, fid: int) -> str:
        ctx = self._chejan_context
        return ctx.get(fid, "") if ctx is not None else ""

    def _disconnect_real_data(self, screen: str) -> None:
        self._realtime.disconnect_real_data(screen)
        self._conditions.screen_closed(screen)

    # -- delivery ------------------------------------------------------------------------------
    def _deliver(self, event: PendingEvent) -> None:
        """Install the event's context, emit the signal, restore the previous context."""
        context = event.context
        if callable(context):
            if context() is False:  # a pre-emit action may veto (e.g. connection dropped)
                return
            context = None
        if not self._core.connected and event.name not in ("OnEventConnect",):
            return  # a dropped link delivers nothing more
        saved = (self._tr_context, self._real_context, self._chejan_context)
        if event.name == "OnReceiveTrData":
            self._tr_context = context
        elif event.name == "OnReceiveRealData":
            self._real_context = context
            self._core.stats.realtime_events += 1
        elif event.name == "OnReceiveChejanData":
            self._chejan_context = context
        try:
            getattr(self, event.name).emit(*event.args)
        finally:
            self._tr_context, self._real_context, self._chejan_context = saved

