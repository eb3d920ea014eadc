"""A service's own PUB: its heartbeats and its publications, numbered in the service's own epoch.

Every service but the broker publishes on a PUB of its own (its `status` endpoint): `sys.hb.<service>`
heartbeats, so `koabus ps` and alerting see it, and whatever it produces (`alert.*`, `bar.*`,
`strat.<name>.*`). Those are never the broker's stream, so they carry their own epoch (random per
process: a subscriber sees a restart) with `seq` over all of them and `topic_seq` per topic, the
same envelope as the broker's, so the SDK's gap checks work on them unchanged.

`StatusPublisher` numbers and sends; without a `send` it only numbers (a sans-I/O core hands the
frames to its own socket).
"""
from __future__ import annotations

import secrets
import time
from typing import Any, Callable, Dict, List, Optional

import zmq

from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.common.heartbeat import topic as hb_topic
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType

Send = Callable[[List[bytes]], bool]


def bind_pub(context: Any, endpoint: str, sndhwm: Optional[int] = None) -> Any:
    """A PUB bound at `endpoint` (LINGER 0: a stopping service never waits for slow subscribers)."""
    sock = context.socket(zmq.PUB)
    sock.setsockopt(zmq.LINGER, 0)
    if sndhwm is not None:
        sock.setsockopt(zmq.SNDHWM, sndhwm)
    try:
        sock.bind(endpoint)
    except zmq.ZMQError:
        sock.close(0)
        raise
    return sock


def socket_sender(sock: Any) -> Send:
    """Send without blocking; False when ZeroMQ refused (the publication is counted as dropped)."""

    def send(frames: List[bytes]) -> bool:
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.ZMQError:
            return False

    return send


class StatusPublisher:
    """The service's own publications: `publish` numbers and sends one, `beat` the heartbeat.

    The heartbeat body is `ServiceBeat.body` plus `name`, `epoch` and `seq` (the seq the beat itself
    gets: a subscriber compares it with what it heard) and the service's own fields.
    """

    def __init__(self, send: Optional[Send], service: str, name: str, heartbeat: Optional[ServiceBeat] = None,
                 *, epoch: Optional[int] = None):
        self._send = send
        self.service = service
        self.name = name
        self.heartbeat = heartbeat or ServiceBeat(Identity.here(service))
        self.epoch = secrets.randbits(63) if epoch is None else epoch
        self.seq = 0
        self._topic_seq: Dict[str, int] = {}
        #: publications ZeroMQ refused
        self.dropped = 0
        #: the bound socket when `bind` made it (closed by `close`)
        self.socket: Any = None

    @classmethod
    def bind(cls, context: Any, endpoint: str, service: str, name: str, heartbeat: ServiceBeat, *,
             sndhwm: Optional[int] = None) -> StatusPublisher:
        """Bind the status PUB at `endpoint` and publish on it."""
        sock = bind_pub(context, endpoint, sndhwm)
        publisher = cls(socket_sender(sock), service, name, heartbeat)
        publisher.socket = sock
        return publisher

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(0)
            self.socket = None

    def publish(self, topic: str, kind: str, body: Dict[str, Any], event_ns: Optional[int] = None,
                now_ns: Optional[int] = None) -> Publication:
        """Number `body` as the next publication on `topic` and send it; returns what was sent."""
        self.seq += 1
        topic_seq = self._topic_seq[topic] = self._topic_seq.get(topic, 0) + 1
        pub = Publication(topic, kind, self.epoch, self.seq, topic_seq, event_ns,
                          time.time_ns() if now_ns is None else now_ns, body)
        if self._send is not None and not self._send(pub.to_frames()):
            self.dropped += 1
        return pub

    def beat_body(self, state: str, lag_s: Optional[float] = None, now_s: Optional[float] = None,
                  **extra: Any) -> Dict[str, Any]:
        return self.heartbeat.body(state, lag_s, now_s, name=self.name, epoch=self.epoch, seq=self.seq + 1,
                                   **extra)

    def beat(self, state: str, lag_s: Optional[float] = None, now_s: Optional[float] = None,
             **extra: Any) -> Publication:
        """Publish the heartbeat `sys.hb.<service>` (`now_s`: the clock it is stamped with, for tests)."""
        body = self.beat_body(state, lag_s, now_s, **extra)
        return self.publish(hb_topic(self.service), PubType.HEARTBEAT, body, None,
                            None if now_s is None else int(now_s * 1e9))
