"""The bars service's own endpoints: numbered publications on its PUB, and the broker's request protocol on
its ROUTER, reduced to what a bars client needs (HELLO, PING, `status`, `snapshot`).

Speaking the broker's protocol means the SDK works unchanged against the bars service:
`AsyncClient(router=<5596>, pub=<5592>)` connects, and a `TopicStream(prefixes=["bar.1m."], snapshot=True)`
joins late with the Clone handshake: the current partial bars (PART items, `Publication.to_dict()`), then
END `{epoch, seq}`, then live publications after `seq`. Both classes are free of sockets: the
publisher is handed a `send(frames)` callable, the request handler returns the frames to send.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from koabus.common.errors import InvalidRequest, KoabusError, ProtocolError, VersionMismatch
from koabus.common.heartbeat import ServiceBeat
from koabus.common.protocol import (
    SUPPORTED_VERSIONS,
    Bye,
    Cancel,
    End,
    ErrorReply,
    Hello,
    Part,
    Ping,
    Pong,
    Publication,
    Reply,
    Request,
    Welcome,
    decode_client,
    encode_broker,
)
from koabus.common.protocol.constants import PubType
from koabus.services.skeleton.status import StatusPublisher

from .config import SERVICE
from .core import Bar

#: the request ops the bars ROUTER answers; anything else is refused with InvalidRequest
OPS = ("status", "snapshot")


class BarPublisher(StatusPublisher):
    """The service's own publications (bars and heartbeats, in its own epoch), and the last partial bar
    of every topic whose bar is in progress: what a snapshot hands a late joiner."""

    def __init__(self, send: Callable[[List[bytes]], bool], epoch: Optional[int] = None, name: str = "koabus-bars",
                 heartbeat: Optional[ServiceBeat] = None):
        super().__init__(send, SERVICE, name, heartbeat, epoch=epoch)
        self._partials: Dict[str, Publication] = {}
        self.bars = 0
        self.partials = 0

    def publish_bar(self, bar: Bar) -> Publication:
        """A final bar carries its end as `event_ns`; a partial one has no exchange time of its own."""
        event_ns = int(bar.end.timestamp()) * 1_000_000_000 if bar.final else None
        pub = self.publish(bar.topic, PubType.BAR, bar.to_body(), event_ns)
        if bar.final:
            self.bars += 1
            self._partials.pop(bar.topic, None)
        else:
            self.partials += 1
            self._partials[bar.topic] = pub
        return pub

    def snapshot(self, prefix: str) -> Tuple[List[Publication], int]:
        """The partial bars under `prefix`, oldest publication first, and the seq they are current at."""
        items = sorted((p for t, p in self._partials.items() if t.startswith(prefix)), key=lambda p: p.seq)
        return items, self.seq

    def forget_partials(self) -> None:
        self._partials.clear()


class RequestHandler:
    """Answers one client message (identity frame removed) with the frames to send back, in order.

    `status()` gives the `status` reply; `before_snapshot()` runs first on every snapshot (the service
    publishes its pending partial updates there, so the snapshot is as current as the builder).
    """

    def __init__(self, publisher: BarPublisher, status: Callable[[], Dict[str, Any]],
                 before_snapshot: Callable[[], None] = lambda: None, name: str = "koabus-bars",
                 heartbeat_ms: int = 1000):
        self.publisher = publisher
        self.status = status
        self.before_snapshot = before_snapshot
        self.name = name
        self.heartbeat_ms = heartbeat_ms
        self.requests = 0
        self.snapshots = 0
        self.refused = 0

    def handle(self, frames: Sequence[bytes]) -> List[List[bytes]]:
        try:
            msg = decode_client(frames)
        except ProtocolError as exc:
            rid = exc.details.get("request_id", 0)
            self.refused += 1
            return [encode_broker(ErrorReply.from_exception(rid if isinstance(rid, int) else 0, exc))]
        if isinstance(msg, Hello):
            return [encode_broker(self._welcome(msg))]
        if isinstance(msg, Ping):
            return [encode_broker(Pong(msg.request_id, self.publisher.epoch, self.publisher.seq))]
        if isinstance(msg, Request):
            self.requests += 1
            try:
                return [encode_broker(m) for m in self._answer(msg)]
            except KoabusError as exc:
                self.refused += 1
                return [encode_broker(ErrorReply.from_exception(msg.request_id, exc))]
        if isinstance(msg, (Cancel, Bye)):  # snapshots go out whole at once: nothing to stop or release
            return []
        return []

    def _welcome(self, msg: Hello) -> Any:
        common = sorted(set(msg.versions) & set(SUPPORTED_VERSIONS))
        if not common:
            exc = VersionMismatch("no common protocol version", details={"supported": list(SUPPORTED_VERSIONS)})
            return ErrorReply.from_exception(msg.request_id, exc)
        return Welcome(msg.request_id, common[-1], self.publisher.epoch, self.name, {"service": "bars", "ops": list(OPS)},
                       self.heartbeat_ms)

    def _answer(self, msg: Request) -> List[Any]:
        if msg.op == "status":
            return [Reply(msg.request_id, self.status())]
        if msg.op == "snapshot":
            prefix = msg.args.get("prefix", "bar.")
            if not isinstance(prefix, str):
                raise InvalidRequest("snapshot: prefix must be text")
            self.snapshots += 1
            self.before_snapshot()
            items, seq = self.publisher.snapshot(prefix)
            parts: List[Any] = [Part(msg.request_id, n, pub.to_dict()) for n, pub in enumerate(items)]
            return parts + [End(msg.request_id, len(items), {"epoch": self.publisher.epoch, "seq": seq})]
        raise InvalidRequest(f"the bars service answers {', '.join(OPS)}, not {msg.op!r}",
                             details={"ops": list(OPS)})
