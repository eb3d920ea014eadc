"""Messages on the broker's PUB socket (docs/protocol.md §4).

Frame layout:
    [topic, envelope, body]
    topic    = ASCII bytes, dot-separated, the SUB prefix filter matches on it
    envelope = msgpack [version:int, type:str, epoch:int, seq:int, topic_seq:int,
                        event_ns:int|nil, recv_ns:int]
    body     = msgpack map, per type

`seq` counts every publication of one broker epoch from 1; `topic_seq` counts the publications of
one topic in that epoch, which lets a subscriber that filters by prefix notice a lost message.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import msgpack

from ..errors import ProtocolError, VersionMismatch
from .codec import pack, unpack
from .constants import MAX_REPLY_FRAME_BYTES, PROTOCOL_VERSION, SUPPORTED_VERSIONS, PubType

MAX_TOPIC_BYTES = 255
_U63 = (1 << 63) - 1


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Publication:
    """One published message with its sequencing and timing envelope."""

    topic: str
    type: str
    epoch: int
    seq: int
    topic_seq: int
    event_ns: Optional[int]
    recv_ns: int
    body: Dict[str, Any] = field(default_factory=dict)

    def to_frames(self) -> List[bytes]:
        return [
            self.topic.encode("ascii"),
            pack([PROTOCOL_VERSION, self.type, self.epoch, self.seq, self.topic_seq, self.event_ns,
                  self.recv_ns]),
            pack(self.body),
        ]

    @classmethod
    def from_frames(cls, frames: Sequence[bytes], max_bytes: int = MAX_REPLY_FRAME_BYTES) -> Publication:
        if not isinstance(frames, (list, tuple)) or len(frames) != 3:
            raise ProtocolError("a publication has 3 frames [topic, envelope, body]")
        topic_raw = frames[0]
        if not isinstance(topic_raw, (bytes, bytearray, memoryview)) or len(topic_raw) > MAX_TOPIC_BYTES:
            raise ProtocolError("topic must be at most 255 bytes")
        try:
            topic = bytes(topic_raw).decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError("topic must be ASCII") from None
        version, kind, epoch, seq, topic_seq, event_ns, recv_ns = check_envelope(
            unpack(frames[1], max_bytes, "envelope"))
        body = unpack(frames[2], max_bytes, "body")
        if not isinstance(body, dict):
            raise ProtocolError("publication body must be a map")
        return cls(topic, kind, epoch, seq, topic_seq, event_ns, recv_ns, body)

    def to_dict(self) -> Dict[str, Any]:
        """The form a snapshot PART carries (docs/protocol.md §5)."""
        return {"topic": self.topic, "type": self.type, "epoch": self.epoch, "seq": self.seq,
                "topic_seq": self.topic_seq, "event_ns": self.event_ns, "recv_ns": self.recv_ns,
                "body": self.body}

    @classmethod
    def from_dict(cls, data: Any) -> Publication:
        if not isinstance(data, dict):
            raise ProtocolError("a snapshot item must be a map")
        try:
            frames = [str(data["topic"]).encode("ascii"),
                      pack([PROTOCOL_VERSION, data["type"], data["epoch"], data["seq"], data["topic_seq"],
                            data.get("event_ns"), data["recv_ns"]]),
                      pack(data.get("body") or {})]
        except (KeyError, UnicodeEncodeError) as exc:
            raise ProtocolError(f"malformed snapshot item: {exc}") from None
        return cls.from_frames(frames)


def check_envelope(envelope: Any) -> List[Any]:
    """A decoded publication envelope, checked: version, type, integer ranges (ProtocolError if not)."""
    if not isinstance(envelope, list) or len(envelope) != 7:
        raise ProtocolError("publication envelope must have 7 items")
    version, kind, epoch, seq, topic_seq, event_ns, recv_ns = envelope
    if not _is_int(version):
        raise ProtocolError("version must be an integer")
    if version not in SUPPORTED_VERSIONS:
        raise VersionMismatch(f"protocol version {version} is not supported",
                              details={"supported": list(SUPPORTED_VERSIONS)})
    if kind not in PubType.ALL:
        raise ProtocolError(f"unknown publication type {kind!r}")
    for name, value in (("epoch", epoch), ("seq", seq), ("topic_seq", topic_seq), ("recv_ns", recv_ns)):
        if not _is_int(value) or not 0 <= value <= _U63:
            raise ProtocolError(f"{name} must be an integer in [0, 2^63)")
    if event_ns is not None and not _is_int(event_ns):
        raise ProtocolError("event_ns must be an integer or nil")
    return envelope


class PublicationEncoder:
    """Frames for a publication without building a `Publication`: the publisher's hot path.

    Byte for byte what `Publication(...).to_frames()` gives, but with one reused msgpack Packer
    and the ASCII topics remembered. Not thread-safe: one encoder per publishing thread.
    """

    TOPIC_CACHE_LIMIT = 100_000

    def __init__(self) -> None:
        self._pack = msgpack.Packer(use_bin_type=True).pack
        self._topics: Dict[str, bytes] = {}

    def topic(self, topic: str) -> bytes:
        raw = self._topics.get(topic)
        if raw is None:
            raw = topic.encode("ascii")
            if len(self._topics) >= self.TOPIC_CACHE_LIMIT:
                self._topics.clear()
            self._topics[topic] = raw
        return raw

    def body(self, body: Dict[str, Any]) -> bytes:
        """The body frame; ProtocolError for values msgpack cannot carry (as `pack`)."""
        try:
            return self._pack(body)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ProtocolError(f"cannot encode payload: {exc}") from None

    def envelope(self, kind: str, epoch: int, seq: int, topic_seq: int, event_ns: Optional[int],
                 recv_ns: int) -> bytes:
        try:
            return self._pack([PROTOCOL_VERSION, kind, epoch, seq, topic_seq, event_ns, recv_ns])
        except (TypeError, ValueError, OverflowError) as exc:
            raise ProtocolError(f"cannot encode payload: {exc}") from None

    def frames(self, topic: str, kind: str, epoch: int, seq: int, topic_seq: int, event_ns: Optional[int],
               recv_ns: int, body: Dict[str, Any]) -> List[bytes]:
        return [self.topic(topic), self.envelope(kind, epoch, seq, topic_seq, event_ns, recv_ns), self.body(body)]
