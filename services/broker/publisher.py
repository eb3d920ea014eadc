"""Publication sequencing and the last-value cache (I/O thread): epoch, seq, topic_seq, snapshots.

The same thread assigns sequence numbers and answers snapshots, so a snapshot taken between two
publications is exactly the state after publication `seq` (the Clone pattern, docs/protocol.md §5).
"""
from __future__ import annotations

import secrets
import time
from typing import Any, Dict, List, Optional, Tuple

from koabus.common.protocol import Publication

#: topic families kept in the last-value cache
CACHED_PREFIXES = ("rt.",)


class Sequencer:
    """Numbers publications and remembers the last one of every cached topic."""

    def __init__(self, epoch: Optional[int] = None):
        self.epoch = epoch if epoch is not None else secrets.randbits(63)
        self.seq = 0
        self._topic_seq: Dict[str, int] = {}
        self._lvc: Dict[str, Publication] = {}
        self.published = 0

    def publish(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int],
                recv_ns: Optional[int] = None) -> Publication:
        self.seq += 1
        topic_seq = self._topic_seq.get(topic, 0) + 1
        self._topic_seq[topic] = topic_seq
        pub = Publication(topic, kind, self.epoch, self.seq, topic_seq, event_ns,
                          recv_ns if recv_ns is not None else time.time_ns(), body)
        if topic.startswith(CACHED_PREFIXES):
            self._lvc[topic] = pub
        self.published += 1
        return pub

    def snapshot(self, prefix: str) -> Tuple[List[Publication], int]:
        """Cached publications whose topic starts with `prefix`, oldest first, and the current seq."""
        items = [p for t, p in self._lvc.items() if t.startswith(prefix)]
        items.sort(key=lambda p: p.seq)
        return items, self.seq

    def forget(self, topic: str) -> None:
        self._lvc.pop(topic, None)

    def cached_topics(self) -> int:
        return len(self._lvc)
