"""The broker's I/O thread: owns ROUTER, PUB and the doorbell; validates, answers, publishes.

It decodes every client frame with the protocol codec and answers anything malformed, oversized,
unknown or mistyped with a typed ERROR (counted; the loop never dies on input). `status`, `meta` and
`snapshot` are answered here; other work is posted to the Qt thread. Replies and publications come
back through the Outbox; this thread decodes realtime payloads (the Qt handler only stamps and
queues them), numbers publications, keeps the last-value cache, publishes `sys.hb` every heartbeat
interval and expires the lease of silent DEALER clients.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, OrderedDict
from typing import Any, Dict, Optional, Set, Tuple

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
from koabus.common.protocol.constants import MAX_REPLY_FRAME_BYTES, TRANSPORT_MAX_BYTES, BrokerType

from .channels import Outbox
from .config import BrokerSettings
from .decoding import RealtimeDecoder
from .publisher import Sequencer
from .requests import LOCAL_OPS, validate

log = logging.getLogger(__name__)

_FINAL = frozenset(BrokerType.FINAL)
_SNDMORE = int(zmq.SNDMORE)  # a plain int: pyzmq's enum arithmetic costs more than the send
STATUS_EVERY_BEATS = 5

#: ops answered by PARTs then END: never replayed from the idempotency cache
STREAM_OPS = frozenset({"tr", "kwfid", "order", "cancel_order", "modify_order", "snapshot"})
#: errors that say "not now", not "no": a retry with the same idem_key must try again
TRANSIENT_ERRORS = frozenset({"Unavailable", "Overloaded", "Timeout", "Cancelled"})
#: order ops and the argument that makes them idempotent on their own (the order book's dedup)
_ORDER_ID_ARG = {"order": "client_order_id", "cancel_order": "client_order_id_new",
                 "modify_order": "client_order_id_new"}
IDEM_CACHE_LIMIT = 10_000


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


@dataclasses.dataclass
class ClientInfo:
    """A DEALER peer as the ROUTER knows it."""

    identity: bytes
    name: str = ""
    last_seen: float = 0.0
    heartbeat_ms: int = 1000
    inflight: Set[int] = dataclasses.field(default_factory=set)
    messages: int = 0


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
        self._router: Optional[zmq.Socket] = None
        self._pub: Optional[zmq.Socket] = None

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
        try:
            router = ctx.socket(zmq.ROUTER)
            sockets.append(router)
            pub = ctx.socket(zmq.PUB)
            sockets.append(pub)
            doorbell = ctx.socket(zmq.PULL)
            sockets.append(doorbell)
            ctl = ctx.socket(zmq.PULL)
            sockets.append(ctl)
            for s in sockets:
                s.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.MAXMSGSIZE, TRANSPORT_MAX_BYTES)
            router.setsockopt(zmq.ROUTER_HANDOVER, 1)
            router.setsockopt(zmq.SNDHWM, 100_000)
            router.setsockopt(zmq.RCVHWM, 100_000)
            pub.setsockopt(zmq.SNDHWM, 1_000_000)
            if self.settings.curve.enabled:
                for s in (router, pub):
                    s.curve_server = True
                    s.curve_secretkey = self.settings.curve.secret_key.encode("ascii")
                    s.curve_publickey = self.settings.curve.public_key.encode("ascii")
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
            self.ready.set()
            self.stopped.set()
            return
        self._router, self._pub = router, pub
        self.outbox.consuming = True
        self.ready.set()
        log.info("I/O thread: ROUTER %s, PUB %s, epoch %d", self.router_endpoint, self.pub_endpoint, self.epoch)
        try:
            self._loop(router, pub, doorbell, ctl)
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
            log.info("I/O thread: sockets closed")
            self.stopped.set()

    def _loop(self, router, pub, doorbell, ctl) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(doorbell, zmq.POLLIN)
        poller.register(ctl, zmq.POLLIN)
        hb_interval = self.settings.heartbeat_ms / 1000.0
        next_hb = time.monotonic() + hb_interval
        next_lease = time.monotonic() + 0.25
        while not self._stopping:
            timeout_ms = max(0, int((min(next_hb, next_lease) - time.monotonic()) * 1000))
            events = dict(poller.poll(timeout_ms))
            if ctl in events:
                break
            if doorbell in events:  # one ring per wake-up; poll reports any other still queued
                try:
                    doorbell.recv(zmq.NOBLOCK)
                except zmq.Again:
                    pass
            if len(self.outbox):
                self._flush_outbox()
            if router in events:
                self._read_router(router)
            now = time.monotonic()
            if now >= next_hb:
                next_hb = now + hb_interval
                self._heartbeat()
            if now >= next_lease:
                next_lease = now + 0.25
                self._expire_leases(now)

    # -- inbound -----------------------------------------------------------------------------
    def _read_router(self, router) -> None:
        for _ in range(2000):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_frames(frames)
            except Exception:  # never let one message take the loop down
                self.counters["internal_errors"] += 1
                log.exception("handling a client message failed")

    def _on_frames(self, frames) -> None:
        identity = frames[0]
        client = self.clients.get(identity)
        if client is None:
            client = self.clients[identity] = ClientInfo(identity)
            self.counters["clients_seen"] += 1
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
            self._on_request(client, msg)
        elif isinstance(msg, Ping):
            self._send(identity, Pong(msg.request_id, self.epoch, self.sequencer.seq))
        elif isinstance(msg, Hello):
            self._on_hello(client, msg)
        elif isinstance(msg, Cancel):
            self.inbox.post(("cancel", identity, msg.request_id))
        elif isinstance(msg, Bye):
            self._drop_client(identity, "bye")

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
                                            server, self.settings.heartbeat_ms, self.settings.max_frame_bytes))

    def _on_request(self, client: ClientInfo, msg: Request) -> None:
        rid = msg.request_id
        self.counters["requests"] += 1
        try:
            if not self._accepting:
                raise Unavailable("the broker is shutting down")
            args = validate(msg.op, self._with_default_account(msg.op, msg.args))
            if msg.idem_key and not args.get(_ORDER_ID_ARG.get(msg.op, "")):
                cached = self._idem.lookup(msg.idem_key)
                if cached is not None:
                    self._replay_idem(client.identity, rid, msg.idem_key, cached)
                    return
                self._idem.begin(msg.idem_key, client.identity, rid, msg.op not in STREAM_OPS)
            if msg.op in LOCAL_OPS:
                self._answer_local(client.identity, rid, msg.op, args)
                return
            if len(client.inflight) >= self.settings.max_inflight_per_client:
                raise Overloaded(f"more than {self.settings.max_inflight_per_client} requests in flight",
                                 details={"inflight": len(client.inflight)})
            client.inflight.add(rid)
            deadline = time.monotonic() + msg.deadline_ms / 1000.0 if msg.deadline_ms else None
            self.inbox.post(("req", client.identity, rid, msg.op, args, deadline))
        except KoabusError as exc:
            self._send(client.identity, ErrorReply.from_exception(rid, exc))

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
    def _answer_local(self, identity: bytes, rid: int, op: str, args: Dict[str, Any]) -> None:
        if op == "status":
            self._send(identity, Reply(rid, self.status()))
        elif op == "meta":
            self._send(identity, Reply(rid, self._meta(args)))
        elif op == "snapshot":
            items, seq = self.sequencer.snapshot(args.get("prefix", "rt."))
            for n, pub in enumerate(items):
                self._send(identity, Part(rid, n, pub.to_dict()))
            self._send(identity, End(rid, len(items), {"epoch": self.epoch, "seq": seq}))

    def status(self) -> Dict[str, Any]:
        now = time.monotonic()
        state = dict(self.state)
        queues = dict(state.pop("queues", {}) or {})
        queues.update({"inbox": len(self.inbox), "outbox": len(self.outbox)})
        counters = dict(self.counters)
        counters.update(state.pop("counters", {}) or {})
        counters["outbox_dropped"] = self.outbox.dropped
        counters["realtime_parse_failures"] = self.rt_decoder.parse_failures
        return {
            **state,
            "epoch": self.epoch,
            "seq": self.sequencer.seq,
            "broker": self.settings.name,
            "clients": [
                {"name": c.name, "idle_s": round(now - c.last_seen, 3), "inflight": len(c.inflight)}
                for c in self.clients.values()
            ],
            "queues": queues,
            "counters": counters,
            "lvc_topics": self.sequencer.cached_topics(),
        }

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
    def _flush_outbox(self) -> None:
        """Drain the Outbox in batches: decode realtime, number, encode and send; route replies."""
        router, pub = self._router, self._pub
        if router is None or pub is None:
            return
        frames_of = self.sequencer.frames
        realtime_frames = self._realtime_frames
        send = pub.send
        more = _SNDMORE
        drain = self.outbox.drain
        clock = self.rt_decoder.clock
        while True:
            items = drain()
            if not items:
                return
            now = clock.time()  # one clock read per batch for the events' exchange dates
            for item in items:
                tag = item[0]
                try:
                    if tag == "T":
                        topic, envelope, body = realtime_frames(item, now)
                    elif tag == "P":
                        topic, envelope, body = frames_of(item[1], item[2], item[3], item[4], item[5])
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
                # PUB never blocks: at the high-water mark it drops (subscribers see the gap)
                send(topic, more)
                send(envelope, more)
                send(body)

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
            self._idem.finish(item[1], item[2])

    def _encode_failed(self, topic: str, exc: Exception) -> None:
        self.counters["encode_errors"] += 1
        if self.counters["encode_errors"] <= 10:
            log.warning("publication on %r not sent: %s", topic, exc)

    def _send(self, identity: bytes, msg) -> None:
        router = self._router
        if router is None:
            return
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
        try:
            router.send_multipart([identity, *frames], zmq.NOBLOCK)
            self.counters["messages_out"] += 1
        except zmq.ZMQError:
            self.counters["send_failures"] += 1

    def _heartbeat(self) -> None:
        body = {"epoch": self.epoch, "seq": self.sequencer.seq, "time_ns": time.time_ns(),
                "state": self.state.get("state", "unknown")}
        if self._pub is None:
            return
        self._pub.send_multipart(self.sequencer.frames("sys.hb", PubType.HEARTBEAT, body, None))
        self._beats += 1
        if self._beats % STATUS_EVERY_BEATS == 0:  # a periodic copy of `status` for dashboards
            try:
                frames = self.sequencer.frames("sys.status", PubType.SYSTEM, self.status(), None)
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

    def _drop_client(self, identity: bytes, why: str) -> None:
        client = self.clients.pop(identity, None)
        if client is not None:
            log.info("client %r (%s) gone: %s", client.name, identity.hex(), why)
        self.inbox.post(("gone", identity))

    def _count_error(self, kind: str) -> None:
        self.counters["errors"] += 1
        self.counters[f"error.{kind}"] += 1


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
