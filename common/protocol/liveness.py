"""Heartbeat bookkeeping for one peer, without I/O: when to send, when the peer is presumed dead.

Both sides use it: the client for the broker (PUB heartbeats, DEALER replies), the broker for each
client (any message counts as a sign of life).
"""
from __future__ import annotations

from .constants import HEARTBEAT_INTERVAL_MS, HEARTBEAT_LIVENESS


class Liveness:
    def __init__(self, interval_ms: int = HEARTBEAT_INTERVAL_MS, misses: int = HEARTBEAT_LIVENESS,
                 now_s: float = 0.0):
        if interval_ms <= 0 or misses <= 0:
            raise ValueError("interval and misses must be positive")
        self.interval_s = interval_ms / 1000.0
        self.misses = misses
        self.last_heard_s = now_s
        self.last_sent_s = now_s

    def heard(self, now_s: float) -> None:
        self.last_heard_s = max(self.last_heard_s, now_s)

    def sent(self, now_s: float) -> None:
        self.last_sent_s = max(self.last_sent_s, now_s)

    def send_due(self, now_s: float) -> bool:
        return now_s - self.last_sent_s >= self.interval_s

    def expired(self, now_s: float) -> bool:
        return now_s - self.last_heard_s > self.interval_s * self.misses

    def silence_s(self, now_s: float) -> float:
        return max(0.0, now_s - self.last_heard_s)
