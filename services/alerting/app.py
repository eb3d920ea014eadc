"""The alerting process: the bus into the engine, alerts out to the notifiers and onto its own PUB.

One asyncio loop owns every ZeroMQ socket: the SDK client of the broker (TopicStreams with callbacks,
no queues: the realtime pairs the rules read, registered with the broker; `ch.`, `cond.` and `sys.`;
a condition watch per condition rule), one SUB on the other services' status PUBs (`sys.hb.*`), and
the service's own PUB (`alert.<rule_id>` and `sys.hb.alerting`). The engine is sans-I/O and runs in
the loop; delivery runs in the Dispatcher's threads, so a slow notifier never holds the loop.

Reload: the rules file's mtime is checked every `reload_check_s`, and SIGHUP forces a check. A new
file that fails validation is logged (its `file:line: field: message`) and shown in the heartbeat's
`last_error`; the old rules stay. At SIGTERM/SIGINT: stop intake, close the client, give the queued
alerts `delivery.stop_timeout_s`, publish a last `stopped` beat, exit 0.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Dict, List, Mapping, Optional, Tuple

import zmq
import zmq.asyncio

from koabus.common.errors import KoabusError
from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType
from koabus.common.protocol.topics import alert_topic
from koabus.services.skeleton.connect import client_options, close_client, connect_until_stopped
from koabus.services.skeleton.runner import run_until_stopped
from koabus.services.skeleton.status import StatusPublisher
from koabus.services.skeleton.tasks import BackgroundTasks

from .alert import Alert
from .config import SERVICE, AlertingSettings
from .engine import Engine
from .rules import ALL_CODES, Rule, RulesError, load_rules, realtime_needs

log = logging.getLogger(__name__)

#: how often the loop wakes for its timers when nothing arrives
TICK_S = 0.1
#: the engine's timers (missing heartbeats) run this often
ENGINE_TICK_S = 1.0
#: codes per `subscribe` request
SUBSCRIBE_CHUNK = 100
#: the broker's own topics every alerting service listens to (orders, conditions, system events)
BUS_PREFIXES = ("ch.", "cond.", "sys.")


class AlertingService:
    """A running alerting service. `await run(stop, reload)` until `stop` is set; returns the exit code.

    `notifiers` (name -> Notifier) replaces building them from the settings (tests); `clock()` gives
    the engine's `now_s` (cooldowns, heartbeat timers).
    """

    def __init__(self, settings: AlertingSettings, notifiers: Optional[Mapping[str, Any]] = None,
                 clock: Any = time.time):
        from .notifiers import Dispatcher, make_notifiers

        self.settings = settings
        self.clock = clock
        built = dict(notifiers) if notifiers is not None else make_notifiers(settings.notifiers)
        self.notifier_names = frozenset(built)
        d = settings.delivery
        self.dispatcher = Dispatcher(list(built.values()), queue_size=d.queue_size, retries=d.retries,
                                     backoff_s=d.backoff_s, max_backoff_s=d.max_backoff_s)
        self.rules: Tuple[Rule, ...] = self.read_rules()  # RulesError: the service does not start
        self.names: Dict[str, str] = {}
        self.names_loaded = False  # every name the rules may need (the whole market for "*"/orders)
        self.engine = Engine(self.rules, names=self.names)
        self.beat = ServiceBeat(Identity.here(SERVICE), settings.heartbeat_ms)
        self.state = "starting"
        self.alerts = 0
        self.per_rule: Dict[str, int] = {}
        self.reloads = 0
        self.client: Any = None
        self.publisher: Optional[StatusPublisher] = None
        self._bus_stream: Any = None
        self._rt_stream: Any = None
        self._rt_needs: Dict[str, Tuple[str, ...]] = {}
        self._conditions: Dict[str, Any] = {}
        self._intake = False
        self._mtime = self._rules_mtime()
        self._next_beat = 0.0
        self._next_engine_tick = 0.0
        self._next_reload_check = 0.0
        self.tasks = BackgroundTasks("alerting", log, self.beat)
        self._stream_lock: Optional[asyncio.Lock] = None

    # ---- rules -----------------------------------------------------------------------------------

    def read_rules(self) -> Tuple[Rule, ...]:
        return load_rules(self.settings.rules, notifiers=self.notifier_names)

    def _rules_mtime(self) -> Optional[int]:
        try:
            return os.stat(self.settings.rules).st_mtime_ns
        except OSError:
            return None

    def reload(self, forced: bool = False) -> bool:
        """Load the rules file again if it changed (or `forced`); True when new rules are in use."""
        mtime = self._rules_mtime()
        if not forced and mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            rules = self.read_rules()
        except RulesError as exc:
            log.error("rules not reloaded, the old ones stay: %s", exc)
            self.beat.error(f"rules not reloaded: {exc}")
            return False
        self.engine.replace_rules(rules)
        self.rules = rules
        self.reloads += 1
        self.beat.last_error = None
        log.info("rules reloaded from %s: %d rule(s)", self.settings.rules, len(rules))
        if self.client is not None:
            self._spawn(self._update_streams())
            self._spawn(self._load_names())
        return True

    # ---- the loop ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, reload: Optional[asyncio.Event] = None) -> int:
        ctx = zmq.asyncio.Context.instance()
        self._stream_lock = asyncio.Lock()
        self.publisher = StatusPublisher.bind(ctx, self.settings.status, SERVICE, self.settings.name, self.beat,
                                              sndhwm=10_000)
        watch = ctx.socket(zmq.SUB)
        watch.setsockopt(zmq.LINGER, 0)
        watch.setsockopt(zmq.SUBSCRIBE, b"sys.hb")
        for endpoint in self.settings.watch_services:
            if endpoint != self.settings.status:
                watch.connect(endpoint)
        self.dispatcher.start()
        self._intake = True
        self._spawn(self._watch_services(watch))
        self._spawn(self._connect(stop))
        log.info("alerting: %d rule(s) from %s, notifiers %s, alerts on %s", len(self.rules), self.settings.rules,
                 ", ".join(sorted(self.notifier_names)) or "none", self.settings.status)
        self.state = "running"
        try:
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), TICK_S)
                except asyncio.TimeoutError:
                    pass
                if reload is not None and reload.is_set():
                    reload.clear()
                    log.info("SIGHUP: reloading %s", self.settings.rules)
                    self.reload(forced=True)
                self._tick()
        finally:
            await self._shutdown(watch)
        return 0

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_reload_check:
            self._next_reload_check = now + self.settings.reload_check_s
            self.reload()
        if now >= self._next_engine_tick:
            self._next_engine_tick = now + ENGINE_TICK_S
            self._emit(self.engine.on_tick(self.clock()))
        if now >= self._next_beat:
            self._next_beat = now + self.settings.heartbeat_ms / 1000.0
            self._publish_beat()

    def on_publication(self, pub: Publication) -> None:
        """Every publication from the broker and the watched services goes through here."""
        if not self._intake:
            return
        try:
            alerts = self.engine.on_publication(pub, self.clock())
        except Exception:  # one odd publication must not stop the alerts
            log.exception("the engine failed on %s", pub.topic)
            return
        self._emit(alerts)

    def _emit(self, alerts: List[Alert]) -> None:
        for alert in alerts:
            self.alerts += 1
            self.per_rule[alert.rule] = self.per_rule.get(alert.rule, 0) + 1
            self.dispatcher.dispatch(alert)
            if self.publisher is not None:
                try:
                    self.publisher.publish(alert_topic(alert.rule), PubType.ALERT, alert.to_body(),
                                           alert.time_ns or None)
                except KoabusError as exc:
                    log.error("alert %s could not be published: %s", alert.rule, exc)

    def _publish_beat(self, state: Optional[str] = None) -> None:
        if self.publisher is None:
            return
        self.publisher.beat(
            state or self.state, None, rules=len(self.rules), rules_file=self.settings.rules,
            reloads=self.reloads, names=len(self.names), names_loaded=self.names_loaded, alerts=self.alerts,
            alerts_by_rule=dict(self.per_rule),
            broker=self.client.state if self.client is not None else "connecting",
            engine=dict(self.engine.counters),
            notifiers={name: stats.as_dict() for name, stats in self.dispatcher.stats().items()})

    # ---- the other services' heartbeats ----------------------------------------------------------

    async def _watch_services(self, sock: Any) -> None:
        while True:
            frames = await sock.recv_multipart()
            try:
                pub = Publication.from_frames(frames)
            except KoabusError as exc:
                log.debug("ignoring a malformed status publication: %s", exc)
                continue
            self.on_publication(pub)

    # ---- the broker --------------------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> None:
        """Connect (retrying while there is no broker yet), then open the streams the rules need."""
        from koabus.common.client.streams import TopicStream

        s = self.settings
        self.client = await connect_until_stopped(client_options(s), stop, log)
        if self.client is None:
            return
        self._bus_stream = TopicStream(self.client.connection, prefixes=BUS_PREFIXES, snapshot=False)
        self._bus_stream.add_callback(self.on_publication, iterate=False)
        await self._load_names(market=False)  # before the first alerts: they show names, not codes
        await self._bus_stream.start()
        await self._update_streams()
        log.info("watching the bus at %s", s.pub)
        await self._load_names()

    async def _update_streams(self) -> None:
        """Realtime pairs and condition watches as the current rules need them (after a reload too)."""
        if self.client is None or self._stream_lock is None:
            return
        async with self._stream_lock:
            try:
                await self._update_realtime()
                await self._update_conditions()
            except KoabusError as exc:
                log.error("could not open the streams the rules need: %s", exc)
                self.beat.error(f"streams: {exc}")

    async def _update_realtime(self) -> None:
        from koabus.common.client.streams import TopicStream

        needs = realtime_needs(self.rules)
        if needs == self._rt_needs and self._rt_stream is not None:
            return
        if self._rt_stream is not None:  # first give the old pairs back (the broker counts per client)
            await self._rt_stream.close()
            self._rt_stream = None
        self._rt_needs = needs
        if not needs:
            return
        topics = [f"rt.{slug}.{code}" for slug, codes in needs.items() for code in codes if code != ALL_CODES]
        prefixes = [f"rt.{slug}." for slug, codes in needs.items() if ALL_CODES in codes]
        stream = TopicStream(self.client.connection, topics=topics, prefixes=prefixes, snapshot=False,
                             start_op=lambda: self._subscribe(needs), stop_op=lambda: self._unsubscribe(needs))
        stream.add_callback(self.on_publication, iterate=False)
        await stream.start()
        self._rt_stream = stream

    async def _subscribe(self, needs: Mapping[str, Tuple[str, ...]]) -> List[str]:
        """The realtime stream's start op: ask the broker to publish the pairs with listed codes."""
        topics: List[str] = []
        for slug, codes in needs.items():
            listed = [code for code in codes if code != ALL_CODES]
            for n in range(0, len(listed), SUBSCRIBE_CHUNK):
                chunk = listed[n:n + SUBSCRIBE_CHUNK]
                try:
                    result = await self.client.request("subscribe", {"codes": chunk, "types": [slug]})
                except KoabusError as exc:
                    log.error("the broker refused realtime %s x %s: %s", chunk, slug, exc)
                    self.beat.error(f"subscribe {slug}: {exc}")
                    continue
                found = result.get("topics") if isinstance(result, dict) else None
                topics += [str(t) for t in found or ()]
        return topics

    async def _unsubscribe(self, needs: Mapping[str, Tuple[str, ...]]) -> None:
        for slug, codes in needs.items():
            listed = [code for code in codes if code != ALL_CODES]
            if listed:
                await self.client.request("unsubscribe", {"codes": listed, "types": [slug]})

    async def _update_conditions(self) -> None:
        """A condition watch per condition a rule names (by name or index); the `cond.` prefix of the bus
        stream carries their events to the engine."""
        wanted = {rule.condition for rule in self.rules if rule.kind == "condition"}
        for key in [k for k in self._conditions if k not in wanted]:
            await self._conditions.pop(key).close()
        missing = [key for key in wanted if key not in self._conditions]
        if not missing:
            return
        known = await self.client.conditions()
        for key in missing:
            match = next(((i, n) for i, n in known if key in (n, str(i))), None)
            if match is None:
                log.error("no condition %r on the server (conditions: %s)", key,
                          ", ".join(f"{i}:{n}" for i, n in known) or "none")
                self.beat.error(f"no condition {key!r}")
                continue
            stream = await self.client.condition_stream(match[1], match[0])
            stream.add_callback(lambda event: None, iterate=False)  # the events come as publications
            await stream.start()
            self._conditions[key] = stream

    async def _load_names(self, market: bool = True) -> None:
        """Stock names for `{name}`: the rules' codes first, then the whole market when a rule reads
        every code (or orders and conditions, whose codes are not known in advance)."""
        if self.client is None:
            return
        codes = sorted({code for rule in self.rules for code in rule.codes if code != ALL_CODES} - set(self.names))
        try:
            if codes:
                self.names.update(zip(codes, await self.client.names(codes)))
            if market and any(rule.all_codes or rule.kind in ("order", "condition") for rule in self.rules):
                market = [c for m in ("0", "10") for c in await self.client.codes(m) if c not in self.names]
                self.names.update(zip(market, await self.client.names(market)))
            self.names_loaded = market or not any(rule.all_codes or rule.kind in ("order", "condition")
                                                  for rule in self.rules)
        except KoabusError as exc:
            log.warning("stock names not loaded (alerts show codes): %s", exc)

    # ---- stop --------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)
    async def _shutdown(self, watch: Any) -> None:
        """Stop intake, close the client, deliver what is queued (bounded), last beat, close the sockets."""
        self.state = "stopping"
        self._intake = False
        log.info("alerting stopping: %d alert(s) raised", self.alerts)
        await self.tasks.cancel_all()
        await close_client(self.client)
        loop = asyncio.get_event_loop()
        ended = await loop.run_in_executor(None, self.dispatcher.stop, self.settings.delivery.stop_timeout_s)
        if not ended:
            log.warning("a notifier was still sending at shutdown")
        self.state = "stopped"
        self._publish_beat("stopped")
        watch.close(0)
        self.publisher.close()
        log.info("alerting stopped")


def run(settings: AlertingSettings) -> int:
    """Run until SIGINT or SIGTERM (SIGHUP reloads the rules); returns the exit code."""
    return run_until_stopped(lambda stop, reload: AlertingService(settings).run(stop, reload), reload_on_hup=True)
