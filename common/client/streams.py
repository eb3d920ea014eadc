"""Publication streams: topics as async iterators (callbacks second), joined late via the broker's snapshot.

A `TopicStream` subscribes the SUB socket first, asks the broker to start publishing (e.g. the
`subscribe` op), then takes a Clone-pattern snapshot per topic (`SnapshotSync`) so a late joiner gets
the last value of every topic without missing or repeating an update. Sequence gaps are detected per
stream (`GapDetector`) and reported to the connection's `on_gap` callbacks. When the stream's own buffer
overflows (the consumer fell `max_stream_queue` events behind) the oldest events are dropped, and the
next read tells the application before it returns anything newer: a gap event (reason "overflow") or
`StreamOverflow`, as `ClientOptions.stream_overflow` (or `stream.overflow`) says. After a broker restart
the stream re-subscribes and re-snapshots by itself.

The broker counts holders of a realtime pair or a condition watch per client, not per stream, so the
streams of one client share each interest through the connection's `RefCounts`: only the last local
stream to close sends `unsubscribe` (or `condition_stop`).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Set, Tuple

from koabus.common.errors import KoabusError, Overloaded
from koabus.common.protocol import GapDetector, Publication, SnapshotSync
from koabus.common.protocol.batch import REALTIME_PREFIX, positional_topic

from .core import _END, Connection, Listener, State
from .events import ConditionEvent, ConnectionEvent, RealtimeEvent, ns_to_kst
from .options import STREAM_OVERFLOW_MODES

log = logging.getLogger(__name__)

Converter = Callable[[Publication, bool], Any]
StartOp = Callable[[], Awaitable[Iterable[str]]]
StopOp = Callable[[], Awaitable[None]]
#: topics named one by one in an overflow report; the rest are added up under "*"
OVERFLOW_TOPICS_SHOWN = 100


def batch_filter(key: str) -> str:
    """The SUB filter that brings a realtime topic or prefix in positional batches (docs/protocol.md §4.4,
    the cheapest to decode): `rt.trade.005930` and `rt.trade.` -> `rtp.trade`, `rt.` -> `rtp.`; other
    keys unchanged."""
    return positional_topic(key) if key.startswith(REALTIME_PREFIX) else key


class StreamOverflow(Overloaded):
    """A stream's own buffer overflowed: `details["dropped"]` events were lost before the next one,
    `details["topics"]` says how many of each topic. Raised by the next read when the stream's
    `overflow` is "raise"; the stream goes on after it."""

    kind = "StreamOverflow"


class TopicStream(Listener):
    """Events from exact `topics` and/or `prefixes`, oldest first.

    Iterate with `async for`, or `add_callback(fn)`; `close()` (or leaving `async with`) stops the
    broker-side subscription. `gaps` counts sequence gaps seen, `dropped` events discarded because the
    consumer fell more than `max_queue` events behind; the next read reports those as a gap event
    (`overflow` "gap") or raises StreamOverflow (`overflow` "raise"), never silently; `overflows`
    counts the reports.
    """

    def __init__(self, conn: Connection, *, topics: Iterable[str] = (), prefixes: Iterable[str] = (),
                 convert: Optional[Converter] = None, snapshot: bool = True,
                 start_op: Optional[StartOp] = None, stop_op: Optional[StopOp] = None,
                 max_queue: Optional[int] = None, batched: bool = False):
        self._conn = conn
        self.batched = batched
        self._filters: List[str] = []  # the SUB filters this stream added (batch topics when batched)
        self.topics: Set[str] = set(topics)
        self.prefixes: Tuple[str, ...] = tuple(prefixes)
        self._convert = convert or (lambda pub, from_snapshot: pub)
        self._snapshot = snapshot
        self._start_op = start_op
        self._stop_op = stop_op
        self._queue: asyncio.Queue = asyncio.Queue(max_queue or conn.options.max_stream_queue)
        self._syncs: Dict[str, SnapshotSync] = {}
        self._snapshot_items: Set[Tuple[str, int]] = set()
        self._detector = GapDetector()
        self._callbacks: List[Callable[[Any], Any]] = []
        self._queue_events = True
        self.started = False
        self.finished = False
        self.gaps = 0
        self.lost = 0
        self.dropped = 0
        self.resyncs = 0
        self.overflow = conn.options.stream_overflow
        self.overflows = 0
        self._lost_topics: Dict[str, int] = {}
        self._lost = 0
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._closing: Optional[asyncio.Future] = None

    # ---- public ------------------------------------------------------------------------------

    async def start(self) -> TopicStream:
        if self.started or self.finished:  # a stream closed before its first read stays closed
            return self
        self.started = True
        self._loop = asyncio.get_running_loop()
        self._conn.add_listener(self)
        for key in self._keys():
            self._filter(key)
        self._conn.add_reconnect_hook(self._resync)
        try:
            await self._sync()
        except BaseException:
            await self.close()
            raise
        return self

    def add_callback(self, callback: Callable[[Any], Any], iterate: bool = True) -> None:
        """Call `callback(event)` for every event (in the client's event-loop thread).

        With `iterate=False` events are not kept for `async for` (callbacks only, no buffering).
        """
        self._callbacks.append(callback)
        if not iterate:
            self._queue_events = False

    async def close(self) -> None:
        if self.finished:
            return
        self.finished = True
        if self.started:
            self._conn.remove_listener(self)
            for key in self._filters:
                self._conn.sub_remove(key)
            self._filters = []
            self._conn.remove_reconnect_hook(self._resync)
            await self._release()
        self._push(_END)

    def cancel(self) -> None:
        """Close the stream from any thread without waiting for it (KOAPY's `stream.cancel()`).

        A reader blocked on the stream, in whatever thread, ends (StopAsyncIteration, or StopIteration
        through the blocking Client) and the broker-side interest is released on the stream's own
        event loop, so no loop is entered from a foreign thread and nothing is raised there.
        """
        loop = self._loop
        if loop is None:  # never started: nobody is reading yet, and no loop to hand over to
            self.finished = True
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._close_soon()
        elif not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._close_soon)
            except RuntimeError:  # the loop closed meanwhile: its streams ended with it
                pass

    def _close_soon(self) -> None:
        if self._closing is None and not self.finished:
            self._closing = asyncio.ensure_future(self.close())

    def __aiter__(self) -> TopicStream:
        return self

    async def __anext__(self) -> Any:
        if self.finished and self._queue.empty():
            raise StopAsyncIteration
        if not self.started:
            await self.start()
        if self._lost:  # events older than anything still queued did not fit: say so first
            self._report_overflow()
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)  # later calls end too
            raise StopAsyncIteration
        return item

    async def next(self, timeout_s: Optional[float] = None) -> Any:
        """The next event, or Timeout-free None after `timeout_s`; StopAsyncIteration when closed."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout_s)
        except asyncio.TimeoutError:
            return None

    async def __aenter__(self) -> TopicStream:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- Listener ----------------------------------------------------------------------------

    def feed(self, pub: Publication) -> None:
        if self.finished:
            return
        if pub.topic not in self.topics and not pub.topic.startswith(self.prefixes or ("\0",)):
            return
        sync = self._syncs.get(self._key_of(pub.topic))
        for item in (sync.on_live(pub) if sync is not None else (pub,)):
            self._deliver(item, from_snapshot=False)

    def closed(self) -> None:
        self.finished = True
        self._push(_END)

    # ---- internals ---------------------------------------------------------------------------

    async def _release(self) -> None:
        """Give up the broker-side interest (subclasses share it with the client's other streams)."""
        if self._stop_op is not None and self._conn.state == State.READY:
            try:
                await self._stop_op()
            except KoabusError as exc:
                log.debug("stopping a stream: %s", exc)

    def _filter(self, key: str) -> None:
        """Add the SUB filter for topic or prefix `key`: itself, or its batch topic when batched (once)."""
        sub_key = batch_filter(key) if self.batched else key
        if sub_key not in self._filters:
            self._filters.append(sub_key)
            self._conn.sub_add(sub_key)

    def _keys(self) -> List[str]:
        return sorted(self.topics) + list(self.prefixes)

    def _key_of(self, topic: str) -> str:
        if topic in self.topics:
            return topic
        for prefix in self.prefixes:
            if topic.startswith(prefix):
                return prefix
        return topic

    async def _sync(self) -> None:
        if self._snapshot:  # before waiting: what arrives meanwhile is buffered, not delivered ahead of the snapshot
            self._syncs = {key: SnapshotSync() for key in self._keys()}
        await self._conn.wait_sub_live()
        self._detector = GapDetector()
        if self._start_op is not None:
            for topic in await self._start_op():
                if topic not in self.topics and not topic.startswith(self.prefixes or ("\0",)):
                    self._conn.add_topic(self, topic)
                    self._filter(topic)
                    if self._snapshot:
                        self._syncs[topic] = SnapshotSync()
        if self._snapshot:
            for key in list(self._syncs):
                await self._take_snapshot(key)

    async def _take_snapshot(self, key: str) -> None:
        sync = self._syncs[key]
        exact = key in self.topics
        stream = await self._conn.open_stream("snapshot", {"prefix": key},
                                              idle_timeout_s=self._conn.options.timeout_s)
        async for data in stream:
            for item in (data if isinstance(data, list) else [data]):
                pub = Publication.from_dict(item)
                if exact and pub.topic != key:
                    continue
                sync.on_snapshot_item(pub)
                self._snapshot_items.add((pub.topic, pub.seq))
        result = stream.result if isinstance(stream.result, dict) else {}
        epoch = result.get("epoch", self._conn.epoch)
        seq = result.get("seq", 0)
        for pub in sync.on_snapshot_end(epoch, seq):
            from_snapshot = (pub.topic, pub.seq) in self._snapshot_items
            self._deliver(pub, from_snapshot)
        self._snapshot_items.clear()

    async def _resync(self) -> None:
        if self.finished:
            return
        self.resyncs += 1
        for sync in self._syncs.values():
            sync.restart()
        await self._sync()

    def _deliver(self, pub: Publication, from_snapshot: bool) -> None:
        if from_snapshot:
            self._detector.prime(pub)
        else:
            for event in self._detector.feed(pub):
                if event.kind == "stale":
                    return
                if event.kind == "gap":
                    self.gaps += 1
                    self.lost += event.missing
                    self._conn.report_gap(event)
        try:
            item = self._convert(pub, from_snapshot)
        except Exception:  # one odd publication must not end the stream
            log.exception("could not convert a publication on %s", pub.topic)
            return
        for callback in list(self._callbacks):
            try:
                callback(item)
            except Exception:
                log.exception("stream callback failed")
        if self._queue_events:
            self._push(item)

    def _push(self, item: Any) -> None:
        if self._queue.full():
            try:
                lost = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                pass
            else:
                self._note_lost(lost)
        self._queue.put_nowait(item)

    def _note_lost(self, item: Any) -> None:
        self.dropped += 1
        if not self._lost:
            log.warning("a stream fell %d events behind: dropping the oldest (reported at the next read)",
                        self._queue.maxsize)
        self._lost += 1
        topic = getattr(item, "topic", "") or ""
        if topic not in self._lost_topics and len(self._lost_topics) >= OVERFLOW_TOPICS_SHOWN:
            topic = "*"
        self._lost_topics[topic] = self._lost_topics.get(topic, 0) + 1

    def _report_overflow(self) -> None:
        """The gap the overflow left, before the next event: a gap event, or StreamOverflow."""
        if self.overflow not in STREAM_OVERFLOW_MODES:
            raise ValueError(f"stream overflow must be one of {', '.join(STREAM_OVERFLOW_MODES)}, "
                             f"not {self.overflow!r}")
        lost, topics = self._lost, self._lost_topics
        self._lost, self._lost_topics = 0, {}
        self.overflows += 1
        details = {"reason": "overflow", "dropped": lost, "topics": topics, "max_queue": self._queue.maxsize}
        if self.overflow == "raise":
            raise StreamOverflow(f"{lost} events dropped: the stream's buffer of {self._queue.maxsize} "
                                 "was full", details=details)
        only = next(iter(topics)) if len(topics) == 1 else ""
        self._conn.emit("gap", ConnectionEvent("gap", topic=only if only != "*" else "", new_epoch=self._conn.epoch,
                                               missing=lost, detail=details))


def realtime_converter(pub: Publication, from_snapshot: bool) -> RealtimeEvent:
    return RealtimeEvent.from_publication(pub, from_snapshot)


def realtime_topic(slug: str, code: str) -> str:
    return f"rt.{slug}.{code or '_'}"


class RealtimeStream(TopicStream):
    """Realtime events of `codes` x realtime types (`slugs`), as `RealtimeEvent`s.

    Every (type, code) pair is held in the connection's `interests`: `close()` unsubscribes only
    the pairs no other stream of this client still holds.
    """

    def __init__(self, conn: Connection, codes: Iterable[str], slugs: Iterable[str], *,
                 fids: Optional[Iterable[int]] = None, snapshot: bool = True, batched: bool = False):
        self.codes = [c or "_" for c in codes]
        self.slugs = list(slugs)
        self._fids = [int(f) for f in fids or ()]
        self._held: List[Tuple[str, str, str]] = []
        super().__init__(conn, topics=[realtime_topic(s, c) for s in self.slugs for c in self.codes],
                         convert=realtime_converter, snapshot=snapshot, start_op=self._subscribe, batched=batched)

    async def _subscribe(self) -> List[str]:
        if not self._held:  # hold first: a stream closing meanwhile must not unsubscribe our pairs
            self._hold([("rt", slug, code) for slug in self.slugs for code in self.codes])
        args: Dict[str, Any] = {"codes": list(self.codes), "types": list(self.slugs)}
        if self._fids:
            args["fids"] = list(self._fids)
        result = await self._conn.request("subscribe", args)
        found = result.get("topics") if isinstance(result, dict) else None
        topics = [str(t) for t in found] if isinstance(found, list) else []
        # with `fids` the broker may add types; hold those too so close() releases them
        self._hold([key for key in map(_pair_of_topic, topics) if key is not None])
        return topics

    def _hold(self, keys: List[Tuple[str, str, str]]) -> None:
        new = [key for key in dict.fromkeys(keys) if key not in self._held]
        self._conn.interests.acquire(new)
        self._held += new

    async def _release(self) -> None:
        held, self._held = self._held, []
        freed = self._conn.interests.release(held)
        if not freed or self._conn.state != State.READY:
            return
        codes_by_slug: Dict[str, List[str]] = {}
        for _, slug, code in freed:
            codes_by_slug.setdefault(slug, []).append(code)
        for slug, codes in codes_by_slug.items():
            try:
                await self._conn.request("unsubscribe", {"codes": codes, "types": [slug]})
            except KoabusError as exc:
                log.debug("unsubscribing %s %s: %s", slug, codes, exc)


def _pair_of_topic(topic: str) -> Optional[Tuple[str, str, str]]:
    parts = topic.split(".", 2)
    return ("rt", parts[1], parts[2]) if len(parts) == 3 and parts[0] == "rt" else None


class ConditionStream(TopicStream):
    """A realtime condition: first the search result ("initial"), then I/D membership changes."""

    def __init__(self, conn: Connection, name: str, index: int):
        self.name = name
        self.index = int(index)
        self.codes: Set[str] = set()
        self._key = ("cond", self.name, self.index)
        self._holding = False
        super().__init__(conn, topics=[f"cond.{self.index}"], convert=self._event, snapshot=False,
                         start_op=self._watch)

    async def _watch(self) -> List[str]:
        if not self._holding:
            self._conn.interests.acquire([self._key])
            self._holding = True
        result = await self._conn.request("condition_watch", {"name": self.name, "index": self.index})
        codes = tuple(result.get("codes", ()) if isinstance(result, dict) else result or ())
        self.codes = set(codes)
        initial = ConditionEvent("initial", codes, self.index, self.name)
        for callback in list(self._callbacks):
            callback(initial)
        if self._queue_events:
            self._push(initial)
        return _condition_topics(result)

    async def _release(self) -> None:
        """`condition_stop` once no other stream of this client watches the same condition."""
        if not self._holding:
            return
        self._holding = False
        if not self._conn.interests.release([self._key]) or self._conn.state != State.READY:
            return
        try:
            await self._conn.request("condition_stop", {"name": self.name, "index": self.index})
        except KoabusError as exc:
            log.debug("stopping condition %s: %s", self.index, exc)

    def _event(self, pub: Publication, from_snapshot: bool) -> ConditionEvent:
        body = pub.body
        kind = str(body.get("kind", ""))
        code = str(body.get("code", ""))
        if kind == "I":
            self.codes.add(code)
        elif kind == "D":
            self.codes.discard(code)
        return ConditionEvent(kind, (code,), int(body.get("index", self.index)),
                              str(body.get("name", self.name)), ns_to_kst(pub.recv_ns))


def _condition_topics(result: Any) -> List[str]:
    """The topic(s) of a `condition_watch` reply: `topic` as the spec says, `topics` tolerated."""
    if not isinstance(result, dict):
        return []
    topics = [result["topic"]] if isinstance(result.get("topic"), str) else []
    extra = result.get("topics")
    if isinstance(extra, list):
        topics += [t for t in extra if isinstance(t, str) and t not in topics]
    return topics
