"""The broker's I/O thread: owns ROUTER, PUB and the doorbell; validates, answers, publishes.

It decodes every client frame with the protocol codec and answers anything malformed, oversized,
unknown or mistyped with a typed ERROR (counted; the loop never dies on input). `status`, `meta` and
`snapshot` are answered here; other work is posted to the Qt thread. Replies and publications come
back through the Outbox; this thread decodes realtime payloads (the Qt handler only stamps and
queues them), numbers publications, keeps the last-value cache, publishes `sys.hb` every heartbeat
interval and expires the lease of silent DEALER clients.

Memory is bounded whatever clients do (`limits`): every connection has a high-water mark, so a
subscriber that stops reading loses publications (and sees the gap in `topic_seq`) instead of
growing the broker; a send to a client whose queue is full fails visibly (counted per client), stops
that stream and refuses the client's new requests until it reads again; snapshots go out a slice at a
time, a few per client at once; above a share of `limits.max_rss_mb` the broker sheds (memory.py).
A connection identity is never handed over while its client is connected, and one whose session
ended with BYE never gets a session again. With CURVE, this thread also answers ZAP (auth.py) and
every request's key, named by its ZAP User-Id, must hold the op's role or gets Forbidden.
"""
from __future__ import annotations

import dataclasses
import errno
import logging
import threading
import time
from collections import Counter, OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import zmq

from koabus.common.clock import Clock, SystemClock
from koabus.common.errors import (
    InvalidRequest,
    KoabusError,
    MessageTooLarge,
    NotFound,
    Overloaded,
    ProtocolError,
    Unavailable,
    VersionMismatch,
)
from koabus.common.heartbeat import BROKER_SERVICE, HB_TOPIC, Identity, ServiceBeat
from koabus.common.protocol import (
    SUPPORTED_VERSIONS,
    Bye,
    Cancel,
    End,
    ErrorReply,
    Hello,
    Part,
    Ping,
    Pong,
    PubType,
    Reply,
    Request,
    Welcome,
    decode_client,
    encode_broker,
)
from koabus.common.protocol.batch import BatchBuilder, PositionalBatchBuilder
from koabus.common.protocol.constants import MAX_REPLY_FRAME_BYTES, TRANSPORT_MAX_BYTES, BrokerType
from koabus.common.protocol.publication import PublicationEncoder

from .auth import ADMIN, ZAP_ENDPOINT, AllowList, Authority, ZapHandler, server_keys
from .channels import Outbox
from .clients import ClientInfo, RetiredIds, SnapshotJob, TokenBucket, fingerprint, seed_routing_ids
from .config import BrokerSettings
from .decoding import RealtimeDecoder
from .memory import MemoryGuard
from .publisher import Sequencer
from .requests import LOCAL_OPS, STATUS_SUMMARY_KEYS, validate
from .subscriptions import Subscriptions

log = logging.getLogger(__name__)

_FINAL = frozenset(BrokerType.FINAL)
_SNDMORE = int(zmq.SNDMORE)  # a plain int: pyzmq's enum arithmetic costs more than the send
STATUS_EVERY_BEATS = 5
#: final answers kept per client while its queue is full (each is small: REPLY, END or ERROR)
OWED_LIMIT = 2_000

#: ops answered by PARTs then END: never replayed from the idempotency cache
STREAM_OPS = frozenset({"tr", "kwfid", "order", "cancel_order", "modify_order", "snapshot"})
#: errors that say "not now", not "no": a retry with the same idem_key must try again
TRANSIENT_ERRORS = frozenset({"Unavailable", "Overloaded", "Timeout", "Cancelled", "JournalUnavailable"})
#: order ops and the argument that makes them idempotent on their own (the order book's dedup)
_ORDER_ID_ARG = {"order": "client_order_id", "cancel_order": "client_order_id_new",
                 "modify_order": "client_order_id_new"}
IDEM_CACHE_LIMIT = 10_000
#: ops refused with Overloaded while the broker sheds for memory
SHED_OPS = frozenset({"snapshot", "subscribe", "condition_watch"})
#: after a reply could not be queued for a client, its new requests are refused this long
CONGESTION_HOLD_S = 1.0
#: a snapshot that cannot go on this long makes its client congested (it is not reading)
STALL_REFUSE_S = 1.0
#: snapshot parts sent per loop turn over all clients, so publishing is never held up for long
SNAPSHOT_PARTS_PER_TURN = 256
#: the longest the I/O thread works the Outbox before it looks at requests and timers again
FLUSH_BUDGET_S = 0.02
#: how soon a snapshot whose client's queue was full is tried again
SNAPSHOT_RETRY_MS = 10
#: metadata answers remembered (the catalog is fixed; a client asking for every key cannot grow it more)
META_CACHE_LIMIT = 4_096
#: what a send to a client came to
SENT, BLOCKED, GONE, DROPPED = "sent", "blocked", "gone", "dropped"


