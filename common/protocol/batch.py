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

Positional batches (§4.4, opt-in under `rtp.`) carry the same publications with each event's values as
an array in the order of the batch's `fields`, named once per batch instead of once per value:

    topic     rtp.<slug>
    envelope  [1, "RTP", epoch, seq, topic_seq, nil, recv_ns]       as a batch's
    body      {"type": <realtime type>, "fields": [name, ...], "events": [[topic, envelope, code, [value, ...]], ...]}

An item is the RT publication whose body is {"type": type, "code": code, "values": {fields[i]: values[i]}};
`unbatch` gives exactly that. A consumer decodes about a fifth of the bytes and builds no per-event map.
"""
from __future__ import annotations

import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..errors import ProtocolError
from .codec import pack
from .constants import MAX_REPLY_FRAME_BYTES, PROTOCOL_VERSION, PubType
from .publication import MAX_TOPIC_BYTES, Publication, check_envelope

#: the topic family of batches; a subscription under it is the opt-in
BATCH_PREFIX = "rtb."
#: the topic family of positional batches (§4.4); a subscription under it is the opt-in
POSITIONAL_PREFIX = "rtp."
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


def positional_topic(topic: str) -> str:
    """`rtp.<slug>` for a realtime topic `rt.<slug>.<code>`."""
    end = topic.find(".", 3)
    return POSITIONAL_PREFIX + (topic[3:end] if end > 0 else topic[3:])


def wants_positional(prefix: bytes) -> bool:
    """Whether a SUB subscription asks for positional batches: an explicit prefix under `rtp`."""
    return prefix.startswith(b"rtp")


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


class _Batches:
    """What both batch builders share: per batch topic, the open batch and its byte and count bounds, the
    batch counters, and closing into frames. Not thread-safe: the publishing thread owns it."""

    TOPIC_CACHE_LIMIT = 100_000
    KIND = PubType.REALTIME_BATCH

    def __init__(self, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES):
        self.max_events = max_events
        self.max_bytes = max_bytes
        self._open: Dict[str, List[Any]] = {}  # batch topic -> [items, bytes, last seq, body head, fields]
        self._topics: Dict[bytes, Tuple[str, bytes]] = {}  # topic frame -> (batch topic, msgpack str)
        self._counters: Dict[str, int] = {}
        self._full: List[Tuple[str, List[bytes], int, bytes]] = []
        self.batches = 0
        self.events = 0

    @staticmethod
    def _name(topic: str) -> str:
        return batch_topic(topic)

    def _topic(self, topic_frame: bytes) -> Tuple[str, bytes]:
        known = self._topics.get(topic_frame)
        if known is None:
            if len(self._topics) >= self.TOPIC_CACHE_LIMIT:
                self._topics.clear()
            text = topic_frame.decode("ascii")
            known = self._topics[topic_frame] = (self._name(text), _str_head(len(topic_frame)) + topic_frame)
        return known

    def _head(self, type_name: Optional[str], fields: Optional[Tuple[str, ...]]) -> bytes:
        """The body's msgpack up to the events array's header."""
        return _BODY_HEAD

    def _append(self, name: str, item: bytes, seq: int, type_name: Optional[str] = None,
                fields: Optional[Tuple[str, ...]] = None) -> None:
        entry = self._open.get(name)
        if entry is not None and (entry[1] + len(item) > self.max_bytes
                                  or (entry[4] is not fields and entry[4] != fields)):
            self._full.append((name, entry[0], entry[2], entry[3]))
            entry = None
        if entry is None:
            head = self._head(type_name, fields)
            entry = self._open[name] = [[], len(head), 0, head, fields]
        entry[0].append(item)
        entry[1] += len(item)
        entry[2] = seq
        if len(entry[0]) >= self.max_events:
            self._full.append((name, entry[0], seq, entry[3]))
            del self._open[name]

    def __len__(self) -> int:
        return len(self._full) + len(self._open)

    def close(self, epoch: int, recv_ns: int) -> List[List[bytes]]:
        """Every batch collected so far as [topic, envelope, body] frames; the builder is empty after."""
        pending = self._full + [(name, e[0], e[2], e[3]) for name, e in self._open.items()]
        self._full = []
        self._open = {}
        out = []
        for name, items, last_seq, head in pending:
            number = self._counters.get(name, 0) + 1
            self._counters[name] = number
            envelope = pack([PROTOCOL_VERSION, self.KIND, epoch, last_seq, number, None, recv_ns])
            out.append([name.encode("ascii"), envelope, head + _array_head(len(items)) + b"".join(items)])
            self.events += len(items)
        self.batches += len(out)
        return out


class BatchBuilder(_Batches):
    """Collects encoded RT publications per batch topic and closes them into batch frames (broker side).

    `add` takes the three frames the publisher sent (or would have sent); `close` returns the batches
    to send, in the order their topics first came.
    """

    def add(self, topic_frame: bytes, envelope: bytes, body: bytes, seq: int) -> None:
        """One RT publication, as its frames and its `seq`."""
        name, packed_topic = self._topic(topic_frame)
        self._append(name, b"\x93" + packed_topic + envelope + body, seq)


class PositionalBatchBuilder(_Batches):
    """Collects RT publications per positional batch topic (§4.4) and closes them into batch frames.

    `add` takes the publication's topic and envelope frames and `code_values`, the msgpack of
    `[code, [value, ...]]` (the caller encodes it before numbering, so a value msgpack cannot carry
    uses no number). A publication whose fields differ from its open batch's closes that batch.
    """

    KIND = PubType.REALTIME_POSITIONAL

    def __init__(self, max_events: int = MAX_BATCH_EVENTS, max_bytes: int = MAX_BATCH_BYTES):
        super().__init__(max_events, max_bytes)
        self._heads: Dict[Tuple[Optional[str], Optional[Tuple[str, ...]]], bytes] = {}

    @staticmethod
    def _name(topic: str) -> str:
        return positional_topic(topic)

    def _head(self, type_name: Optional[str], fields: Optional[Tuple[str, ...]]) -> bytes:
        """{"type": .., "fields": [..], "events": (the array header follows)}."""
        key = (type_name, fields)
        head = self._heads.get(key)
        if head is None:
            if len(self._heads) >= self.TOPIC_CACHE_LIMIT:
                self._heads.clear()
            head = self._heads[key] = (b"\x83" + pack("type") + pack(type_name) + pack("fields")
                                       + pack(list(fields or ())) + pack("events"))
        return head

    def add(self, topic_frame: bytes, envelope: bytes, type_name: str, fields: Tuple[str, ...], code_values: bytes,
            seq: int) -> None:
        """One RT publication of realtime type `type_name`, whose values follow `fields`."""
        name, packed_topic = self._topic(topic_frame)
        # the item [topic, envelope, code, values]: [code, values]'s own array header dropped
        self._append(name, b"\x94" + packed_topic + envelope + code_values[1:], seq, type_name, fields)


def unbatch(batch: Publication) -> List[Publication]:
    """The RT publications inside a batch, each checked like `Publication.from_frames` checks frames.

    ProtocolError when the batch or any item is malformed (the whole batch is refused: a receiver
    never keeps part of a message it cannot trust).
    """
    if batch.type == PubType.REALTIME_POSITIONAL:
        return _positional_items(batch)
    if batch.type != PubType.REALTIME_BATCH:
        raise ProtocolError(f"not a batch: type {batch.type!r}")
    events = batch.body.get("events")
    if not isinstance(events, list):
        raise ProtocolError("a batch body is {events: [[topic, envelope, body], ...]}")
    out = []
    for item in events:
        out.append(_item(item, batch.epoch))
    return out


def _positional_items(batch: Publication) -> List[Publication]:
    """The RT publications of a positional batch (§4.4), their bodies keyed by the batch's fields."""
    body = batch.body
    type_name, fields, events = body.get("type"), body.get("fields"), body.get("events")
    if (not isinstance(type_name, str) or not isinstance(fields, list) or not isinstance(events, list)
            or not all(isinstance(f, str) for f in fields) or len(set(fields)) != len(fields)):
        raise ProtocolError("a positional batch body is {type, fields: [unique names], events: [...]}")
    out = []
    for item in events:
        if not isinstance(item, list) or len(item) != 4:
            raise ProtocolError("a positional batch item is [topic, envelope, code, values]")
        topic, envelope, code, values = item
        if not isinstance(code, str) or not isinstance(values, list) or len(values) > len(fields):
            raise ProtocolError("a positional item's code is text and its values at most one per field")
        out.append(_item([topic, envelope, {"type": type_name, "code": code, "values": dict(zip(fields, values))}],
                         batch.epoch))
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
