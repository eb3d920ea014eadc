"""Batched realtime (docs/protocol.md §4.3): several `RT` publications in one PUB message, opt-in.

A consumer that takes the whole realtime stream pays one ZeroMQ receive per message; at tens of
thousands of events a second that is most of its CPU. A batch carries, unchanged, the publications one
Outbox drain of the broker already holds: no timer, so batching adds no latency. It is opt-in by
subscription: the broker builds batches only while some SUB subscribes a topic under `rtb.`.

    topic     rtb.<slug>                      one realtime type per batch (`rtb.trade`)
    envelope  [1, "RTB", epoch, seq, topic_seq, nil, recv_ns]
              seq       = the `seq` of the last publication inside (a batch uses no number of its own)
              topic_seq = the batch counter of this batch topic, from 1 (a gap = a lost batch)
    body      {"events": [[topic, envelope, body], ...]}   each item one RT publication, exactly as
              its own three frames would carry it (topic as a msgpack str)

The builder concatenates the frames the publisher already encoded, so a batch costs the broker a
join, not a second encoding. Broker-safe: standard library and msgpack only.
"""
from __future__ import annotations

import struct
from typing import Any, Dict, List, Sequence, Tuple

from ..errors import ProtocolError
from .codec import pack
from .constants import MAX_REPLY_FRAME_BYTES, PROTOCOL_VERSION, PubType
from .publication import MAX_TOPIC_BYTES, Publication, check_envelope

#: the topic family of batches; a subscription under it is the opt-in
BATCH_PREFIX = "rtb."
#: the realtime family a batch repeats
REALTIME_PREFIX = "rt."
#: a batch holds at most this many publications, and closes before its body passes MAX_BATCH_BYTES
MAX_BATCH_EVENTS = 1_000
MAX_BATCH_BYTES = 1 << 20
_BODY_HEAD = b"\x81\xa6events"  # msgpack {"events": ...} up to the array header


def batch_topic(topic: str) -> str:
    """`rtb.<slug>` for a realtime topic `rt.<slug>.<code>`."""
    end = topic.find(".", 3)
    return BATCH_PREFIX + (topic[3:end] if end > 0 else topic[3:])


def wants_batches(prefix: bytes) -> bool:
    """Whether a SUB subscription asks for batches: an explicit prefix under `rtb` (not "", "r", "rt")."""
    return prefix.startswith(b"rtb")


def wants_realtime(prefix: bytes) -> bool:
    """Whether a SUB subscription matches single realtime publications (`rt.<slug>.<code>`)."""
    return b"rt.".startswith(prefix) or prefix.startswith(b"rt.")


def _array_head(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def _str_head(n: int) -> bytes:
    if n < 32:
        return bytes((0xA0 | n,))
    return b"\xd9" + bytes((n,))  # topics are at most 255 bytes


class BatchBuilder:
    """Collects encoded RT publications per batch topic and closes them into batch frames (broker side).

    Not thread-safe: the publishing thread owns it. `add` takes the three frames the publisher sent
    (or would have sent); `close` returns the batches to send, in the order their topics first came.
    """

    TOPIC_CACHE_LIMIT = 100_000

    def __init__(self, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES):
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._open: Dict[str, List[Any]] = {}  # batch topic -> [items, bytes, last seq]
        self._topics: Dict[bytes, Tuple[str, bytes]] = {}  # topic frame -> (batch topic, msgpack str)
        self._counters: Dict[str, int] = {}
        self._full: List[Tuple[str, List[bytes], int]] = []
        self.batches = 0
        self.events = 0

    def _topic(self, topic_frame: bytes) -> Tuple[str, bytes]:
        known = self._topics.get(topic_frame)
        if known is None:
            if len(self._topics) >= self.TOPIC_CACHE_LIMIT:
                self._topics.clear()
            text = topic_frame.decode("ascii")
            known = self._topics[topic_frame] = (batch_topic(text), _str_head(len(topic_frame)) + topic_frame)
        return known

    def add(self, topic_frame: bytes, envelope: bytes, body: bytes, seq: int) -> None:
        """One RT publication, as its frames and its `seq`."""
        name, packed_topic = self._topic(topic_frame)
        item = b"\x93" + packed_topic + envelope + body
        entry = self._open.get(name)
        if entry is None:
            entry = self._open[name] = [[], 0, 0]
        elif entry[1] + len(item) > self.max_bytes:
            self._full.append((name, entry[0], entry[2]))
            entry = self._open[name] = [[], 0, 0]
        entry[0].append(item)
        entry[1] += len(item)
        entry[2] = seq
        if len(entry[0]) >= self.max_events:
            self._full.append((name, entry[0], seq))
            del self._open[name]

    def __len__(self) -> int:
        return len(self._full) + len(self._open)

    def close(self, epoch: int, recv_ns: int) -> List[List[bytes]]:
        """Every batch collected so far as [topic, envelope, body] frames; the builder is empty after."""
        pending = self._full + [(name, entry[0], entry[2]) for name, entry in self._open.items()]
        self._full = []
        self._open = {}
        out = []
        for name, items, last_seq in pending:
            number = self._counters.get(name, 0) + 1
            self._counters[name] = number
            envelope = _envelope(epoch, last_seq, number, recv_ns)
            body = _BODY_HEAD + _array_head(len(items)) + b"".join(items)
            out.append([name.encode("ascii"), envelope, body])
            self.events += len(items)
        self.batches += len(out)
        return out


def _envelope(epoch: int, seq: int, topic_seq: int, recv_ns: int) -> bytes:
    return pack([PROTOCOL_VERSION, PubType.REALTIME_BATCH, epoch, seq, topic_seq, None, recv_ns])


def unbatch(batch: Publication) -> List[Publication]:
    """The RT publications inside a batch, each checked like `Publication.from_frames` checks frames.

    ProtocolError when the batch or any item is malformed (the whole batch is refused: a receiver
    never keeps part of a message it cannot trust).
    """
    if batch.type != PubType.REALTIME_BATCH:
        raise ProtocolError(f"not a batch: type {batch.type!r}")
    events = batch.body.get("events")
    if not isinstance(events, list):
        raise ProtocolError("a batch body is {events: [[topic, envelope, body], ...]}")
    out = []
    for item in events:
        out.append(_item(item, batch.epoch))
    return out


def _item(item: Any, epoch: int) -> Publication:
    if not isinstance(item, list) or len(item) != 3:
        raise ProtocolError("a batch item is [topic, envelope, body]")
    topic, envelope, body = item
    if not isinstance(topic, str) or not topic.isascii() or not 0 < len(topic) <= MAX_TOPIC_BYTES:
        raise ProtocolError("a batch item's topic must be ASCII text of at most 255 bytes")
    if not topic.startswith(REALTIME_PREFIX):
        raise ProtocolError(f"a batch carries realtime publications only, not {topic!r}")
    version, kind, item_epoch, seq, topic_seq, event_ns, recv_ns = check_envelope(envelope)
    if kind != PubType.REALTIME or item_epoch != epoch:
        raise ProtocolError("a batch item must be an RT publication of the batch's epoch")
    if not isinstance(body, dict):
        raise ProtocolError("a batch item's body must be a map")
    return Publication(topic, kind, item_epoch, seq, topic_seq, event_ns, recv_ns, body)


def unbatch_frames(frames: Sequence[bytes], max_bytes: int = MAX_REPLY_FRAME_BYTES) -> List[Publication]:
    """`unbatch` of a batch's three frames."""
    return unbatch(Publication.from_frames(frames, max_bytes))
