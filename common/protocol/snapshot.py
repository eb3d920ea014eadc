"""The Clone pattern on the subscriber side: join late without missing or repeating an update.

Sequence: subscribe first, feed live publications to `on_live` (buffered while the snapshot is
pending), request the snapshot, feed its parts to `on_snapshot_item`, then `on_snapshot_end(epoch,
seq)` returns the snapshot values followed by the buffered updates newer than the snapshot. After
that, `on_live` passes publications straight through. No I/O.
"""
from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List

from .publication import Publication


class SnapshotSync:
    PENDING = "pending"
    LIVE = "live"

    def __init__(self, max_buffered: int = 100_000):
        self.state = self.PENDING
        self.max_buffered = max_buffered
        self.overflowed = False
        self._buffer: Deque[Publication] = deque()
        self._snapshot: Dict[str, Publication] = {}

    def on_live(self, pub: Publication) -> List[Publication]:
        if self.state == self.LIVE:
            return [pub]
        if len(self._buffer) >= self.max_buffered:
            self._buffer.popleft()
            self.overflowed = True
        self._buffer.append(pub)
        return []

    def on_snapshot_item(self, pub: Publication) -> None:
        known = self._snapshot.get(pub.topic)
        if known is None or known.seq < pub.seq:
            self._snapshot[pub.topic] = pub

    def on_snapshot_end(self, epoch: int, seq: int) -> List[Publication]:
        """Go live; returns the snapshot (oldest first) then buffered updates after `seq` in `epoch`."""
        out = sorted((p for p in self._snapshot.values() if p.epoch == epoch), key=lambda p: p.seq)
        out += [p for p in self._buffer if p.epoch != epoch or p.seq > seq]
        self._buffer.clear()
        self._snapshot.clear()
        self.state = self.LIVE
        return out

    def restart(self) -> None:
        """Back to pending, e.g. after a new broker epoch was noticed."""
        self.state = self.PENDING
        self._buffer.clear()
        self._snapshot.clear()
        self.overflowed = False
