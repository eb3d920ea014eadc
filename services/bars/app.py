"""The bars process: the broker's trades into the BarBuilder, bars out on the service's own PUB.

One asyncio loop owns every socket: the SDK client of the broker (a realtime stream of 주식체결 for the
configured codes, registered with the broker's `subscribe` op, events by callback), the service's PUB
(`bar.<interval>.<code>`, `sys.hb.bars`) and its ROUTER (`status`, `snapshot`; server.py).

Time is the broker's: trades move their code's bars by their exchange time, and the broker's `status`
`clock_s` (virtual on the simulator) closes the bars nobody traded in. A `status` answer is applied
only once the SUB has heard the broker's publication `seq` it reports, so no trade older than that
clock can still be on its way; `final_delay_s` more covers trades the control delivers late.
Partial updates are a rate limit for subscribers, so they are throttled on the wall clock.

At SIGTERM/SIGINT: stop intake, close the client, publish a last `stopped` beat, close the sockets.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple

import zmq
import zmq.asyncio

from koabus.common.clock import KST
from koabus.common.errors import KoabusError
from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.services.skeleton.connect import client_options, close_client, connect_until_stopped
from koabus.services.skeleton.runner import run_until_stopped
from koabus.services.skeleton.status import bind_pub, socket_sender
from koabus.services.skeleton.tasks import BackgroundTasks

from . import backfill
from .config import SERVICE, BarsSettings
from .core import Bar, BarBuilder, interval_name
from .server import BarPublisher, RequestHandler

log = logging.getLogger(__name__)

#: how often the loop wakes for its timers when nothing arrives (wall seconds)
TICK_S = 0.02
#: a code with no live trade yet is backfilled anyway this long (broker clock) after the service began
QUIET_CODE_S = 60.0

Trade = Tuple[datetime, int, int]


class BarsService:
    """A running bars service. `await run(stop)` until `stop` is set; returns the exit code.

    `calendar` (TradingCalendar-like) replaces the XKRX calendar (tests).
    """

    def __init__(self, settings: BarsSettings, calendar: Any = None):
        self.settings = settings
        self.builder = BarBuilder(settings.intervals_s, calendar)
        self.beat = ServiceBeat(Identity.here(SERVICE), settings.heartbeat_ms)
        self.state = "starting"
        self.client: Any = None
        self.publisher: Optional[BarPublisher] = None
        self.handler: Optional[RequestHandler] = None
        self._stream: Any = None
        self._intake = False
        self.tasks = BackgroundTasks("bars", log, self.beat)
        # the broker's clock: the latest `status` (epoch, seq, clock) and the publications heard since
        self._epoch: Optional[int] = None
        self._heard_seq = 0
        self._pending_clock: Optional[Tuple[int, int, float]] = None
        self.clock: Optional[datetime] = None
        self._clock_in_flight = False
        self._next_clock_poll = 0.0
        # backfill: codes whose trades wait for the TR, and the boundary live trades count from
        self._waiting: Dict[str, List[Trade]] = {}
        self._boundary: Dict[str, datetime] = {}
        self._began: Optional[datetime] = None
        self._backfill_running = False
        self._next_beat = 0.0
        self.trades = 0
        self.backfilled: Dict[str, int] = {}
        #: per code, where live trades took over from the backfill
        self.live_from: Dict[str, datetime] = {}
        self.lag_s: Optional[float] = None

    # ---- the loop ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        s = self.settings
        ctx = zmq.asyncio.Context.instance()
        pub = bind_pub(ctx, s.publish, sndhwm=100_000)
        router = ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.ROUTER_MANDATORY, 0)
        router.bind(s.snapshot)
        self.publisher = BarPublisher(socket_sender(pub), name=s.name, heartbeat=self.beat)
        self.handler = RequestHandler(self.publisher, self.status, self._flush_partials, s.name, s.heartbeat_ms)
        self._begin_waiting()
        self._intake = True
        self._spawn(self._serve(router))
        self._spawn(self._connect(stop))
        log.info("bars: %s x %s, bars on %s, snapshots on %s", ",".join(s.codes),
                 ",".join(interval_name(i) for i in s.intervals_s), s.publish, s.snapshot)
        self.state = "running"
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), TICK_S)
                except asyncio.TimeoutError:
                    pass
                self._tick()
        finally:
            await self._shutdown(pub, router)
        return 0

    def _tick(self) -> None:
        now = time.monotonic()
        if self.client is not None and not self._clock_in_flight and now >= self._next_clock_poll:
            self._next_clock_poll = now + self.settings.clock_poll_s
            self._clock_in_flight = True
            self._spawn(self._poll_clock())
        self._apply_clock()
        if self._waiting and not self._backfill_running and self.client is not None:
            self._backfill_running = True
            self._spawn(self._backfill())
        self._publish(self.builder.partials_due(now, self.settings.partial_interval_s))
        if now >= self._next_beat:
            self._next_beat = now + self.settings.heartbeat_ms / 1000.0
            self._publish_beat()

    def _publish(self, bars: List[Bar]) -> None:
        if self.publisher is None:
            return
        for bar in bars:
            try:
                self.publisher.publish_bar(bar)
            except KoabusError as exc:
                log.error("bar %s could not be published: %s", bar.topic, exc)

    def _flush_partials(self) -> None:
        """Before a snapshot: every partial bar that changed goes out now, throttle or not."""
        self._publish(self.builder.partials_due(time.monotonic(), 0.0))

    # ---- trades ------------------------------------------------------------------------------------

    def on_trade_event(self, event: Any) -> None:
        """A RealtimeEvent of 주식체결 from the broker."""
        if not self._intake or event.from_snapshot:
            return
        self._hear(event.epoch, event.seq)
        values = event.values
        price, volume = values.get("current_price"), values.get("volume")
        at = event.event_time or event.received
        if not isinstance(price, int) or not isinstance(volume, int) or at is None:
            return
        self.trades += 1
        if event.received is not None:
            self.lag_s = max(0.0, time.time() - event.received.timestamp())
        if event.code in self._waiting:
            self._waiting[event.code].append((at, price, volume))
            self._boundary.setdefault(event.code, backfill.boundary(at))
            return
        self._publish(self.builder.on_trade(event.code, at, price, volume))

    def _on_system(self, pub: Any) -> None:
        self._hear(pub.epoch, pub.seq)

    def _hear(self, epoch: int, seq: int) -> None:
        if epoch != self._epoch:
            return
        self._heard_seq = max(self._heard_seq, seq)

    # ---- the broker's clock ------------------------------------------------------------------------

    async def _poll_clock(self) -> None:
        try:
            status = await self.client.status()
        except KoabusError as exc:
            log.debug("no broker status: %s", exc)
            return
        finally:
            self._clock_in_flight = False
        epoch, seq, clock_s = status.get("epoch"), status.get("seq"), status.get("clock_s")
        if not isinstance(epoch, int) or not isinstance(seq, int) or not isinstance(clock_s, (int, float)):
            return
        if epoch != self._epoch:
            self._new_epoch(epoch, clock_s)
        self._pending_clock = (epoch, seq, float(clock_s))

    def _new_epoch(self, epoch: int, clock_s: float) -> None:
        """A broker (re)start: a clock that went back means a new day on the simulator: start over."""
        first = self._epoch is None
        self._epoch, self._heard_seq = epoch, 0
        if first:
            return
        at = datetime.fromtimestamp(clock_s, KST)
        if self.clock is not None and at < self.clock:
            log.warning("the broker's clock went back (%s -> %s): bars start over", self.clock, at)
            self.builder.reset()
            if self.publisher is not None:
                self.publisher.forget_partials()
            self.clock = None
            self._begin_waiting()

    def _apply_clock(self) -> None:
        pending = self._pending_clock
        if pending is None or pending[0] != self._epoch or self._heard_seq < pending[1]:
            return
        self._pending_clock = None
        at = datetime.fromtimestamp(pending[2], KST)
        if self.clock is None or at > self.clock:
            self.clock = at
        if self._began is None:
            self._began = at
        self._publish(self.builder.on_clock(at - timedelta(seconds=self.settings.final_delay_s)))

    # ---- backfill ----------------------------------------------------------------------------------

    def _begin_waiting(self) -> None:
        self._waiting = {code: [] for code in self.settings.codes}
        self._boundary = {}
        self._began = None

    async def _backfill(self) -> None:
        """Seed each waiting code from the minute TR once the broker's clock passed its boundary."""
        try:
            for code in list(self._waiting):
                until = self._ready_boundary(code)
                if until is None:
                    continue
                bars: List[Bar] = []
                if self.settings.backfill and self._in_session(until):
                    try:
                        frame = await self.client.minute(code, 1, english=False)
                    except KoabusError as exc:
                        log.warning("backfill of %s failed (its first bars start live): %s", code, exc)
                        self.beat.error(f"backfill {code}: {exc}")
                        frame = None
                    bars = backfill.minute_bars(code, frame, until.date(), until)
                if code not in self._waiting:  # started over meanwhile
                    continue
                self.builder.seed(code, bars)
                self.backfilled[code] = len(bars)
                self.live_from[code] = until
                for at, price, volume in self._waiting.pop(code):
                    self._publish(self.builder.on_trade(code, at, price, volume))
                log.info("%s: %d minute bar(s) backfilled up to %s", code, len(bars), until.time())
        finally:
            self._backfill_running = False

    def _ready_boundary(self, code: str) -> Optional[datetime]:
        """The boundary of `code` when the broker's clock is past it (None: not yet)."""
        clock = self.clock
        if clock is None:
            return None
        settled = clock - timedelta(seconds=self.settings.final_delay_s)
        edge = self._boundary.get(code)
        if edge is None:  # no trade yet: a quiet code is filled from the TR after a while
            if self._began is None or (clock - self._began).total_seconds() < QUIET_CODE_S:
                return None
            edge = settled.replace(second=0, microsecond=0)
        hours = self.builder.grid.hours(edge.date())
        if hours is not None and edge > hours[1]:
            edge = hours[1]
        return edge if settled >= edge else None

    def _in_session(self, at: datetime) -> bool:
        hours = self.builder.grid.hours(at.date())
        return hours is not None and hours[0] < at <= hours[1]

    # ---- the ROUTER --------------------------------------------------------------------------------

    async def _serve(self, router: Any) -> None:
        while True:
            frames = await router.recv_multipart()
            if len(frames) < 2 or self.handler is None:
                continue
            identity = frames[0]
            try:
                answers = self.handler.handle(frames[1:])
            except Exception:  # one odd request must not stop the service
                log.exception("answering a request failed")
                continue
            for answer in answers:
                try:
                    await router.send_multipart([identity] + answer, zmq.NOBLOCK)
                except zmq.ZMQError:
                    break

    def status(self) -> Dict[str, Any]:
        b = self.builder
        pub = self.publisher
        return {
            "service": SERVICE, "name": self.settings.name, "state": self.state,
            "epoch": pub.epoch if pub else None, "seq": pub.seq if pub else 0,
            "codes": list(self.settings.codes), "intervals": [interval_name(i) for i in b.intervals_s],
            "clock": self.clock.isoformat() if self.clock else None,
            "bars_published": pub.bars if pub else 0, "partials_published": pub.partials if pub else 0,
            "trades": self.trades, "outside_trades": b.outside_trades, "late_trades": b.late_trades,
            "seeded_trades": b.seeded_trades, "backfilling": sorted(self._waiting), "backfilled": dict(self.backfilled),
            "live_from": {code: at.isoformat() for code, at in self.live_from.items()},
            "broker": self.client.state if self.client is not None else "connecting",
        }

    def _publish_beat(self, state: Optional[str] = None) -> None:
        if self.publisher is None:
            return
        info = self.status()
        self.publisher.beat(
            state or self.state, self.lag_s, codes=info["codes"], intervals=info["intervals"],
            bars_published=info["bars_published"], partials_published=info["partials_published"],
            clock=info["clock"], trades=self.trades, outside_trades=info["outside_trades"],
            late_trades=info["late_trades"], seeded_trades=info["seeded_trades"], backfilling=info["backfilling"],
            backfilled=info["backfilled"], live_from=info["live_from"], broker=info["broker"])

    # ---- the broker --------------------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> None:
        """Connect (retrying while there is no broker yet), then subscribe to the codes' trades."""
        s = self.settings
        client = await connect_until_stopped(client_options(s), stop, log)
        if client is None:
            return
        client.connection.on("system", self._on_system)
        stream = client.realtime(list(s.codes), "trade", snapshot=False)
        stream.add_callback(self.on_trade_event, iterate=False)
        self._epoch = client.epoch
        await stream.start()
        self._stream = stream
        self.client = client
        log.info("trades of %d code(s) from %s", len(s.codes), s.pub)

    # ---- stop --------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)
    async def _shutdown(self, pub: Any, router: Any) -> None:
        self.state = "stopping"
        self._intake = False
        log.info("bars stopping: %d bar(s) published", self.publisher.bars if self.publisher else 0)
        await self.tasks.cancel_all()
        await close_client(self.client)
        self.state = "stopped"
        self._publish_beat("stopped")
        router.close(0)
        pub.close(0)
        log.info("bars stopped")


def run(settings: BarsSettings) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code."""
    return run_until_stopped(lambda stop, _reload: BarsService(settings).run(stop))
