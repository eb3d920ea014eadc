"""The asyncio protocol core: one DEALER and one SUB socket, request correlation, heartbeats, reconnects.

Every SDK call goes through `Connection`. Requests are keyed by request id to futures (single
answers) or `RequestStream`s (PART ... END). The broker is presumed dead after `liveness` silent
heartbeat intervals, or replaced when a publication or PONG shows a new epoch: every pending
request then fails with `Unavailable`, the DEALER is rebuilt, HELLO is retried with exponential
backoff, and the registered reconnect hooks (realtime resubscription, snapshots) run once a WELCOME
arrives. Publications are handed to listeners (streams) by exact topic or by prefix.
"""
from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import secrets
import time
from typing import Any, Awaitable, Callable, Dict, Hashable, Iterable, List, Optional, Set, Tuple

import zmq
import zmq.asyncio

from koabus.common.errors import Cancelled, KoabusError, ProtocolError, Timeout, Unavailable
from koabus.common.protocol import (
    Bye,
    Cancel,
    End,
    ErrorReply,
    GapEvent,
    Hello,
    Liveness,
    Part,
    Ping,
    Pong,
    Publication,
    PubType,
    Reply,
    Request,
    Welcome,
    decode_broker,
    encode_client,
)
from koabus.common.protocol.batch import unbatch

from .events import ConnectionEvent
from .options import ClientOptions

log = logging.getLogger(__name__)

_END = object()
#: messages a socket reader handles before it lets the loop's other tasks run: `await recv_multipart()`
#: does not suspend while a message is waiting, so under a flood a reader that never yields starves the
#: streams' consumers (they saw nothing while their queues overflowed) and every other task
READ_TURN = 64


class State(str, enum.Enum):
    """Named states of the client agent."""

    IDLE = "idle"
    CONNECTING = "connecting"
    READY = "ready"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


class RequestStream:
    """The parts of one streamed answer as an async iterator; `result` holds END's result.

    `deadline_s` bounds the whole stream, `idle_timeout_s` the wait for each part; either raises
    Timeout (and cancels the request at the broker). A broker loss raises Unavailable. A lost part
    (a gap in `PART.n`, or an `END.parts` that does not match what arrived) raises ProtocolError.
    """

    def __init__(self, conn: Connection, request_id: int, op: str, deadline_s: Optional[float] = None,
                 idle_timeout_s: Optional[float] = None):
        self._conn = conn
        self.request_id = request_id
        self.op = op
        self._queue: asyncio.Queue = asyncio.Queue()
        self._deadline = None if deadline_s is None else time.monotonic() + deadline_s
        self._idle_timeout_s = idle_timeout_s
        self.result: Any = None
        self.parts = 0
        #: parts routed to this stream so far (the `n` the next PART must carry)
        self.arrived = 0
        self.done = False

    def _put(self, kind: str, value: Any) -> None:
        self._queue.put_nowait((kind, value))

    def __aiter__(self) -> RequestStream:
        return self

    def _wait_s(self) -> Optional[float]:
        waits = [w for w in (self._idle_timeout_s,
                             None if self._deadline is None else self._deadline - time.monotonic())
                 if w is not None]
        return max(0.0, min(waits)) if waits else None

    async def __anext__(self) -> Any:
        if self.done:
            raise StopAsyncIteration
        try:
            kind, value = await asyncio.wait_for(self._queue.get(), self._wait_s())
        except asyncio.TimeoutError:
            await self.cancel()
            raise Timeout(f"{self.op}: no answer in time (after {self.parts} parts)") from None
        if kind == "part":
            self.parts += 1
            return value
        self.done = True
        self._conn._pending.pop(self.request_id, None)
        if kind == "cancelled":
            raise StopAsyncIteration
        if kind == "end":
            self.result = value
            raise StopAsyncIteration
        raise value

    async def collect(self) -> List[Any]:
        return [part async for part in self]

    async def cancel(self) -> None:
        """Stop the stream at the broker (paging stops; an order stream detaches, the order stays)."""
        if self.done:
            return
        self.done = True
        self._conn._pending.pop(self.request_id, None)
        self._put("cancelled", None)  # wakes a consumer waiting for the next part
        await self._conn.send_quietly(Cancel(self.request_id))

    async def __aenter__(self) -> RequestStream:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.cancel()