class IdempotencyCache:
    """What the broker remembers per `idem_key` (I/O thread only; plain, no I/O).

    A key is *running* from the request's arrival until its final answer (or the Qt side drops
    it); a repeat meanwhile is told it is in progress. When a single-REPLY op finishes with a
    REPLY or a definitive ERROR, that answer is kept (the newest `limit` keys, oldest evicted in
    O(1)) and a repeat gets it again without the work being redone. A stream op, a transient
    error (Unavailable, Overloaded, Timeout, Cancelled) or a dropped request releases the key:
    the next request with it runs afresh.
    """

    RUNNING = object()

    def __init__(self, limit: int = IDEM_CACHE_LIMIT):
        self.limit = limit
        self._answers: OrderedDict[str, Any] = OrderedDict()
        self._running: Dict[str, Tuple[bytes, int]] = {}
        self._key_of: Dict[Tuple[bytes, int], Tuple[str, bool]] = {}

    def lookup(self, key: str) -> Any:
        """The cached final answer, `RUNNING`, or None for a key free to run."""
        if key in self._running:
            return self.RUNNING
        return self._answers.get(key)

    def begin(self, key: str, identity: bytes, request_id: int, replayable: bool) -> None:
        self._running[key] = (identity, request_id)
        self._key_of[(identity, request_id)] = (key, replayable)

    def finish(self, identity: bytes, request_id: int, answer: Any = None) -> None:
        """The request's final answer was sent (`answer`), or it ended without one (None)."""
        entry = self._key_of.pop((identity, request_id), None)
        if entry is None:
            return
        key, replayable = entry
        self._running.pop(key, None)
        if not replayable or answer is None or answer.TYPE not in (BrokerType.REPLY, BrokerType.ERROR):
            return
        if answer.TYPE == BrokerType.ERROR and answer.kind in TRANSIENT_ERRORS:
            return
        self._answers[key] = answer
        self._answers.move_to_end(key)
        while len(self._answers) > self.limit:
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers) + len(self._running)

    def running(self) -> int:
        return len(self._running)


