"""Subscriber-side sequence tracking: notices a new broker epoch and lost publications.

Fed every Publication a subscriber receives, in order; returns what it noticed. No I/O, no clock.
Per-topic counters work for prefix subscriptions; the global `seq` is checked only when the
subscriber receives everything (`whole_stream=True`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

from .publication import Publication


@dataclass(frozen=True)
class GapEvent:
    """`kind` is "epoch" (broker restarted: resync), "gap" (lost `missing` messages) or "stale"."""

    kind: str
    topic: str
    epoch: int
    expected: int = 0
    received: int = 0

    @property
    def missing(self) -> int:
        return max(0, self.received - self.expected)


class GapDetector:
    def __init__(self, whole_stream: bool = False):
        self.whole_stream = whole_stream
        self.epoch: Optional[int] = None
        self._topic_seq: Dict[str, int] = {}
        self._seq = 0
        self.gaps = 0
        self.lost = 0

    def reset(self, epoch: Optional[int] = None, seq: int = 0) -> None:
        """Start over, e.g. after applying a snapshot taken at (`epoch`, `seq`)."""
        self.epoch = epoch
        self._seq = seq
        self._topic_seq.clear()

    def prime(self, pub: Publication) -> None:
        """Record a publication's position without checking it (snapshot items)."""
        if self.epoch is None:
            self.epoch = pub.epoch
        if pub.epoch == self.epoch:
            self._topic_seq[pub.topic] = max(self._topic_seq.get(pub.topic, 0), pub.topic_seq)

    def feed(self, pub: Publication) -> List[GapEvent]:
        events: List[GapEvent] = []
        if self.epoch != pub.epoch:
            if self.epoch is not None:
                events.append(GapEvent("epoch", pub.topic, pub.epoch))
            self.reset(pub.epoch)
        last = self._topic_seq.get(pub.topic)
        if last is not None:
            if pub.topic_seq <= last:
                return events + [GapEvent("stale", pub.topic, pub.epoch, last + 1, pub.topic_seq)]
            if pub.topic_seq != last + 1:
                events.append(GapEvent("gap", pub.topic, pub.epoch, last + 1, pub.topic_seq))
        self._topic_seq[pub.topic] = pub.topic_seq
        if self.whole_stream:
            if self._seq and pub.seq > self._seq + 1 and not any(e.kind == "gap" for e in events):
                events.append(GapEvent("gap", "", pub.epoch, self._seq + 1, pub.seq))
            self._seq = max(self._seq, pub.seq)
        for e in events:
            if e.kind == "gap":
                self.gaps += 1
                self.lost += e.missing
        return events
