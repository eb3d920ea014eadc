"""The ROUTER's clients as the I/O thread knows them, bounded in every way (plain classes, no sockets).

`ClientInfo` is one DEALER peer: its lease, its requests in flight, what could not be delivered to it
and the snapshots being sent to it. `SnapshotJob` is a snapshot sent a slice at a time: the broker
keeps the captured records, not encoded frames, so a client that reads slowly pins no more than its
ROUTER queue holds and the snapshot resumes where it stopped. `TokenBucket` bounds a per-client rate;
`RetiredIds` remembers identities whose session ended with BYE, which never get a session again;
`fingerprint` names an identity in logs without giving it away, `seed_routing_ids` makes ZeroMQ's own
identities unpredictable.
"""
from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import logging
import secrets
import sys
from collections import OrderedDict, deque
from typing import Any, Deque, Dict, List, Optional, Set

log = logging.getLogger(__name__)

#: identities remembered as retired (the oldest forgotten first)
RETIRED_LIMIT = 10_000


class TokenBucket:
    """`rate_per_s` tokens a second, at most `burst` saved up; `take(now)` spends one if there is one."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate_per_s: float, burst: Optional[float] = None, now: float = 0.0):
        self.rate = rate_per_s
        self.burst = burst if burst is not None else max(1.0, rate_per_s)
        self.tokens = self.burst
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclasses.dataclass
class SnapshotJob:
    """One snapshot answer in progress: `items` (captured publications) go out as PARTs, then END."""

    request_id: int
    items: List[Any]
    seq: int
    sent: int = 0
    #: when the client's queue first refused a part of this job (None while it flows)
    stalled_since: Optional[float] = None

    @property
    def remaining(self) -> int:
        return len(self.items) - self.sent


@dataclasses.dataclass
class ClientInfo:
    """A DEALER peer as the ROUTER knows it."""

    identity: bytes
    name: str = ""
    last_seen: float = 0.0
    heartbeat_ms: int = 1000
    inflight: Set[int] = dataclasses.field(default_factory=set)
    messages: int = 0
    #: sends refused because this client's queue was full, and messages it will never get
    blocked: int = 0
    dropped: int = 0
    #: until then (monotonic s) new requests get Overloaded: the client is not reading its replies
    congested_until: float = 0.0
    #: streams that lost a message to a full queue: request id -> messages dropped since
    broken: Dict[int, int] = dataclasses.field(default_factory=dict)
    snapshots: Deque[SnapshotJob] = dataclasses.field(default_factory=deque)
    #: final answers (encoded frames) that met a full queue: sent in order once it has room again
    owed: Deque[List[bytes]] = dataclasses.field(default_factory=deque)
    snapshot_bucket: Optional[TokenBucket] = None

    def congested(self, now: float) -> bool:
        return now < self.congested_until


class RetiredIds:
    """Identities whose session ended with BYE; bounded, the oldest forgotten first."""

    def __init__(self, limit: int = RETIRED_LIMIT):
        self.limit = limit
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def add(self, identity: bytes) -> None:
        self._ids[identity] = None
        self._ids.move_to_end(identity)
        while len(self._ids) > self.limit:
            self._ids.popitem(last=False)

    def __contains__(self, identity: bytes) -> bool:
        return identity in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def fingerprint(identity: bytes) -> str:
    """A short, one-way name for a connection identity in logs (the identity itself stays secret)."""
    return hashlib.blake2b(identity, digest_size=4).hexdigest()


def seed_routing_ids() -> None:
    """Make the ROUTER's own identities (ZeroMQ's, for peers that set none) unpredictable.

    libzmq numbers them from C `rand()`, never seeded: the first is always 00 6b 8b 45 67. A peer that
    claims the next one crashes libzmq (an assertion) when a peer without an identity connects. The
    ROUTER draws its starting number when it is created, so seed the C library first (POSIX; on Windows
    each thread of the C runtime has its own state and this does not reach it).
    """
    if sys.platform == "win32":
        return
    try:
        ctypes.CDLL(None).srand(secrets.randbits(32))
    except (OSError, AttributeError):  # pragma: no cover - a C library without srand
        log.debug("could not seed the C library's rand()")