class _Single:
    __slots__ = ("op", "future")

    def __init__(self, op: str, future: asyncio.Future):
        self.op = op
        self.future = future

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Listener:
    """Something that wants publications: exact `topics` and/or `prefixes`; `feed` is called in order."""

    topics: Set[str]
    prefixes: Tuple[str, ...] = ()
    #: takes its realtime from batches (docs/protocol.md §4.3, §4.4): fed the items of RTB and RTP messages only
    batched: bool = False

    def feed(self, pub: Publication) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def closed(self) -> None:
        """The connection closed for good."""


class RefCounts:
    """How many local streams hold each broker-side interest (a (code, type) pair, a condition).

    The broker counts holders per client identity, so one `unsubscribe` from this client would end
    every stream of it on that pair; the SDK sends it only when the last local holder lets go.
    """

    def __init__(self) -> None:
        self._counts: Dict[Hashable, int] = {}

    def acquire(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self._counts[key] = self._counts.get(key, 0) + 1

    def release(self, keys: Iterable[Hashable]) -> List[Hashable]:
        """Drop one hold of each key; returns the keys nobody holds any more."""
        freed = []
        for key in keys:
            count = self._counts.get(key, 0)
            if count <= 1:
                self._counts.pop(key, None)
                if count == 1:
                    freed.append(key)
            else:
                self._counts[key] = count - 1
        return freed

    def count(self, key: Hashable) -> int:
        return self._counts.get(key, 0)


#: how to get a broker, said when none answers the first connect
START_A_BROKER = ("start one with `koabus up` (the whole stack on the simulated control) or "
                  "`koabus broker --backend sim`, or point router/pub (--router/--pub) at a running broker")


def no_broker_message(router: str, waited_s: float, detail: str = "") -> str:
    """Why the first connect failed, and what to do about it."""
    why = f" ({detail})" if detail and detail != "no answer" else ""
    return f"no broker answered at {router} within {waited_s:g} s{why}: {START_A_BROKER}"


def new_routing_id() -> bytes:
    """16 random bytes, the first not zero (ZeroMQ reserves a leading zero for its own identities)."""
    return bytes([1 + secrets.randbelow(255)]) + secrets.token_bytes(15)


def _bye_and_close(dealer: zmq.asyncio.Socket, request_id: int, linger_ms: int = 200) -> None:
    """BYE on a DEALER being replaced, so the broker ends that session now (not at lease expiry)."""
    plain = zmq.Socket.shadow(dealer.underlying)
    try:
        plain.send_multipart(encode_client(Bye(request_id)), zmq.NOBLOCK)
    except zmq.ZMQError:
        linger_ms = 0  # nowhere to send it: the broker is gone or the queue is full
    dealer.close(linger=linger_ms)


class Connection:
    """One session with a broker. Create, `await start()`, use, `await close()`, all on one loop."""

    def __init__(self, options: ClientOptions, context: Optional[zmq.asyncio.Context] = None):
        self.options = options
        self._ctx = context
        self._dealer: Optional[zmq.asyncio.Socket] = None
        self._sub: Optional[zmq.asyncio.Socket] = None
        #: the current DEALER's identity (secret: whoever connects with it while we are away gets our
        #: replies); a new one with every DEALER
        self.routing_id = b""
        self._ids = itertools.count(1)
        self._pending: Dict[int, Any] = {}
        self.state = State.IDLE
        self.epoch: Optional[int] = None
        self.welcome: Optional[Welcome] = None
        self._left_epochs: Set[int] = set()
        self._liveness = Liveness(options.heartbeat_ms, options.liveness, time.monotonic())
        self._ready = asyncio.Event()
        self._sub_live = asyncio.Event()  # the SUB heard a publication of the current epoch
        self._dealer_task: Optional[asyncio.Task] = None
        self._sub_task: Optional[asyncio.Task] = None
        self._watchdog_task: Optional[asyncio.Task] = None
        self._recover_task: Optional[asyncio.Task] = None
        self._hook_tasks: Set[asyncio.Task] = set()
        self._sub_refs: Dict[str, int] = {}
        self._exact: Dict[str, List[Listener]] = {}
        self._prefixed: List[Listener] = []
        self._reconnect_hooks: List[Callable[[], Awaitable[None]]] = []
        self._callbacks: Dict[str, List[Callable[..., Any]]] = {
            "epoch": [], "gap": [], "state": [], "throttle": [], "system": []}
        #: local holders of broker-side interests, shared by this connection's streams
        self.interests = RefCounts()
        self.reconnects = 0
        self.epoch_changes = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Welcome:
        """Open both sockets and say HELLO until WELCOME or `connect_timeout_s` (then Unavailable)."""
        if self.state != State.IDLE:
            raise KoabusError("a connection starts once")
        self._set_state(State.CONNECTING)
        ctx = self._ctx or zmq.asyncio.Context.instance()
        self._ctx = ctx
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        if self.options.curve is not None:
            self.options.curve.apply(sub)
        sub.connect(self.options.pub)
        sub.setsockopt(zmq.SUBSCRIBE, b"sys.")
        self._sub = sub
        self._sub_task = asyncio.ensure_future(self._read_sub(sub))
        try:
            welcome = await self._establish(time.monotonic() + self.options.connect_timeout_s)
        except BaseException:
            await self.close()
            raise
        self._watchdog_task = asyncio.ensure_future(self._watchdog())
        return welcome

    async def close(self) -> None:
        """Say BYE (best effort), stop every task, fail what is pending, close the sockets."""
        if self.state == State.CLOSED:
            return
        was_ready = self.state == State.READY
        self._set_state(State.CLOSED)
        self._ready.set()
        if was_ready and self._dealer is not None:
            await self.send_quietly(Bye(next(self._ids)))
        tasks = [t for t in (self._watchdog_task, self._recover_task, self._dealer_task, self._sub_task,
                             *self._hook_tasks) if t is not None and t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._fail_pending(Cancelled("the client was closed"))
        for listener in list(self._prefixed) + [x for group in self._exact.values() for x in group]:
            listener.closed()
        self._exact.clear()
        self._prefixed.clear()
        for sock in (self._dealer, self._sub):
            if sock is not None:
                sock.close(linger=0)
        self._dealer = self._sub = None

    # ---- requests ----------------------------------------------------------------------------

    def next_id(self) -> int:
        return next(self._ids)

    async def wait_ready(self, timeout_s: float) -> None:
        if self.state == State.CLOSED:
            raise Unavailable("the client is closed")
        if self.state != State.READY:
            try:
                await asyncio.wait_for(self._ready.wait(), timeout_s)
            except asyncio.TimeoutError:
                raise Unavailable(f"the broker at {self.options.router} is not reachable "
                                  f"(state {self.state.value})") from None
            if self.state != State.READY:
                raise Unavailable("the client is closed")

    async def request(self, op: str, args: Optional[Dict[str, Any]] = None, *,
                      timeout_s: Optional[float] = None, idem_key: Optional[str] = None) -> Any:
        """One request, one answer (REPLY -> result, ERROR -> the matching exception).

        Without `timeout_s` the op's default applies (`ClientOptions.timeout_for`): paced condition
        searches wait longer than the rest.
        """
        timeout = self.options.timeout_for(op) if timeout_s is None else timeout_s
        started = time.monotonic()
        await self.wait_ready(timeout)
        remaining = max(0.001, timeout - (time.monotonic() - started))
        rid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = _Single(op, future)
        try:
            await self._send(Request(rid, op, dict(args or {}), max(1, int(remaining * 1000)), idem_key))
            return await asyncio.wait_for(future, remaining)
        except asyncio.TimeoutError:
            raise Timeout(f"{op}: no answer within {timeout:g} s") from None
        finally:
            self._pending.pop(rid, None)

    async def open_stream(self, op: str, args: Optional[Dict[str, Any]] = None, *,
                          deadline_s: Optional[float] = None, idle_timeout_s: Optional[float] = None,
                          idem_key: Optional[str] = None) -> RequestStream:
        """Send a request whose answer is PART... END; iterate the returned stream for the parts."""
        await self.wait_ready(self.options.timeout_s if deadline_s is None else deadline_s)
        rid = next(self._ids)
        stream = RequestStream(self, rid, op, deadline_s, idle_timeout_s)
        self._pending[rid] = stream
        deadline_ms = None if deadline_s is None else max(1, int(deadline_s * 1000))
        try:
            await self._send(Request(rid, op, dict(args or {}), deadline_ms, idem_key))
        except BaseException:
            self._pending.pop(rid, None)
            raise
        return stream

    async def _send(self, msg: Any) -> None:
        if self._dealer is None:
            raise Unavailable("not connected")
        await self._dealer.send_multipart(encode_client(msg))

    async def send_quietly(self, msg: Any, timeout_s: float = 0.5) -> None:
        """Best-effort send (CANCEL, BYE): never raises."""
        try:
            await asyncio.wait_for(self._send(msg), timeout_s)
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - best effort by design
            log.debug("could not send %s", type(msg).__name__)

    # ---- subscriptions -----------------------------------------------------------------------

    async def wait_sub_live(self, timeout_s: Optional[float] = None) -> bool:
        """Until the SUB socket has heard the current broker epoch (so it is connected and its
        filters reached the PUB), at most `timeout_s` (default: two heartbeat intervals).

        A stream waits for this before asking for a snapshot; otherwise, right after a (re)connect,
        publications sent before the SUB joined would be lost between the snapshot and live data.
        """
        if self._sub_live.is_set():
            return True
        wait = 2 * self._liveness.interval_s if timeout_s is None else timeout_s
        try:
            await asyncio.wait_for(self._sub_live.wait(), wait)
        except asyncio.TimeoutError:
            return False
        return True

    def sub_add(self, prefix: str) -> None:
        """Reference-counted SUB filter."""
        count = self._sub_refs.get(prefix, 0)
        if count == 0 and self._sub is not None and not prefix.startswith("sys."):
            self._sub.setsockopt(zmq.SUBSCRIBE, prefix.encode("ascii"))
        self._sub_refs[prefix] = count + 1

    def sub_remove(self, prefix: str) -> None:
        count = self._sub_refs.get(prefix, 0)
        if count <= 1:
            self._sub_refs.pop(prefix, None)
            if count == 1 and self._sub is not None and not prefix.startswith("sys."):
                self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix.encode("ascii"))
        else:
            self._sub_refs[prefix] = count - 1

    def add_listener(self, listener: Listener) -> None:
        for topic in listener.topics:
            self._exact.setdefault(topic, []).append(listener)
        if listener.prefixes:
            self._prefixed.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        for topic in list(listener.topics):
            group = self._exact.get(topic)
            if group and listener in group:
                group.remove(listener)
                if not group:
                    del self._exact[topic]
        if listener in self._prefixed:
            self._prefixed.remove(listener)

    def add_topic(self, listener: Listener, topic: str) -> None:
        """Extend a registered listener by one exact topic (the broker named it in a reply)."""
        if topic not in listener.topics:
            listener.topics.add(topic)
            self._exact.setdefault(topic, []).append(listener)

    def add_reconnect_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        self._reconnect_hooks.append(hook)

    def remove_reconnect_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        if hook in self._reconnect_hooks:
            self._reconnect_hooks.remove(hook)

    # ---- callbacks ---------------------------------------------------------------------------

    def on(self, kind: str, callback: Callable[..., Any]) -> Callable[[], None]:
        """Register a callback for "epoch", "gap", "state", "throttle" or "system"; returns an undo."""
        self._callbacks[kind].append(callback)
        return lambda: self._callbacks[kind].remove(callback) if callback in self._callbacks[kind] else None

    def emit(self, kind: str, *args: Any) -> None:
        for callback in list(self._callbacks[kind]):
            try:
                callback(*args)
            except Exception:  # a user callback must never break the reader
                log.exception("%s callback failed", kind)

    def report_gap(self, event: GapEvent) -> None:
        self.emit("gap", ConnectionEvent("gap", topic=event.topic, new_epoch=event.epoch,
                                         missing=event.missing,
                                         detail={"expected": event.expected, "received": event.received}))

    # ---- internals: handshake and recovery ---------------------------------------------------

    def _set_state(self, state: State) -> None:
        if state == self.state:
            return
        self.state = state
        if state == State.READY:
            self._ready.set()
        elif state != State.CLOSED:
            self._ready.clear()
        self.emit("state", ConnectionEvent("state", state=state.value))

    def _new_dealer(self) -> None:
        """A DEALER with a fresh secret identity; the one it replaces says BYE (best effort) and closes.

        The broker never hands a connected identity to another connection, and retires one that said
        BYE; a random 16-byte identity (never reused, never sent anywhere but the connection itself)
        means nobody can connect with ours while we are away either. ZeroMQ's own identities are
        counters, easy to guess.
        """
        if self._dealer_task is not None:
            self._dealer_task.cancel()
        if self._dealer is not None:
            _bye_and_close(self._dealer, next(self._ids))
        assert self._ctx is not None
        dealer = self._ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        self.routing_id = new_routing_id()
        dealer.setsockopt(zmq.ROUTING_ID, self.routing_id)
        if self.options.curve is not None:
            self.options.curve.apply(dealer)
        dealer.connect(self.options.router)
        self._dealer = dealer
        self._dealer_task = asyncio.ensure_future(self._read_dealer(dealer))

    async def _hello(self, timeout_s: float) -> Welcome:
        rid = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[rid] = _Single("hello", future)
        try:
            await self._send(Hello(rid, client=self.options.client_name, heartbeat_ms=self.options.heartbeat_ms))
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._pending.pop(rid, None)

    async def _establish(self, deadline: Optional[float]) -> Welcome:
        """HELLO on a fresh DEALER until WELCOME, with exponential backoff; None deadline = forever.

        With a deadline (the first connect) no HELLO waits past it, so `connect_timeout_s` is the
        whole time a client without a broker takes to fail.
        """
        delay = self.options.reconnect_min_s
        while True:
            self._new_dealer()
            wait_s = self.options.hello_timeout_s
            if deadline is not None:
                wait_s = max(0.01, min(wait_s, deadline - time.monotonic()))
            try:
                welcome = await self._hello(wait_s)
            except (asyncio.TimeoutError, KoabusError) as exc:
                if deadline is not None and time.monotonic() + delay > deadline:
                    raise Unavailable(no_broker_message(self.options.router, self.options.connect_timeout_s,
                                                        str(exc))) from None
                await asyncio.sleep(delay)
                delay = min(self.options.reconnect_max_s, delay * 2)
                continue
            self._accept(welcome)
            return welcome

    def _accept(self, welcome: Welcome) -> None:
        old = self.epoch
        self.epoch = welcome.epoch
        self.welcome = welcome
        self._left_epochs.discard(welcome.epoch)
        interval = welcome.heartbeat_ms or self.options.heartbeat_ms
        now = time.monotonic()
        self._liveness = Liveness(max(interval, self.options.heartbeat_ms), self.options.liveness, now)
        if old != welcome.epoch:
            self._sub_live.clear()
        if old is not None and old != welcome.epoch:
            self._left_epochs.add(old)
            self.epoch_changes += 1
            self.emit("epoch", ConnectionEvent("epoch", old_epoch=old, new_epoch=welcome.epoch))
        self._set_state(State.READY)

    def _begin_recovery(self, reason: str) -> None:
        if self.state in (State.CLOSED, State.RECONNECTING):
            return
        log.warning("broker lost (%s); reconnecting", reason)
        self._set_state(State.RECONNECTING)
        self._fail_pending(Unavailable(f"the broker went away: {reason}"))
        self._recover_task = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        try:
            await self._establish(None)
        except asyncio.CancelledError:
            return
        self.reconnects += 1
        for hook in list(self._reconnect_hooks):
            task = asyncio.ensure_future(self._run_hook(hook))
            self._hook_tasks.add(task)
            task.add_done_callback(self._hook_tasks.discard)

    async def _run_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        try:
            await hook()
        except asyncio.CancelledError:
            raise
        except KoabusError as exc:
            log.warning("resubscription after reconnect failed: %s", exc)
            if isinstance(exc, (Unavailable, Timeout)) and self.state == State.READY:
                self._begin_recovery(f"resubscription failed: {exc}")
        except Exception:
            log.exception("reconnect hook failed")

    def _fail_pending(self, exc: KoabusError) -> None:
        pending, self._pending = self._pending, {}
        for entry in pending.values():
            if isinstance(entry, RequestStream):
                entry._put("error", exc)
            else:
                entry.fail(exc)

    def _note_epoch(self, epoch: int) -> None:
        if self.epoch is None or epoch == self.epoch or epoch in self._left_epochs:
            return
        self._begin_recovery("the broker restarted (new epoch)")

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(self._liveness.interval_s / 4)
            if self.state != State.READY:
                continue
            now = time.monotonic()
            if self._liveness.expired(now):
                self._begin_recovery(f"silent for {self._liveness.silence_s(now):.1f} s")
            elif self._liveness.send_due(now):
                self._liveness.sent(now)
                await self.send_quietly(Ping(next(self._ids)))

    # ---- internals: readers ------------------------------------------------------------------

    async def _read_dealer(self, sock: zmq.asyncio.Socket) -> None:
        for handled in itertools.count(1):
            if handled % READ_TURN == 0:
                await asyncio.sleep(0)
            frames = await sock.recv_multipart()
            try:
                msg = decode_broker(frames)
            except ProtocolError as exc:
                log.warning("ignoring a malformed reply: %s", exc)
                continue
            self._liveness.heard(time.monotonic())
            self._route(msg)

    def _route(self, msg: Any) -> None:
        if isinstance(msg, Pong):
            self._note_epoch(msg.epoch)
            return
        entry = self._pending.get(msg.request_id)
        if entry is None:
            return
        if isinstance(entry, RequestStream):
            if isinstance(msg, Part):
                if msg.n != entry.arrived:
                    self._lost_part(entry, f"part {entry.arrived} was lost (part {msg.n} arrived instead)")
                    return
                entry.arrived += 1
                entry._put("part", msg.data)
            elif isinstance(msg, End):
                self._pending.pop(msg.request_id, None)
                if msg.parts != entry.arrived:
                    entry._put("error", ProtocolError(
                        f"{entry.op}: END counts {msg.parts} parts but {entry.arrived} arrived"))
                    return
                entry._put("end", msg.result)
            elif isinstance(msg, ErrorReply):
                self._pending.pop(msg.request_id, None)
                entry._put("error", msg.to_exception())
            elif isinstance(msg, Reply):  # a stream answered in one piece
                self._pending.pop(msg.request_id, None)
                entry._put("end", msg.result)
            return
        if entry.future.done():
            return
        if isinstance(msg, ErrorReply):
            entry.future.set_exception(msg.to_exception())
        elif isinstance(msg, (Reply, End)):
            entry.future.set_result(msg.result)
        elif isinstance(msg, Welcome):
            entry.future.set_result(msg)

    def _lost_part(self, entry: RequestStream, what: str) -> None:
        """A gap in PART.n: fail the request and stop it at the broker."""
        self._pending.pop(entry.request_id, None)
        entry._put("error", ProtocolError(f"{entry.op}: {what}"))
        task = asyncio.ensure_future(self.send_quietly(Cancel(entry.request_id)))
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def _read_sub(self, sock: zmq.asyncio.Socket) -> None:
        for handled in itertools.count(1):
            if handled % READ_TURN == 0:
                await asyncio.sleep(0)
            frames = await sock.recv_multipart()
            try:
                pub = Publication.from_frames(frames)
            except ProtocolError as exc:
                log.warning("ignoring a malformed publication: %s", exc)
                continue
            self._liveness.heard(time.monotonic())
            if pub.epoch in self._left_epochs:
                continue
            self._note_epoch(pub.epoch)
            if pub.epoch == self.epoch:
                self._sub_live.set()
            if pub.topic.startswith("sys."):
                if pub.topic == "sys.throttle":
                    self.emit("throttle", pub.body)
                self.emit("system", pub)
            if pub.type in PubType.BATCHES:
                self._dispatch_batch(pub)
            else:
                self.dispatch(pub)

    def _dispatch_batch(self, batch: Publication) -> None:
        try:
            items = unbatch(batch)
        except ProtocolError as exc:  # refused whole: its topic_seq gap shows on the next batch's items
            log.warning("ignoring a malformed batch: %s", exc)
            return
        for pub in items:
            self.dispatch(pub, batched=True)

    def dispatch(self, pub: Publication, batched: bool = False) -> None:
        """Hand `pub` to its listeners: single publications to the others, batch items to batched ones
        (a connection may hold both kinds of stream on one topic; each must see an event once)."""
        for listener in self._exact.get(pub.topic, ()):
            if listener.batched is batched:
                listener.feed(pub)
        for listener in self._prefixed:
            if listener.batched is batched and pub.topic.startswith(listener.prefixes):
                listener.feed(pub)
