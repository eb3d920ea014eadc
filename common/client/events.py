"""Typed events the SDK hands to callers: realtime values, condition membership, connection changes."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, Optional, Tuple

from koabus.common.clock import KST
from koabus.common.protocol import Publication, Topic


def ns_to_kst(ns: Optional[int]) -> Optional[datetime]:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, KST)


@dataclass(frozen=True)
class RealtimeEvent:
    """One realtime publication: `type` is the OCX name (주식체결), `values` keyed by English FID name."""

    topic: str
    type: str
    code: str
    values: Dict[str, Any]
    event_time: Optional[datetime]
    received: Optional[datetime]
    epoch: int
    seq: int
    #: True when the value came from the broker's last-value cache (late join), not live
    from_snapshot: bool = False

    @classmethod
    def from_publication(cls, pub: Publication, from_snapshot: bool = False) -> RealtimeEvent:
        body = pub.body
        code = body.get("code")
        if not isinstance(code, str):
            code = Topic.parse(pub.topic).code if pub.topic.startswith("rt.") else ""
        values = body.get("values")
        return cls(pub.topic, str(body.get("type", "")), code, values if isinstance(values, dict) else {},
                   ns_to_kst(pub.event_ns), ns_to_kst(pub.recv_ns), pub.epoch, pub.seq, from_snapshot)


@dataclass(frozen=True)
class ConditionEvent:
    """Condition membership: kind "I" (entered), "D" (left) or "initial" (the search result)."""

    kind: str
    codes: Tuple[str, ...]
    index: int
    name: str
    received: Optional[datetime] = None

    @property
    def inserted(self) -> Tuple[str, ...]:
        return self.codes if self.kind in ("I", "initial") else ()

    @property
    def deleted(self) -> Tuple[str, ...]:
        return self.codes if self.kind == "D" else ()


@dataclass(frozen=True)
class ConnectionEvent:
    """Something the caller should know about the link: kind is "state", "epoch" or "gap"."""

    kind: str
    state: str = ""
    old_epoch: Optional[int] = None
    new_epoch: Optional[int] = None
    topic: str = ""
    missing: int = 0
    detail: Dict[str, Any] = field(default_factory=dict)
