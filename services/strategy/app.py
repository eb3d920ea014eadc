"""The strategy process: the SDK client of the broker in, the host core in the middle, its own PUB out.

One asyncio loop owns every socket. At start, in order: connect (retrying while there is no broker),
wait for the broker's login, pick the account, read the broker's clock (the trading day of the order
journal; with `replay_date`, the day must match), subscribe to the account's chejan, reconcile the
ledger with opw00001/opw00018, look up every order journaled today (re-attach the ones the broker
knows, abandon the ones it never got), then on_start and the trades of the strategy's codes. The
broker's clock is read every `clock_interval_s` to close bars when no trade comes.

Stops: SIGTERM/SIGINT or `stop_at` -> on_stop, its orders sent, exit 0. A hook that raised -> its open
orders cancelled (`on_error: cancel`, waited for up to `cancel_timeout_s`) or left working (`leave`),
`strat.<name>.error` and a `failed` heartbeat published, exit 1. Never half-running.
"""
from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import os
import re
import signal
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional, Type

import zmq
import zmq.asyncio

from koabus.common.clock import KST
from koabus.common.errors import KoabusError, NotFound, OrderInDoubt
from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType
from koabus.services.skeleton.connect import close_client
from koabus.services.skeleton.runner import run_until_stopped
from koabus.services.skeleton.status import StatusPublisher
from koabus.services.skeleton.tasks import BackgroundTasks

from .api import FINAL_STATES, Strategy
from .config import SERVICE, StrategySettings
from .host import HOGA_MARKET, StrategyHost
from .journal import OrderJournal, OrderRecord
from .ledger import Ledger
from .limits import RiskGate

log = logging.getLogger(__name__)

#: how often the loop wakes for its timers
TICK_S = 0.05
#: after on_stop, how long its orders get to reach the broker
STOP_SEND_WAIT_S = 5.0
#: how long `faults.crash_at: after_send` waits for the broker to answer the order before it kills anyway
FAULT_ACK_WAIT_S = 10.0
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class StartError(KoabusError):
    """The host could not start (no broker in time, wrong replay date, unknown account): exit 2."""

    kind = "StartError"


