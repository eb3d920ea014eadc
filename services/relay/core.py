"""The relay's logic without sockets: which upstream connection serves which downstream client.

Every downstream client (a ROUTER identity at the relay) gets its own upstream DEALER with a fresh
random routing id, so the broker sees one connection per client, exactly as if the client were
connected directly: sessions, leases, request ids, BYE and retired identities stay per client
(docs/protocol.md §1.1). Frames pass untouched; the core only peeks at the envelope's type and
request id, to notice BYE and to address the relay's own refusals.

`ClientTable` is bounded (`max_clients`) and forgets a client silent for `idle_s`. `StatusFeed` makes
the relay's heartbeat and status publications for its own PUB (common/heartbeat.py).
"""
from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import msgpack

from koabus.common.errors import KoabusError, Overloaded, ProtocolError
from koabus.common.heartbeat import STATUS_TOPIC, Identity, ServiceBeat
from koabus.common.protocol import ErrorReply, encode_broker
from koabus.common.protocol.constants import ClientType, PubType
from koabus.services.skeleton.status import StatusPublisher

SERVICE = "relay"
#: identities whose session ended with BYE, remembered after their route is forgotten
RETIRED_LIMIT = 10_000
#: a peeked envelope larger than this is not decoded (the broker will judge it)
_PEEK_MAX_BYTES = 1024


def random_routing_id() -> bytes:
    """16 random bytes, the first not zero (ZeroMQ reserves a leading zero for its own ids)."""
    rid = secrets.token_bytes(16)
    return rid if rid[0] else b"\x01" + rid[1:]


def peek(frames: Sequence[bytes]) -> Tuple[Optional[str], int]:
    """(message type, request id) of a client message's envelope, or (None, 0) when unreadable."""
    if not frames or len(frames[0]) > _PEEK_MAX_BYTES:
        return None, 0
    try:
        envelope = msgpack.unpackb(frames[0], raw=False, ext_hook=_no_ext, strict_map_key=True)
    except Exception:  # anything malformed: the broker answers it with a typed error
        return None, 0
    if not isinstance(envelope, list) or len(envelope) != 3:
        return None, 0
    kind, rid = envelope[1], envelope[2]
    rid = rid if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid < 1 << 63 else 0
    return (kind if isinstance(kind, str) else None), rid


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("extension type")


def refusal_frames(identity: bytes, frames: Sequence[bytes], exc: KoabusError) -> List[bytes]:
    """The ROUTER frames of an ERROR answering `frames` from `identity` with `exc`."""
    return [identity, *encode_broker(ErrorReply.from_exception(peek(frames)[1], exc))]


@dataclass
class Route:
    """One downstream client and the upstream routing id that speaks for it."""

    identity: bytes
    upstream_id: bytes
    last_s: float
    said_bye: bool = False


class ClientTable:
    """Downstream identity <-> upstream routing id; bounded; silent clients expire (no I/O)."""

    def __init__(self, max_clients: int, idle_s: float, new_id: Callable[[], bytes] = random_routing_id):
        self.max_clients = max_clients
        self.idle_s = idle_s
        self._new_id = new_id
        self._routes: OrderedDict[bytes, Route] = OrderedDict()  # least recently active first
        self._by_upstream: Dict[bytes, Route] = {}
        self._retired: OrderedDict[bytes, None] = OrderedDict()
        self.refused = 0

    def __len__(self) -> int:
        return len(self._routes)

    def route_in(self, identity: bytes, frames: Sequence[bytes], now: float) -> Tuple[Route, bool]:
        """The route for a message from `identity` (made if new: second item True).

        Raises ProtocolError for an identity whose session ended with BYE and was forgotten since (the
        broker would refuse it too), Overloaded when `max_clients` routes are in use.
        """
        route = self._routes.get(identity)
        if route is None:
            if identity in self._retired:
                self.refused += 1
                raise ProtocolError("this connection identity belongs to a session that ended; "
                                    "connect with a new socket (a new identity)")
            if len(self._routes) >= self.max_clients:
                self.refused += 1
                raise Overloaded(f"the relay has {len(self._routes)} clients, its limit",
                                 details={"max_clients": self.max_clients})
            route = Route(identity, self._new_id(), now)
            self._routes[identity] = route
            self._by_upstream[route.upstream_id] = route
            fresh = True
        else:
            fresh = False
        self._touch(route, now)
        if peek(frames)[0] == ClientType.BYE:
            route.said_bye = True
            self._retire(identity)
        return route, fresh

    def route_out(self, upstream_id: bytes, now: float) -> Optional[Route]:
        """The route an upstream answer belongs to (None: already forgotten); counts as activity."""
        route = self._by_upstream.get(upstream_id)
        if route is not None:
            self._touch(route, now)
        return route

    def expire(self, now: float) -> List[Route]:
        """Forget and return the routes silent for `idle_s` or more (their DEALERs are to be closed)."""
        gone: List[Route] = []
        while self._routes:
            route = next(iter(self._routes.values()))
            if now - route.last_s < self.idle_s:
                break
            gone.append(self.forget(route.identity))
        return gone

    def forget(self, identity: bytes) -> Route:
        route = self._routes.pop(identity)
        self._by_upstream.pop(route.upstream_id, None)
        return route

    def routes(self) -> List[Route]:
        return list(self._routes.values())

    def _touch(self, route: Route, now: float) -> None:
        route.last_s = now
        self._routes.move_to_end(route.identity)

    def _retire(self, identity: bytes) -> None:
        self._retired[identity] = None
        self._retired.move_to_end(identity)
        while len(self._retired) > RETIRED_LIMIT:
            self._retired.popitem(last=False)


class StatusFeed:
    """The relay's own publications: `sys.hb.relay` every beat, `sys.status.relay` every fifth.

    Numbered in the relay's own epoch (never the broker's: these go out on the relay's status PUB,
    not on the relayed stream). Sans-I/O: `tick` returns the frames, the server's thread sends them.
    """

    STATUS_EVERY_BEATS = 5

    def __init__(self, name: str, interval_ms: int, identity: Optional[Identity] = None):
        self.name = name
        self.beat = ServiceBeat(identity or Identity.here(SERVICE), interval_ms)
        self.publisher = StatusPublisher(None, SERVICE, name, self.beat)
        self._beats = 0

    @property
    def epoch(self) -> int:
        return self.publisher.epoch

    def tick(self, state: str, status: Dict[str, Any], now_s: Optional[float] = None) -> List[List[bytes]]:
        """The publications (as frames) due at one heartbeat."""
        now_s = time.time() if now_s is None else now_s
        hb = self.publisher.beat(state, None, now_s)
        out = [hb.to_frames()]
        self._beats += 1
        if self._beats % self.STATUS_EVERY_BEATS == 1:
            out.append(self.publisher.publish(f"{STATUS_TOPIC}.{SERVICE}", PubType.SYSTEM, {**hb.body, **status},
                                              None, int(now_s * 1e9)).to_frames())
        return out