class IoServer(threading.Thread):
    """Run with `start()`; `ready` is set once both sockets are bound (or `error` is set)."""

    def __init__(self, settings: BrokerSettings, context: zmq.Context, outbox: Outbox, inbox,
                 doorbell_endpoint: str, catalog, sequencer: Optional[Sequencer] = None,
                 clock: Optional[Clock] = None):
        super().__init__(name="koabus-io", daemon=True)
        self.settings = settings
        self.context = context
        self.outbox = outbox
        self.inbox = inbox
        self.doorbell_endpoint = doorbell_endpoint
        self.control_endpoint = doorbell_endpoint + ".ctl"
        self.catalog = catalog
        self.sequencer = sequencer or Sequencer()
        self.rt_decoder = RealtimeDecoder(catalog, clock or SystemClock())
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.error: Optional[BaseException] = None
        self.router_endpoint = ""
        self.pub_endpoint = ""
        self.clients: Dict[bytes, ClientInfo] = {}
        self.counters: Counter = Counter()
        self.state: Dict[str, Any] = {"connected": False, "state": "starting"}
        self._stopping = False
        self._accepting = True
        self._beats = 0
        self._idem = IdempotencyCache()
        self.limits = settings.limits
        self.memory = MemoryGuard(self.limits.rss_bound_mb(settings.backend), self.limits.shed_fraction)
        self._retired = RetiredIds()
        self._with_snapshots: OrderedDict[bytes, None] = OrderedDict()  # clients with snapshots to send
        self._owing: OrderedDict[bytes, None] = OrderedDict()  # clients with final answers still to send
        self._router: Optional[zmq.Socket] = None
        self._pub: Optional[zmq.Socket] = None
        #: with CURVE: the allow-list, the ZAP handler and the ROUTER/PUB sockets' own context (its ZAP
        #: endpoint belongs to this broker alone, whatever else shares the process's context)
        self.allow: Optional[AllowList] = None
        self.authority = Authority(None)
        self._zap: Optional[ZapHandler] = None
        self._net_context: Optional[zmq.Context] = None
        self._meta_answers: Dict[Tuple[Any, Any], Any] = {}  # (kind, key) -> answer (`_meta_cached`)
        #: the PUB side's subscriptions (XPUB messages) and the batches built while someone asks for them
        self.subscriptions = Subscriptions()
        self.batches = BatchBuilder(max_bytes=self.limits.batch_max_bytes)
        self.positional = PositionalBatchBuilder(max_bytes=self.limits.batch_max_bytes)
        self._pack_positional = PublicationEncoder().body  # [code, values] of a positional item (§4.4)

    @property
    def epoch(self) -> int:
        return self.sequencer.epoch

    # -- lifecycle ---------------------------------------------------------------------------
    def stop_intake(self) -> None:
        """Refuse new requests with Unavailable from now on (first step of an ordered shutdown)."""
        self._accepting = False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Flush what is queued, close the sockets (linger 0) and end the thread."""
        if not self.is_alive():
            return
        self._stopping = True
        ctl = self.context.socket(zmq.PUSH)
        ctl.setsockopt(zmq.LINGER, 0)
        ctl.connect(self.control_endpoint)
        try:
            ctl.send(b"stop", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        finally:
            ctl.close(0)
        self.join(timeout_s)

    def run(self) -> None:
        ctx = self.context
        sockets = []
        zap = None
        try:
            seed_routing_ids()
            net = ctx
            if self.settings.curve.enabled:  # ZAP handler bound before any CURVE socket exists
                net = self._net_context = zmq.Context()
                zap = net.socket(zmq.REP)
                sockets.append(zap)
                zap.bind(ZAP_ENDPOINT)
                self.allow = AllowList(self.settings.curve.keys_dir)
                self.authority = Authority(self.allow)
                self._zap = ZapHandler(self.allow, self.counters)
            router = net.socket(zmq.ROUTER)
            sockets.append(router)
            pub = net.socket(zmq.XPUB)  # a PUB that also tells what its subscribers filter on
            sockets.append(pub)
            doorbell = ctx.socket(zmq.PULL)
            sockets.append(doorbell)
            ctl = ctx.socket(zmq.PULL)
            sockets.append(ctl)
            for s in sockets:
                s.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.MAXMSGSIZE, TRANSPORT_MAX_BYTES)
            # an identity in use is never handed to another connection (it would get the replies)
            router.setsockopt(zmq.ROUTER_HANDOVER, 0)
            # a send to a full or gone client fails instead of vanishing: counted, its stream stopped
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            router.setsockopt(zmq.SNDHWM, self.limits.router_hwm)
            router.setsockopt(zmq.RCVHWM, self.limits.router_rcvhwm)
            pub.setsockopt(zmq.SNDHWM, self.limits.pub_hwm)  # a slow subscriber drops, and sees the gap
            if self.settings.curve.enabled:
                public, secret = server_keys(self.settings.curve)
                for s in (router, pub):
                    s.curve_server = True
                    s.curve_secretkey = secret.encode("ascii")
                    s.curve_publickey = public.encode("ascii")
                del secret
            doorbell.bind(self.doorbell_endpoint)
            ctl.bind(self.control_endpoint)
            router.bind(self.settings.router)
            pub.bind(self.settings.pub)
            self.router_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self.pub_endpoint = pub.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:  # bind failure: report to the starter, close what we made
            self.error = exc
            for s in sockets:
                s.close(0)
            self._term_net_context()
            self.ready.set()
            self.stopped.set()
            return
        self._router, self._pub = router, pub
        self.outbox.consuming = True
        self.ready.set()
        log.info("I/O thread: ROUTER %s, PUB %s, epoch %d", self.router_endpoint, self.pub_endpoint, self.epoch)
        try:
            self._loop(router, pub, doorbell, ctl, zap)
        except BaseException:  # pragma: no cover - a bug; keep the process alive enough to log it
            log.exception("I/O thread crashed")
        finally:
            self.outbox.consuming = False
            try:
                self._flush_outbox()
            except Exception:  # pragma: no cover
                log.exception("flushing the outbox failed")
            for s in sockets:
                s.close(0)
            self._term_net_context()
            log.info("I/O thread: sockets closed")
            self.stopped.set()

    def _term_net_context(self) -> None:
        if self._net_context is not None:
            self._net_context.term()
            self._net_context = None

    def _loop(self, router, pub, doorbell, ctl, zap=None) -> None:
        poller = zmq.Poller()
        if zap is not None:
            poller.register(zap, zmq.POLLIN)
        poller.register(router, zmq.POLLIN)
        poller.register(pub, zmq.POLLIN)
        poller.register(doorbell, zmq.POLLIN)
        poller.register(ctl, zmq.POLLIN)
        hb_interval = self.settings.heartbeat_ms / 1000.0
        next_hb = time.monotonic() + hb_interval
        next_lease = time.monotonic() + 0.25
        snapshots_ready = outbox_left = False
        while not self._stopping:
            timeout_ms = max(0, int((min(next_hb, next_lease) - time.monotonic()) * 1000))
            if self._with_snapshots or self._owing:
                timeout_ms = 0 if snapshots_ready else min(timeout_ms, SNAPSHOT_RETRY_MS)
            if outbox_left:  # no doorbell for what is still queued: come straight back for it
                timeout_ms = 0
            events = dict(poller.poll(timeout_ms))
            if ctl in events:
                break
            if pub in events:  # before the flush: a heartbeat never precedes a decision it depends on
                self._read_subscriptions(pub)
            if zap is not None and zap in events and self._zap is not None:
                self._zap.handle(zap)
            if doorbell in events:  # one ring per wake-up; poll reports any other still queued
                try:
                    doorbell.recv(zmq.NOBLOCK)
                except zmq.Again:
                    pass
            outbox_left = bool(len(self.outbox)) and self._flush_outbox(FLUSH_BUDGET_S)
            if router in events:
                self._read_router(router)
            now = time.monotonic()
            if self._owing:
                self._pay_owed(router)
            snapshots_ready = bool(self._with_snapshots) and self._advance_snapshots(now)
            self._check_memory(now)
            if now >= next_hb:
                next_hb = now + hb_interval
                self._heartbeat()
            if now >= next_lease:
                next_lease = now + 0.25
                self._expire_leases(now)
                if self.allow is not None:  # a revoked key's open connections lose their role soon too
                    self.allow.refresh()

    # -- inbound -----------------------------------------------------------------------------
    def _read_subscriptions(self, pub) -> None:
        for _ in range(10_000):
            try:
                message = pub.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if self.subscriptions.feed(message):
                log.info("publications: batches %s, positional batches %s, single realtime %s",
                         "on" if self.subscriptions.batching else "off",
                         "on" if self.subscriptions.positional else "off",
                         "on" if self.subscriptions.realtime else "off")

    def _read_router(self, router) -> None:
        authenticated = self.allow is not None
        for _ in range(2000):
            user = None
            try:
                if authenticated:  # the key's name, from ZAP's User-Id on the connection's messages
                    parts = router.recv_multipart(zmq.NOBLOCK, copy=False)
                    user = parts[-1].get("User-Id")
                    frames = [p.bytes for p in parts]
                else:
                    frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_frames(frames, user)
            except Exception:  # never let one message take the loop down
                self.counters["internal_errors"] += 1
                log.exception("handling a client message failed")

    def _on_frames(self, frames, user: Optional[str] = None) -> None:
        identity = frames[0]
        client = self.clients.get(identity)
        if client is None:
            client = self._new_client(identity, frames)
            if client is None:
                return
        client.last_seen = time.monotonic()
        client.messages += 1
        self.counters["messages_in"] += 1
        try:
            msg = decode_client(frames[1:], self.settings.max_frame_bytes)
        except ProtocolError as exc:
            rid = exc.details.get("request_id", 0)
            self._send(identity, ErrorReply.from_exception(rid if isinstance(rid, int) else 0, exc))
            return
        if isinstance(msg, Request):
            self._on_request(client, msg, user)
        elif isinstance(msg, Ping):
            self._send(identity, Pong(msg.request_id, self.epoch, self.sequencer.seq))
        elif isinstance(msg, Hello):
            self._on_hello(client, msg)
        elif isinstance(msg, Cancel):
            if not self._cancel_snapshot(client, msg.request_id):
                self.inbox.post(("cancel", identity, msg.request_id))
        elif isinstance(msg, Bye):
            self._drop_client(identity, "bye", retire=True)

    def _new_client(self, identity: bytes, frames) -> Optional[ClientInfo]:
        """A session for a new identity, or None (answered) when it is retired or there is no room."""
        refusal: Optional[KoabusError] = None
        if identity in self._retired:
            self.counters["identities_refused"] += 1
            refusal = ProtocolError("this connection identity belongs to a session that ended; "
                                    "connect with a new socket (a new identity)")
        elif len(self.clients) >= self.limits.max_clients:
            self.counters["clients_refused"] += 1
            refusal = Overloaded(f"the broker has {len(self.clients)} clients, its limit",
                                 details={"max_clients": self.limits.max_clients})
        if refusal is not None:
            rid = _request_id_of(frames)
            self._send(identity, ErrorReply.from_exception(rid, refusal))
            return None
        client = self.clients[identity] = ClientInfo(identity)
        client.snapshot_bucket = TokenBucket(self.limits.snapshots_per_s, now=time.monotonic())
        self.counters["clients_seen"] += 1
        return client

    def _on_hello(self, client: ClientInfo, msg: Hello) -> None:
        common = sorted(set(msg.versions) & set(SUPPORTED_VERSIONS))
        if not common:
            exc = VersionMismatch("no common protocol version",
                                  details={"supported": list(SUPPORTED_VERSIONS)})
            self._send(client.identity, ErrorReply.from_exception(msg.request_id, exc))
            return
        client.name = msg.client
        client.heartbeat_ms = msg.heartbeat_ms
        server = {k: self.state.get(k) for k in ("connected", "server", "state")}
        self._send(client.identity, Welcome(msg.request_id, common[-1], self.epoch, self.settings.name,
                                            server, self.settings.heartbeat_ms, self.settings.max_frame_bytes,
                                            self.settings.client_lease_ms))

    def _on_request(self, client: ClientInfo, msg: Request, user: Optional[str] = None) -> None:
        rid = msg.request_id
        self.counters["requests"] += 1
        try:
            if not self._accepting:
                raise Unavailable("the broker is shutting down")
            self._check_room(client, msg.op)
            role = self._authorize(user, msg.op)
            args = validate(msg.op, self._with_default_account(msg.op, msg.args))
            if msg.idem_key and not args.get(_ORDER_ID_ARG.get(msg.op, "")):
                cached = self._idem.lookup(msg.idem_key)
                if cached is not None:
                    self._replay_idem(client.identity, rid, msg.idem_key, cached)
                    return
                self._idem.begin(msg.idem_key, client.identity, rid, msg.op not in STREAM_OPS)
            if msg.op in LOCAL_OPS:
                self._answer_local(client, rid, msg.op, args, role)
                return
            if len(client.inflight) >= self.settings.max_inflight_per_client:
                raise Overloaded(f"more than {self.settings.max_inflight_per_client} requests in flight",
                                 details={"inflight": len(client.inflight)})
            client.inflight.add(rid)
            deadline = time.monotonic() + msg.deadline_ms / 1000.0 if msg.deadline_ms else None
            self.inbox.post(("req", client.identity, rid, msg.op, args, deadline))
        except KoabusError as exc:
            self._send(client.identity, ErrorReply.from_exception(rid, exc))

    def _authorize(self, user: Optional[str], op: str) -> str:
        """The request's role, or Forbidden (counted) when its key may not run `op`."""
        try:
            return self.authority.check(user, op)
        except KoabusError:
            self.counters["refused_forbidden"] += 1
            raise

    def _check_room(self, client: ClientInfo, op: str) -> None:
        """Overloaded for a client that is not reading its replies, and for growing work while shedding."""
        if client.congested(time.monotonic()):
            self.counters["refused_congested"] += 1
            raise Overloaded("this client is not reading its replies; requests are refused until it does",
                             details={"blocked": client.blocked, "dropped": client.dropped})
        if self.memory.shedding and op in SHED_OPS:
            self.counters["refused_shedding"] += 1
            raise Overloaded(f"the broker is short of memory: {op} refused for now",
                             details={"rss_mb": round(self.memory.rss_mb), "max_rss_mb": self.memory.max_mb})

    def _with_default_account(self, op: str, args: Any) -> Any:
        """Order args with `account.default` filled in when the request names no account."""
        default = self.settings.account.default
        if default and op in _ORDER_ID_ARG and isinstance(args, dict) and not args.get("account"):
            return {**args, "account": default}
        return args

    def _replay_idem(self, identity: bytes, rid: int, key: str, cached: Any) -> None:
        if cached is IdempotencyCache.RUNNING:
            exc = InvalidRequest("a request with this idem_key is still in progress", details={"idem_key": key})
            self._send(identity, ErrorReply.from_exception(rid, exc))
            return
        self.counters["idem_replays"] += 1
        self._send(identity, dataclasses.replace(cached, request_id=rid))

    # -- local answers -----------------------------------------------------------------------
    def _answer_local(self, client: ClientInfo, rid: int, op: str, args: Dict[str, Any],
                      role: str = ADMIN) -> None:
        if op == "status":
            self._send(client.identity, Reply(rid, self._status_for(role)))
        elif op == "meta":
            self._send(client.identity, Reply(rid, self._meta_cached(args)))
        elif op == "snapshot":
            self._start_snapshot(client, rid, args.get("prefix", "rt."))

    # -- snapshots, a slice at a time --------------------------------------------------------
    def _start_snapshot(self, client: ClientInfo, rid: int, prefix: str) -> None:
        """Capture now (the state after publication `seq`), send later as the client's queue allows."""
        limits = self.limits
        if len(client.snapshots) >= limits.snapshots_in_flight:
            self.counters["snapshots_refused"] += 1
            raise Overloaded(f"more than {limits.snapshots_in_flight} snapshots in progress",
                             details={"in_flight": len(client.snapshots)})
        if client.snapshot_bucket is not None and not client.snapshot_bucket.take(time.monotonic()):
            self.counters["snapshots_refused"] += 1
            raise Overloaded(f"more than {limits.snapshots_per_s:g} snapshots a second")
        items, seq = self.sequencer.snapshot(prefix)
        client.snapshots.append(SnapshotJob(rid, items, seq))
        self._with_snapshots[client.identity] = None

    def _advance_snapshots(self, now: float) -> bool:
        """Send up to SNAPSHOT_PARTS_PER_TURN parts, round robin over clients; True if more can go now."""
        budget = SNAPSHOT_PARTS_PER_TURN
        progressed = False
        for identity in list(self._with_snapshots):
            if budget <= 0:
                break
            self._with_snapshots.move_to_end(identity)
            client = self.clients.get(identity)
            if client is not None and client.snapshots:
                before = budget
                budget = self._advance_client(client, now, budget)
                progressed = progressed or budget < before
            if client is None or not client.snapshots:
                self._with_snapshots.pop(identity, None)
        return progressed and bool(self._with_snapshots)

    def _advance_client(self, client: ClientInfo, now: float, budget: int) -> int:
        while budget > 0 and client.snapshots:
            job = client.snapshots[0]
            last = job.remaining == 0
            msg = (End(job.request_id, len(job.items), {"epoch": self.epoch, "seq": job.seq}) if last
                   else Part(job.request_id, job.sent, job.items[job.sent].to_dict()))
            outcome = self._send(client.identity, msg, resumable=True)
            if outcome == BLOCKED:
                self._snapshot_stalled(client, job, now)
                return budget
            budget -= 1
            job.stalled_since = None
            if outcome == GONE or last:
                client.snapshots.popleft()
                if outcome == GONE:  # nobody at that identity now: nothing else to send it either
                    self.counters["snapshots_abandoned"] += len(client.snapshots) + (not last)
                    client.snapshots.clear()
            else:
                job.sent += 1
        return budget

    def _cancel_snapshot(self, client: ClientInfo, rid: int) -> bool:
        """CANCEL of a snapshot in progress: it stops, END says how many parts went out."""
        for job in client.snapshots:
            if job.request_id == rid:
                client.snapshots.remove(job)
                self._send(client.identity, End(rid, job.sent, {"epoch": self.epoch, "seq": job.seq,
                                                                "cancelled": True}))
                return True
        return False

    def _snapshot_stalled(self, client: ClientInfo, job: SnapshotJob, now: float) -> None:
        if job.stalled_since is None:
            job.stalled_since = now
            client.blocked += 1
            self.counters["replies_blocked"] += 1
        stalled_s = now - job.stalled_since
        if stalled_s >= STALL_REFUSE_S:
            client.congested_until = now + CONGESTION_HOLD_S
        if stalled_s >= self.limits.stall_timeout_s:  # it reads nothing: give up every one, free what they pin
            jobs, client.snapshots = list(client.snapshots), type(client.snapshots)()
            self.counters["snapshots_abandoned"] += len(jobs)
            for dead in jobs:
                client.dropped += dead.remaining + 1
                exc = Overloaded(f"snapshot abandoned: the client read nothing for {stalled_s:.0f} s",
                                 details={"sent": dead.sent, "parts": len(dead.items)})
                self._send(client.identity, ErrorReply.from_exception(dead.request_id, exc))

    def status(self) -> Dict[str, Any]:
        now = time.monotonic()
        state = dict(self.state)
        queues = dict(state.pop("queues", {}) or {})
        queues.update({"inbox": len(self.inbox), "outbox": len(self.outbox)})
        counters = dict(self.counters)
        counters.update(state.pop("counters", {}) or {})
        counters["outbox_dropped"] = self.outbox.dropped
        counters["outbox_shed"] = self.outbox.shed
        counters["realtime_parse_failures"] = self.rt_decoder.parse_failures
        return {
            **state,
            "epoch": self.epoch,
            "seq": self.sequencer.seq,
            "broker": self.settings.name,
            **{k: v for k, v in self._service_beat().body("").items() if k in ("pid", "host", "uptime_s")},
            "clients": [
                {"name": c.name, "idle_s": round(now - c.last_seen, 3), "inflight": len(c.inflight),
                 "snapshots": len(c.snapshots), "blocked": c.blocked, "dropped": c.dropped}
                for c in self.clients.values()
            ],
            "memory": self.memory.status(),
            "security": self._security(),
            "queues": queues,
            "counters": counters,
            "lvc_topics": self.sequencer.cached_topics(),
            "publications": {**self.subscriptions.status(), "batches": self.batches.batches,
                             "batched_events": self.batches.events, "positional_batches": self.positional.batches,
                             "positional_events": self.positional.events},
        }

    def _status_for(self, role: str) -> Dict[str, Any]:
        """`status` as `role` may see it: below admin the summary, no clients, queues or counters."""
        status = self.status()
        if role == ADMIN:
            return status
        return {k: status[k] for k in STATUS_SUMMARY_KEYS if k in status}

    def _pub_role(self) -> str:
        """Who may read publications: with CURVE any allowed key (read), without it everyone (admin)."""
        return ADMIN if self.allow is None else "read"

    def _security(self) -> Dict[str, Any]:
        """CURVE on or off, how many keys are allowed, and the --insecure warning (never a key)."""
        return {"curve": self.settings.curve.enabled,
                "allowed_keys": len(self.allow) if self.allow is not None else None,
                "insecure": self.settings.insecure_warning()}

    def _meta_cached(self, args: Dict[str, Any]) -> Any:
        """`_meta`, remembered per (kind, key): the catalog never changes while the broker runs, and the
        lookup plus its conversion to plain maps is most of a metadata round trip's work here."""
        cache_key = (args["kind"], args.get("key"))
        try:
            return self._meta_answers[cache_key]
        except KeyError:
            pass
        except TypeError:  # an unhashable key: answered (or refused) uncached
            return self._meta(args)
        answer = self._meta(args)  # NotFound and InvalidRequest propagate and are not cached
        if len(self._meta_answers) >= META_CACHE_LIMIT:
            self._meta_answers.clear()
        self._meta_answers[cache_key] = answer
        return answer

    def _meta(self, args: Dict[str, Any]) -> Any:
        kind, key = args["kind"], args.get("key")
        cat = self.catalog
        if kind == "list_tr":
            return cat.tr_codes()
        if kind == "list_realtypes":
            return [{"name": r.name, "slug": r.slug, "gidc": r.gidc} for r in cat.realtypes()]
        lookups = {"tr": cat.tr, "realtype": cat.realtype, "fid": cat.fid, "error": cat.error,
                   "method": cat.method}
        if kind not in lookups:
            raise InvalidRequest(f"unknown meta kind {kind!r}",
                                 details={"valid": sorted(lookups) + ["list_realtypes", "list_tr"]})
        if key is None:
            raise InvalidRequest(f"meta {kind} needs 'key'")
        try:
            entry = lookups[kind](key)
        except NotFound:
            raise
        except (ValueError, TypeError, KeyError):
            raise NotFound(f"unknown {kind} {key!r}") from None
        return _plain(entry)

    # -- outbound ----------------------------------------------------------------------------
    def _flush_outbox(self, budget_s: Optional[float] = None) -> bool:
        """Drain the Outbox in batches: decode realtime, number, encode and send; route replies.

        With `budget_s`, stop after the batch that passes it and return True if items are left, so a
        producer that never pauses cannot keep this thread from requests, heartbeats and leases.
        While some subscriber asks for batches (§4.3, §4.4), each drain's realtime publications also leave
        as batches, right after the drain: batching waits for nothing that is not already here.
        """
        router, pub = self._router, self._pub
        if router is None or pub is None:
            return False
        deadline = None if budget_s is None else time.monotonic() + budget_s
        sequencer = self.sequencer
        frames_of = sequencer.frames
        realtime_frames = self._realtime_frames
        send = pub.send
        more = _SNDMORE
        drain = self.outbox.drain
        clock = self.rt_decoder.clock
        realtime = PubType.REALTIME
        while True:
            if deadline is not None and time.monotonic() >= deadline:
                return True
            items = drain()
            if not items:
                for topic, count in self.outbox.take_dropped().items():  # dropped unnumbered: leave the gap
                    sequencer.skip(topic, count)
                return False
            now = clock.time()  # one clock read per batch for the events' exchange dates
            batching = self.subscriptions.batching
            single = self.subscriptions.realtime
            positional = self.subscriptions.positional
            keyed = batching or single  # someone takes the keyed body (§4.1, §4.3)
            add = self.batches.add
            for item in items:
                tag = item[0]
                try:
                    if tag == "T":
                        if positional:
                            topic, envelope, body = self._realtime_positional(item, now, keyed)
                            if not keyed:
                                continue
                        else:
                            topic, envelope, body = realtime_frames(item, now)
                    elif tag == "P":
                        code_values = self._body_positional(item) if positional and item[2] == realtime else None
                        topic, envelope, body = frames_of(item[1], item[2], item[3], item[4], item[5])
                        if item[2] != realtime:
                            if (batching or positional) and self._batches_open():  # numbered before it: first
                                self._send_batches(pub)
                            send(topic, more)
                            send(envelope, more)
                            send(body)
                            continue
                        if code_values is not None:
                            self.positional.add(topic, envelope, item[3]["type"], tuple(item[3]["values"]),
                                                code_values, sequencer.seq)
                    else:
                        self._on_outbox_item(item)
                        continue
                except (ProtocolError, UnicodeEncodeError) as exc:  # never published, no number used
                    self._encode_failed(item[1], exc)
                    continue
                except Exception:  # a bug with one item must not stop the others (nor the thread)
                    self.counters["outbox_errors"] += 1
                    if self.counters["outbox_errors"] <= 10:
                        log.exception("outbox item %r failed", tag)
                    continue
                if batching:
                    add(topic, envelope, body, sequencer.seq)
                if single:  # PUB never blocks: at the high-water mark it drops (subscribers see the gap)
                    send(topic, more)
                    send(envelope, more)
                    send(body)
            if (batching or positional) and self._batches_open():
                self._send_batches(pub)

    def _batches_open(self) -> bool:
        return bool(len(self.batches) or len(self.positional))

    def _send_batches(self, pub) -> None:
        now = time.time_ns()
        for builder in (self.batches, self.positional):
            for topic, envelope, body in builder.close(self.epoch, now):
                pub.send(topic, _SNDMORE)
                pub.send(envelope, _SNDMORE)
                pub.send(body)

    def _realtime_frames(self, item, now: float):
        """("T", topic, table, code, type, raw, recv_ns) -> frames: the decode step of realtime events.

        `raw` is the tab-separated payload, or the values read one FID at a time (a list) when
        the payload did not match the metadata layout.
        """
        _, topic, table, code, type_name, raw, recv_ns = item
        decoder = self.rt_decoder
        values, bad = table.decode(raw.split("\t") if isinstance(raw, str) else raw)
        if bad:
            decoder.parse_failures += bad
        return self.sequencer.frames(topic, PubType.REALTIME, {"type": type_name, "code": code, "values": values},
                                     decoder.event_ns(values, now), recv_ns)

    def _realtime_positional(self, item, now: float, keyed: bool):
        """`_realtime_frames` that also adds the event to its positional batch (§4.4); the keyed body
        frame is encoded only when `keyed` (someone takes it), else None."""
        _, topic, table, code, type_name, raw, recv_ns = item
        decoder = self.rt_decoder
        values, bad = table.decode(raw.split("\t") if isinstance(raw, str) else raw)
        if bad:
            decoder.parse_failures += bad
        code_values = self._pack_positional([code, list(values.values())])  # before a number is used
        body = {"type": type_name, "code": code, "values": values}
        sequencer = self.sequencer
        if keyed:
            frames = sequencer.frames(topic, PubType.REALTIME, body, decoder.event_ns(values, now), recv_ns)
        else:
            frames = (*sequencer.numbered(topic, PubType.REALTIME, body, decoder.event_ns(values, now), recv_ns), None)
        self.positional.add(frames[0], frames[1], type_name, table.names, code_values, sequencer.seq)
        return frames

    def _body_positional(self, item) -> Optional[bytes]:
        """[code, values] of a realtime publication queued whole ("P"), when its body has the RT shape."""
        body = item[3]
        if not (isinstance(body, dict) and isinstance(body.get("values"), dict) and isinstance(body.get("type"), str)
                and isinstance(body.get("code"), str)):
            return None
        return self._pack_positional([body["code"], list(body["values"].values())])

    def _on_outbox_item(self, item) -> None:
        tag = item[0]
        if tag == "R":
            self._send(item[1], item[2])
        elif tag == "S":
            self.state = item[1]
        elif tag == "F":  # nobody subscribes to these realtime topics any more: no stale snapshots
            for topic in item[1]:
                self.sequencer.forget(topic)
            self.counters["lvc_forgotten"] += len(item[1])
        elif tag == "X":  # the Qt side is done with this client's request (no reply left)
            client = self.clients.get(item[1])
            if client is not None:
                client.inflight.discard(item[2])
                client.broken.pop(item[2], None)
            self._idem.finish(item[1], item[2])

    def _encode_failed(self, topic: str, exc: Exception) -> None:
        self.counters["encode_errors"] += 1
        if self.counters["encode_errors"] <= 10:
            log.warning("publication on %r not sent: %s", topic, exc)

    def _send(self, identity: bytes, msg, resumable: bool = False) -> str:
        """Encode and queue one message for `identity`; SENT, BLOCKED (its queue is full), GONE or DROPPED.

        A blocked message of a stream that cannot resume (everything but a snapshot part) breaks that
        stream: the Qt side is told to stop it, later parts are dropped and its final answer becomes
        Overloaded; the client's new requests are refused for CONGESTION_HOLD_S.
        """
        router = self._router
        if router is None:
            return DROPPED
        client = self.clients.get(identity)
        if client is not None and client.broken and msg.request_id in client.broken:
            msg = self._broken_answer(client, msg)
            if msg is None:
                return DROPPED
        sent = msg
        try:
            frames = encode_broker(msg)
        except ProtocolError as exc:  # a result msgpack cannot carry: answer with the error instead
            self.counters["encode_errors"] += 1
            sent = ErrorReply.from_exception(msg.request_id, exc)
            frames = encode_broker(sent)
        if any(len(f) > MAX_REPLY_FRAME_BYTES for f in frames):
            self.counters["oversized_replies"] += 1
            sent = ErrorReply.from_exception(msg.request_id,
                                             MessageTooLarge("the answer exceeds the reply frame limit"))
            frames = encode_broker(sent)
        if sent.TYPE == BrokerType.ERROR:  # every ERROR, whichever thread decided it, is counted once
            self._count_error(sent.kind)
        if msg.TYPE in _FINAL:
            client = self.clients.get(identity)
            if client is not None:
                client.inflight.discard(msg.request_id)
            self._idem.finish(identity, msg.request_id, msg)
        if client is not None and client.owed and not resumable:  # keep the order of final answers
            return self._owe(client, sent, frames)
        try:
            router.send_multipart([identity, *frames], zmq.NOBLOCK)
        except zmq.Again:
            if not resumable:
                owed = sent.TYPE in _FINAL  # every request gets its answer: it waits for room, bounded
                self._blocked(client, msg, lost=not owed)
                if owed:
                    return self._owe(client, sent, frames)
            return BLOCKED
        except zmq.ZMQError as exc:
            self.counters["send_failures"] += 1
            if exc.errno == errno.EHOSTUNREACH:  # the connection is gone (the id may come back)
                self.counters["replies_unroutable"] += 1
                if client is not None and msg.TYPE == BrokerType.PART and not resumable:
                    client.broken[msg.request_id] = 1
                    self.inbox.post(("cancel", identity, msg.request_id))
            return GONE
        self.counters["messages_out"] += 1
        return SENT

    def _owe(self, client: Optional[ClientInfo], msg, frames: List[bytes]) -> str:
        """Keep a final answer that did not fit until the client reads (at most OWED_LIMIT per client)."""
        if client is None:
            return BLOCKED
        if len(client.owed) >= OWED_LIMIT:  # it reads nothing at all: the oldest answer is lost, counted
            client.owed.popleft()
            self.counters["owed_dropped"] += 1
        client.owed.append(frames)
        self._owing[client.identity] = None
        self.counters["answers_owed"] += 1
        return BLOCKED

    def _pay_owed(self, router) -> None:
        """Send owed final answers, oldest first, to every client whose queue has room again."""
        for identity in list(self._owing):
            client = self.clients.get(identity)
            while client is not None and client.owed:
                try:
                    router.send_multipart([identity, *client.owed[0]], zmq.NOBLOCK)
                except zmq.Again:
                    break
                except zmq.ZMQError:  # the connection is gone: nobody to answer
                    client.owed.clear()
                    break
                client.owed.popleft()
                self.counters["messages_out"] += 1
            if client is None or not client.owed:
                self._owing.pop(identity, None)

    def _blocked(self, client: Optional[ClientInfo], msg, lost: bool = True) -> None:
        """A message that did not fit in the client's queue: count it, stop its stream, hold the client."""
        self.counters["send_failures"] += 1
        self.counters["replies_blocked"] += 1
        if client is None:
            return
        client.blocked += 1
        client.dropped += int(lost)
        client.congested_until = time.monotonic() + CONGESTION_HOLD_S
        if msg.TYPE == BrokerType.PART:
            client.broken[msg.request_id] = 1
            self.inbox.post(("cancel", client.identity, msg.request_id))  # no point producing the rest

    def _broken_answer(self, client: ClientInfo, msg) -> Any:
        """For a stream that lost a message: None (drop it), or its final answer turned into Overloaded."""
        if msg.TYPE not in _FINAL:
            client.broken[msg.request_id] += 1
            client.dropped += 1
            self.counters["replies_dropped"] += 1
            return None
        lost = client.broken.pop(msg.request_id)
        exc = Overloaded(f"{lost} message(s) of this answer were dropped: the client did not read in time",
                         details={"dropped": lost})
        return ErrorReply.from_exception(msg.request_id, exc)

    def _service_beat(self) -> ServiceBeat:
        """This process's heartbeat identity (pid, host, start), made once: `koabus ps` matches it."""
        beat = self.__dict__.get("_beat")
        if beat is None:
            beat = self.__dict__["_beat"] = ServiceBeat(Identity.here(BROKER_SERVICE), self.settings.heartbeat_ms)
        return beat

    def _heartbeat(self) -> None:
        """`sys.hb`: the common service body (common/heartbeat.py) plus the broker's `epoch` and `seq`."""
        body = self._service_beat().body(self.state.get("state", "unknown"), epoch=self.epoch,
                                         seq=self.sequencer.seq)
        if self._pub is None:
            return
        self._pub.send_multipart(self.sequencer.frames(HB_TOPIC, PubType.HEARTBEAT, body, None))
        self._beats += 1
        if self._beats % STATUS_EVERY_BEATS == 0:  # a periodic copy of `status` for dashboards
            try:
                frames = self.sequencer.frames("sys.status", PubType.SYSTEM, self._status_for(self._pub_role()),
                                               None)
            except ProtocolError as exc:
                self._encode_failed("sys.status", exc)
                return
            self._pub.send_multipart(frames)

    def _expire_leases(self, now: float) -> None:
        lease_s = self.settings.client_lease_ms / 1000.0
        for identity, client in list(self.clients.items()):
            if now - client.last_seen > lease_s:
                self.counters["leases_expired"] += 1
                self._drop_client(identity, "lease expired")

    def _check_memory(self, now: float) -> None:
        change = self.memory.check(now)
        if change is None:
            return
        self.outbox.shedding = self.memory.shedding
        if change == "start":
            self.counters["memory_shed_episodes"] += 1
            log.warning("memory: RSS %.0f MB is above %.0f MB (limits.max_rss_mb %d): shedding (realtime "
                        "dropped before it queues, snapshots and subscriptions refused)",
                        self.memory.rss_mb, self.memory.shed_mb, self.memory.max_mb)
        else:
            log.warning("memory: RSS %.0f MB, back under %.0f MB: shedding stopped",
                        self.memory.rss_mb, self.memory.resume_mb)

    def _drop_client(self, identity: bytes, why: str, retire: bool = False) -> None:
        client = self.clients.pop(identity, None)
        self._with_snapshots.pop(identity, None)
        self._owing.pop(identity, None)
        if retire:
            self._retired.add(identity)
        if client is not None:
            log.info("client %r (%s) gone: %s", client.name, fingerprint(identity), why)
        self.inbox.post(("gone", identity))

    def _count_error(self, kind: str) -> None:
        self.counters["errors"] += 1
        self.counters[f"error.{kind}"] += 1


def _request_id_of(frames) -> int:
    """The request id of a client message if its envelope says so cheaply, else 0 (never raises)."""
    try:
        msg = decode_client(frames[1:], TRANSPORT_MAX_BYTES)
    except Exception:  # answered with request id 0, as any unreadable envelope is
        return 0
    rid = getattr(msg, "request_id", 0)
    return rid if isinstance(rid, int) else 0


def _plain(entry: Any) -> Any:
    """A metadata dataclass as plain maps/lists for msgpack."""
    if dataclasses.is_dataclass(entry):
        out = dataclasses.asdict(entry)
        for name in ("signature", "input_names"):
            if hasattr(entry, name):
                out[name] = getattr(entry, name)
        return _plain(out)
    if isinstance(entry, dict):
        return {str(k): _plain(v) for k, v in entry.items()}
    if isinstance(entry, (list, tuple)):
        return [_plain(v) for v in entry]
    return entry