def load_strategy_class(path: str, class_name: str = "") -> Type[Strategy]:
    """The Strategy subclass in the file at `path` (named `class_name`, or the only one defined there)."""
    if not os.path.isfile(path):
        raise StartError(f"no strategy file {path}")
    module_name = "koabus_strategy_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StartError(f"{path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    if class_name:
        cls = getattr(module, class_name, None)
        if not (inspect.isclass(cls) and issubclass(cls, Strategy)):
            raise StartError(f"{path} has no Strategy subclass named {class_name}")
        return cls
    found = [c for c in vars(module).values() if inspect.isclass(c) and issubclass(c, Strategy)
             and c is not Strategy and c.__module__ == module_name]
    if len(found) != 1:
        names = ", ".join(c.__name__ for c in found) or "none"
        raise StartError(f"{path}: give --class, it defines {len(found)} Strategy subclasses ({names})")
    return found[0]


def default_name(cls: type) -> str:
    return (re.sub(r"[^a-z0-9_-]", "", cls.__name__.lower()) or "strategy")[:32]


class StrategyService:
    """One running strategy. `await run(stop)` until `stop` is set, `stop_at`, or a failure; the exit code."""

    def __init__(self, settings: StrategySettings, strategy_cls: Type[Strategy]):
        self.settings = settings
        self.strategy = strategy_cls(dict(settings.params))
        self.name = settings.name or default_name(strategy_cls)
        self.beat = ServiceBeat(Identity.here(SERVICE), settings.heartbeat_ms)
        self.state = "starting"
        self.client: Any = None
        self.host: Optional[StrategyHost] = None
        self.journal: Optional[OrderJournal] = None
        self.publisher: Optional[StatusPublisher] = None
        self.account = settings.account
        self._handles: Dict[str, Any] = {}
        self.tasks = BackgroundTasks("strategy")
        self._reconciled = False
        self._early: Optional[List[Publication]] = None
        self._streams: list = []
        self._next_clock = 0.0
        self._stop_at_s: Optional[float] = None

    # ---- the loop -------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        ctx = zmq.asyncio.Context.instance()
        self.publisher = publisher = StatusPublisher.bind(ctx, self.settings.status, SERVICE, self.name, self.beat)
        beats = asyncio.ensure_future(self._beat_loop())  # from the start: a waiting host is seen waiting
        code = EXIT_OK
        try:
            try:
                await self._start(stop)
            except KoabusError as exc:  # StartError, or the broker failing a start-up request
                log.error("strategy %s not started: %s", self.name, exc)
                self.beat.error(str(exc))
                self._emit("error", {"hook": "", "error": type(exc).__name__, "message": str(exc)})
                code = EXIT_CONFIG
                return code
            if stop.is_set():
                return EXIT_OK
            code = await self._loop(stop)
        finally:
            beats.cancel()
            await asyncio.gather(beats, return_exceptions=True)
            await self._shutdown()
            self._publish_beat({EXIT_OK: "stopped", EXIT_FAILED: "failed"}.get(code, "not_started"))
            await asyncio.sleep(0.05)  # let the last publications leave before the socket closes
            publisher.close()
        return code

    async def _loop(self, stop: asyncio.Event) -> int:
        host = self.host
        assert host is not None
        self.state = "running"
        log.info("strategy %s running on %s: codes %s, %s bars", self.name, self.account,
                 ", ".join(sorted(host.codes)), self.strategy.interval)
        while not stop.is_set() and host.failed is None:
            try:
                await asyncio.wait_for(stop.wait(), TICK_S)
            except asyncio.TimeoutError:
                pass
            await self._tick()
            if self._stop_at_s is not None and host.now_s >= self._stop_at_s:
                log.info("stop_at %s reached", self.settings.stop_at)
                break
        if host.failed is not None:
            await self._fail()
            return EXIT_FAILED
        self.state = "stopping"
        host.stop()
        await self._wait_sent(STOP_SEND_WAIT_S, settle_market=True)
        if host.failed is not None:  # on_stop itself raised
            await self._fail()
            return EXIT_FAILED
        return EXIT_OK

    async def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_clock:
            self._next_clock = now + self.settings.clock_interval_s
            await self._read_clock()

    async def _beat_loop(self) -> None:
        while True:
            self._publish_beat()
            await asyncio.sleep(self.settings.heartbeat_ms / 1000.0)

    async def _read_clock(self) -> None:
        try:
            status = await self.client.request("status", timeout_s=max(1.0, self.settings.clock_interval_s * 4))
        except KoabusError as exc:
            log.debug("no clock from the broker: %s", exc)
            return
        clock_s = status.get("clock_s") if isinstance(status, dict) else None
        if isinstance(clock_s, (int, float)) and self.host is not None:
            self.host.set_clock(float(clock_s))

    # ---- start ----------------------------------------------------------------------------------

    async def _start(self, stop: asyncio.Event) -> None:
        s = self.settings
        await self._connect(stop)
        if stop.is_set():
            return
        status = await self._wait_login(stop)
        if stop.is_set():
            return
        accounts = await self.client.accounts()
        if not self.account:
            if not accounts:
                raise StartError("the login has no account")
            self.account = accounts[0]
        elif self.account not in accounts:
            raise StartError(f"account {self.account} is not one of the login's ({', '.join(accounts)})")
        clock_s = float(status.get("clock_s") or time.time())
        day = datetime.fromtimestamp(clock_s, KST).date()
        if s.replay_date and day.isoformat() != s.replay_date:
            raise StartError(f"the broker's clock is on {day.isoformat()}, not the replay date {s.replay_date}")
        if s.stop_at:
            hms = [int(x) for x in s.stop_at.split(":")] + [0]
            self._stop_at_s = datetime(day.year, day.month, day.day, hms[0], hms[1], hms[2], tzinfo=KST).timestamp()
        self.journal = OrderJournal(s.state_dir, self.name, day)
        from koabus.services.bars.core import BarBuilder, parse_interval

        self.host = StrategyHost(
            self.strategy, name=self.name, account=self.account, journal=self.journal, ledger=Ledger(),
            gate=RiskGate(s.limits), builder=BarBuilder([parse_interval(self.strategy.interval)]),
            send=self._send, cancel=self._cancel, emit=self._emit)
        self.host.set_clock(clock_s)
        await self._follow_chejan()
        await self._reconcile()
        await self._reattach()
        self.host.start()
        if self.host.failed is None and self.host.codes:
            stream = self.client.realtime(sorted(self.host.codes), ["trade"], snapshot=False)
            stream.add_callback(self.host.on_trade, iterate=False)
            await stream.start()
            self._streams.append(stream)

    async def _connect(self, stop: asyncio.Event) -> None:
        from koabus.common.client import AsyncClient, ClientOptions, CurveKeys

        s = self.settings
        curve = (CurveKeys.from_keys_dir(s.curve.keys_dir, s.curve.key, s.curve.server_key or None)
                 if s.curve.enabled else None)
        options = ClientOptions(router=s.router, pub=s.pub, client_name=f"strategy-{self.name}", curve=curve,
                                connect_timeout_s=2.0)
        deadline = time.monotonic() + s.connect_wait_s if s.connect_wait_s else None
        wait = 0.2
        while not stop.is_set():
            client = AsyncClient(options=options)
            try:
                await client.connect()
                self.client = client
                return
            except KoabusError as exc:
                await client.close()
                if deadline is not None and time.monotonic() >= deadline:
                    raise StartError(f"no broker at {s.router} within {s.connect_wait_s:g} s: {exc}") from None
                log.info("no broker at %s yet (%s); retrying", s.router, exc)
            await self._pause(stop, wait)
            wait = min(5.0, wait * 2)

    async def _wait_login(self, stop: asyncio.Event) -> Dict[str, Any]:
        deadline = time.monotonic() + self.settings.connect_wait_s if self.settings.connect_wait_s else None
        while not stop.is_set():
            try:
                status = await self.client.status()
                if isinstance(status, dict) and status.get("connected"):
                    return status
            except KoabusError as exc:
                log.info("broker status: %s", exc)
            if deadline is not None and time.monotonic() >= deadline:
                raise StartError("the broker did not log in in time")
            await self._pause(stop, 0.2)
        return {}

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _follow_chejan(self) -> None:
        """Chejan of the account from now on: kept until the TRs answer, then applied (host.on_chejan)."""
        from koabus.common.client.streams import TopicStream

        self._early = []
        stream = TopicStream(self.client.connection, prefixes=[f"ch.{self.account}."], snapshot=False)
        stream.add_callback(self._on_chejan, iterate=False)
        await stream.start()
        self._streams.append(stream)

    def _on_chejan(self, pub: Publication) -> None:
        if self.host is None or self._early is None:
            return
        if not self._reconciled:  # kept until the TRs answer: they may or may not include it
            self._early.append(pub)
            return
        self.host.on_chejan(pub.topic.rsplit(".", 1)[-1], pub.body)

    async def _reconcile(self) -> None:
        """Cash (opw00001 주문가능금액) and holdings (opw00018) of the account: the ledger's start."""
        assert self.host is not None and self.journal is not None
        try:
            deposit = await self.client.deposit(self.account, english=True)
            _, holdings = await self.client.balance(self.account, english=True)
        except KoabusError as exc:
            raise StartError(f"the account TRs failed: {exc}") from None
        rows = holdings.to_dict("records") if len(holdings) else []
        cash = int(deposit.get("orderable") or deposit.get("deposit") or 0)
        self.host.ledger.reconcile(cash, rows, realised=self.journal.realised)
        early, self._early = self._early or [], []
        for pub in early:  # chejan that came before the TRs' answers: counted by them
            self.host.on_chejan(pub.topic.rsplit(".", 1)[-1], pub.body, counted=True)
        self._reconciled = True  # from here every chejan is news
        log.info("reconciled %s: cash %s, %d holding(s), realised today %s", self.account, f"{cash:,}",
                 len(self.host.ledger.positions), f"{self.journal.realised:,}")

    async def _reattach(self) -> None:
        """Every order journaled today: known to the broker -> follow it (nothing is sent again);
        unknown -> it never left this process: abandoned, not sent late."""
        assert self.host is not None and self.journal is not None
        for record in self.journal.unsettled():
            try:
                status = await self.client.order_status(client_order_id=record.id)
            except NotFound:
                self.journal.abandon(record.id, self.host.now_s)
                self.host.register(record, "abandoned")
                log.warning("order %s was journaled but never reached the broker: abandoned", record.id)
                continue
            except KoabusError as exc:
                raise StartError(f"order {record.id}: the broker could not say what became of it: {exc}") from None
            state = str(status.get("state") or "")
            self.host.register(record, state or "queued", int(status.get("filled_qty") or 0),
                               str(status.get("order_no") or ""))
            if status.get("done") or state in FINAL_STATES:
                continue
            log.info("re-attaching to order %s (%s)", record.id, state)
            self._spawn(self._place(record))

    # ---- orders -------------------------------------------------------------------------------

    def _send(self, record: OrderRecord) -> None:
        self._fault("after_journal")
        self._spawn(self._place(record))

    def _fault(self, point: str) -> None:
        if self.settings.faults.crash_at == point:
            log.warning("faults.crash_at %s: killing this process (tests only)", point)
            os.kill(os.getpid(), signal.SIGKILL)

    async def _fault_after_send(self, handle: Any) -> None:
        """`faults.crash_at: after_send` kills once the broker has taken the order (its first event is
        back): `client.order` returns as soon as the request is queued in this process, and a kill then
        can still lose it before it leaves, which is the `after_journal` case, not this one."""
        if self.settings.faults.crash_at != "after_send":
            return
        answered = asyncio.Event()
        handle.add_callback(lambda event: answered.set())
        if not handle.history:
            try:
                await asyncio.wait_for(answered.wait(), FAULT_ACK_WAIT_S)
            except asyncio.TimeoutError:
                log.warning("faults.crash_at after_send: no answer from the broker in %.0f s", FAULT_ACK_WAIT_S)
        self._fault("after_send")

    async def _place(self, record: OrderRecord) -> None:
        """Send (or re-attach to) one order and follow its events until it is done."""
        host = self.host
        assert host is not None
        try:
            handle = await self.client.order(self.account, record.side, record.code, record.qty, record.price,
                                             hoga=record.hoga, client_order_id=record.id)
        except OrderInDoubt as exc:
            host.on_order_event(record.id, {"state": "in_doubt"})
            log.error("order %s is in doubt at the broker: %s", record.id, exc)
            return
        except KoabusError as exc:
            host.on_order_error(record.id, exc)
            return
        self._handles[record.id] = handle
        await self._fault_after_send(handle)
        handle.add_callback(lambda event: host.on_order_event(record.id, event))
        try:
            await handle.wait()
        except KoabusError as exc:
            if handle.done:
                host.on_order_event(record.id, handle.state)
            else:
                host.on_order_error(record.id, exc)
            return
        host.on_order_event(record.id, handle.state)

    def _cancel(self, record: OrderRecord, order_no: str) -> None:
        self._spawn(self._cancel_order(record, order_no))

    async def _cancel_order(self, record: OrderRecord, order_no: str) -> None:
        try:
            await self.client.cancel_order(self.account, order_no=order_no or None,
                                           client_order_id=None if order_no else record.id, qty=0,
                                           code=record.code, side=record.side)
        except KoabusError as exc:
            log.warning("cancel of %s failed: %s", record.id, exc)

    async def _wait_sent(self, timeout_s: float, settle_market: bool = False) -> None:
        """Until every order has left `queued` (reached the broker) or `timeout_s` passes. With
        `settle_market` (a clean stop) also until every market order has its outcome: it fills or
        fails at once, and a stop must not exit between its sending and its fill (a limit order may
        rest, and a stop leaves it working)."""
        def waiting(order) -> bool:
            return order.state == "queued" or (settle_market and order.open and order.record.hoga == HOGA_MARKET)

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.host is not None and \
                any(waiting(o) for o in self.host.orders.values()):
            await asyncio.sleep(0.05)

    async def _fail(self) -> None:
        """A hook raised: handle its open orders as configured, report, and let run() exit non-zero."""
        host = self.host
        assert host is not None
        self.state = "failed"
        self.beat.error(f"{host.failed_hook} raised {host.failed!r}")
        await self._wait_sent(min(STOP_SEND_WAIT_S, self.settings.cancel_timeout_s))
        open_orders = [o for o in host.orders.values() if o.open]
        cancelled = 0
        if self.settings.on_error == "cancel" and open_orders:
            await asyncio.gather(*(self._cancel_order(o.record, o.order_no) for o in open_orders),
                                 return_exceptions=True)
            deadline = time.monotonic() + self.settings.cancel_timeout_s
            while time.monotonic() < deadline and any(o.open for o in open_orders):
                await asyncio.sleep(0.05)
            cancelled = sum(1 for o in open_orders if o.state == "cancelled")
        left = [o.record.id for o in open_orders if o.open]
        self._emit("stopped", {"state": "failed", "hook": host.failed_hook, "error": repr(host.failed)[:300],
                               "on_error": self.settings.on_error, "open_orders": len(open_orders),
                               "cancelled": cancelled, "left_open": left, **host.summary()})
        log.error("strategy %s stopped after %s raised: %d open order(s), %d cancelled, %d left (%s)", self.name,
                  host.failed_hook, len(open_orders), cancelled, len(left), self.settings.on_error)

    # ---- bus ------------------------------------------------------------------------------------

    def _emit(self, event: str, body: Dict[str, Any]) -> None:
        if self.publisher is None:
            return
        now_s = self.host.now_s if self.host is not None else None
        self.publisher.publish(f"strat.{self.name}.{event}", PubType.SYSTEM,
                               {"strategy": self.name, "event": event, "account": self.account, **body},
                               int(now_s * 1e9) if now_s else None)

    def _publish_beat(self, state: Optional[str] = None) -> None:
        if self.publisher is None:
            return
        summary = self.host.summary() if self.host is not None else {}
        self.publisher.beat(
            state or self.state, None, strategy=type(self.strategy).__name__, account=self.account,
            broker=self.client.state if self.client is not None else "connecting",
            clock=self.host.now.isoformat() if self.host is not None and self.host.now_s else None, **summary)

    # ---- stop -----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)

    async def _shutdown(self) -> None:
        for stream in self._streams:
            try:
                await asyncio.wait_for(stream.close(), 3.0)
            except (asyncio.TimeoutError, KoabusError):
                pass
        await self.tasks.cancel_all()
        await close_client(self.client)
        if self.journal is not None:
            self.journal.close()
        log.info("strategy %s stopped", self.name)


def run(settings: StrategySettings, strategy_cls: Type[Strategy]) -> int:
    """Run until SIGINT/SIGTERM, `stop_at` or a failure; returns the exit code (0, 1 failed, 2 not started)."""
    return run_until_stopped(lambda stop, _reload: StrategyService(settings, strategy_cls).run(stop))
