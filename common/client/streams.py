"""Publication streams: topics as async iterators (callbacks second), joined late via the broker's snapshot.

A `TopicStream` subscribes the SUB socket first, asks the broker to start publishing (e.g. the
`subscribe` op), then takes a Clone-pattern snapshot per topic (`SnapshotSync`) so a late joiner gets
the last value of every topic without missing or repeating an update. Sequence gaps are detected per
stream (`GapDetector`) and reported to the connection's `on_gap` callbacks. After a broker restart the
stream re-subscribes and re-snapshots by itself.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Set, Tuple

from koabus.common.errors import KoabusError
from koabus.common.protocol import GapDetector, Publication, SnapshotSync

from .core import _END, Connection, Listener, State
from .events import ConditionEvent, RealtimeEvent, ns_to_kst

log = logging.getLogger(__name__)

Converter = Callable[[Publication, bool], Any]
StartOp = Callable[[], Awaitable[Iterable[str]]]
StopOp = Callable[[], Awaitable[None]]


class TopicStream(Listener):
    """Events from exact `topics` and/or `prefixes`, oldest first.

    Iterate with `async for`, or `add_callback(fn)`; `close()` (or leaving `async with`) stops the
    broker-side subscription. `gaps` counts sequence gaps seen, `dropped` events discarded because the
    consumer fell more than `max_queue` events behind.
    """

    def __init__(self, conn: Connection, *, topics: Iterable[str] = (), prefixes: Iterable[str] = (),
                 convert: Optional[Converter] = None, snapshot: bool = True,
                 start_op: Optional[StartOp] = None, stop_op: Optional[StopOp] = None,
                 max_queue: Optional[int] = None):
        self._conn = conn
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

    # ---- public ------------------------------------------------------------------------------

    async def start(self) -> TopicStream:
        if self.started:
            return self
        self.started = True
        self._conn.add_listener(self)
        for key in self._keys():
            self._conn.sub_add(key)
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
            for key in self._keys():
                self._conn.sub_remove(key)
            self._conn.remove_reconnect_hook(self._resync)
            if self._stop_op is not None and self._conn.state == State.READY:
                try:
                    await self._stop_op()
                except KoabusError as exc:
                    log.debug("stopping a stream: %s", exc)
        self._push(_END)

    def __aiter__(self) -> TopicStream:
        return self

    async def __anext__(self) -> Any:
        if not self.started:
            await self.start()
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
        self._detector = GapDetector()
        if self._snapshot:
            self._syncs = {key: SnapshotSync() for key in self._keys()}
        if self._start_op is not None:
            for topic in await self._start_op():
                if topic not in self.topics and not topic.startswith(self.prefixes or ("\0",)):
                    self._conn.add_topic(self, topic)
                    self._conn.sub_add(topic)
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
                self._queue.get_nowait()
                self.dropped += 1
            except asyncio.QueueEmpty:
                pass
        self._queue.put_nowait(item)


def realtime_converter(pub: Publication, from_snapshot: bool) -> RealtimeEvent:
    return RealtimeEvent.from_publication(pub, from_snapshot)


class ConditionStream(TopicStream):
    """A realtime condition: first the search result ("initial"), then I/D membership changes."""

    def __init__(self, conn: Connection, name: str, index: int):
        self.name = name
        self.index = int(index)
        self.codes: Set[str] = set()
        super().__init__(conn, topics=[f"cond.{self.index}"], convert=self._event, snapshot=False,
                         start_op=self._watch, stop_op=self._stop)

    async def _watch(self) -> List[str]:
        result = await self._conn.request("condition_watch", {"name": self.name, "index": self.index})
        codes = tuple(result.get("codes", ()) if isinstance(result, dict) else result or ())
        self.codes = set(codes)
        initial = ConditionEvent("initial", codes, self.index, self.name)
        for callback in list(self._callbacks):
            callback(initial)
        if self._queue_events:
            self._push(initial)
        return list(result.get("topics", ())) if isinstance(result, dict) else []

    async def _stop(self) -> None:
        await self._conn.request("condition_stop", {"name": self.name, "index": self.index})

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
