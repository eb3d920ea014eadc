"""Publication sequencing and the last-value cache (I/O thread): epoch, seq, topic_seq, snapshots.

The same thread assigns sequence numbers and answers snapshots, so a snapshot taken between two
publications is exactly the state after publication `seq` (the Clone pattern, docs/protocol.md §5).
`frames()` is the hot path: it numbers and encodes in one step and caches a plain record, building a
`Publication` only when a snapshot asks for it.
"""
from __future__ import annotations

import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

from koabus.common.protocol import Publication
from koabus.common.protocol.publication import PublicationEncoder

#: topic families kept in the last-value cache
CACHED_PREFIXES = ("rt.",)

# (topic, type, seq, topic_seq, event_ns, recv_ns, body): a cached publication before it is needed
_Record = Tuple[str, str, int, int, Optional[int], int, Dict[str, Any]]


class Sequencer:
    """Numbers publications and remembers the last one of every cached topic."""

    def __init__(self, epoch: Optional[int] = None):
        self.epoch = epoch if epoch is not None else secrets.randbits(63)
        self.seq = 0
        self._topic_seq: Dict[str, int] = {}
        self._lvc: Dict[str, _Record] = {}
        self._encoder = PublicationEncoder()
        self.published = 0

    def frames(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int],
               recv_ns: Optional[int] = None) -> List[bytes]:
        """Number one publication and return its frames (`Publication.to_frames()` bytes).

        The body is encoded first: one msgpack cannot carry raises ProtocolError before a number
        is used, so subscribers never see a gap for it.
        """
        body_frame = self._encoder.body(body)
        topic_frame, envelope = self.numbered(topic, kind, body, event_ns, recv_ns)
        return [topic_frame, envelope, body_frame]

    def numbered(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int],
                 recv_ns: Optional[int] = None) -> Tuple[bytes, bytes]:
        """Number one publication and return its topic and envelope frames, without encoding `body`
        (cached as it is): for a caller that has already encoded what it sends of it (§4.4)."""
        encoder = self._encoder
        topic_frame = encoder.topic(topic)
        if recv_ns is None:
            recv_ns = time.time_ns()
        seq = self.seq = self.seq + 1
        topic_seq = self._topic_seq.get(topic, 0) + 1
        self._topic_seq[topic] = topic_seq
        envelope = encoder.envelope(kind, self.epoch, seq, topic_seq, event_ns, recv_ns)
        if topic.startswith(CACHED_PREFIXES):
            self._lvc[topic] = (topic, kind, seq, topic_seq, event_ns, recv_ns, body)
        self.published += 1
        return topic_frame, envelope

    def publish(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int],
                recv_ns: Optional[int] = None) -> Publication:
        """Number one publication and return it as a message object (for callers that want one)."""
        if recv_ns is None:
            recv_ns = time.time_ns()
        self.frames(topic, kind, body, event_ns, recv_ns)
        return Publication(topic, kind, self.epoch, self.seq, self._topic_seq[topic], event_ns, recv_ns, body)

    def _publication(self, record: _Record) -> Publication:
        topic, kind, seq, topic_seq, event_ns, recv_ns, body = record
        return Publication(topic, kind, self.epoch, seq, topic_seq, event_ns, recv_ns, body)

    def snapshot(self, prefix: str) -> Tuple[List[Publication], int]:
        """Cached publications whose topic starts with `prefix`, oldest first, and the current seq."""
        records = [r for t, r in self._lvc.items() if t.startswith(prefix)]
        records.sort(key=lambda r: r[2])
        return [self._publication(r) for r in records], self.seq

    def topic_counts(self, prefix: str) -> Dict[str, int]:
        """Publications so far per topic starting with `prefix` (the last topic_seq of each)."""
        return {t: n for t, n in dict(self._topic_seq).items() if t.startswith(prefix)}

    def skip(self, topic: str, count: int) -> None:
        """Use `count` numbers of `topic` (and of `seq`) for publications dropped before they were sent,
        so a subscriber sees the loss as a gap instead of never knowing."""
        self._topic_seq[topic] = self._topic_seq.get(topic, 0) + count
        self.seq += count

    def forget(self, topic: str) -> None:
        self._lvc.pop(topic, None)

    def cached_topics(self) -> int:
        return len(self._lvc)
