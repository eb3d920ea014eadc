"""A raw reader of the whole publication stream: frames at wire speed, only the envelope decoded.

For consumers that keep every message rather than look at each one (the recorder, a relay, a tap):
the body frame is passed on as bytes, never decoded here, so a reader costs a few microseconds a
message instead of the ~30 us of the AsyncClient's decoded publications. The envelope (the small
second frame, docs/protocol.md §4.1) is decoded and checked like `Publication.from_frames` does
(version, type, integer ranges); a malformed message is counted in `malformed` and skipped, never
trusted. The body is unchecked: decode it with `Publication.from_frames(raw.frames)` when needed.

    with Firehose("tcp://127.0.0.1:5571") as hose:          # prefixes=("",): everything
        while running:
            for raw in hose.recv_batch(10_000, timeout_ms=50):
                journal.append(raw.frames)                   # raw.seq, raw.topic_seq, ... for gap checks

Batched realtime (docs/protocol.md §4.3, §4.4): `Firehose(pub, ("rtb.",), batches=True)` opts in (or
`("rtp.",)` for positional batches); each `RTB` or `RTP` it returns holds many RT publications, which `koabus.common.protocol.batch.unbatch_frames(raw.frames)`
checks and unpacks. Without `batches=True` a Firehose skips batches (counted in `batches_skipped`): a
whole-stream reader (prefix "") would otherwise get every event twice when another consumer opted in.

A Firehose is a plain (blocking) SUB socket: make and use it in one thread. It does no handshake with
the broker (no HELLO, no snapshot, no gap events): the request side (registering realtime codes,
snapshots, reconnects) is the AsyncClient's, in its own thread, if the consumer needs one.
"""
from __future__ import annotations

import time
from typing import Any, List, NamedTuple, Optional, Sequence, Tuple

import msgpack
import zmq

from koabus.common.protocol.constants import SUPPORTED_VERSIONS, PubType
from koabus.common.protocol.publication import MAX_TOPIC_BYTES

from .options import CurveKeys

#: an envelope is 7 small items (~30 bytes); anything much larger is not one
MAX_ENVELOPE_BYTES = 256
DEFAULT_RCVHWM = 500_000
DEFAULT_RCVBUF = 8 << 20
_U63 = (1 << 63) - 1
_TYPES = frozenset(PubType.ALL)
_VERSIONS = frozenset(SUPPORTED_VERSIONS)
_BATCHES = frozenset(PubType.BATCHES)


class RawPublication(NamedTuple):
    """One publication as received: the frames untouched, the envelope's values decoded and checked.

    `received_ns` is this process's wall clock when the batch holding it was read.
    """

    topic: bytes
    frames: Tuple[bytes, bytes, bytes]
    epoch: int
    seq: int
    topic_seq: int
    event_ns: Optional[int]
    recv_ns: int
    type: str
    received_ns: int


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError("msgpack extension types are not allowed")


def parse(frames: Sequence[bytes], received_ns: int) -> Optional[RawPublication]:
    """A RawPublication of `[topic, envelope, body]`, or None when the frames are not a valid one."""
    if len(frames) != 3:
        return None
    topic, envelope, body = frames
    if not 0 < len(topic) <= MAX_TOPIC_BYTES or not topic.isascii() or not 0 < len(envelope) <= MAX_ENVELOPE_BYTES:
        return None
    try:
        env = msgpack.unpackb(envelope, raw=False, use_list=False, ext_hook=_no_ext, timestamp=0, max_ext_len=0)
    except Exception:  # msgpack raises several unrelated types for bad input
        return None
    if type(env) is not tuple or len(env) != 7:
        return None
    version, kind, epoch, seq, topic_seq, event_ns, recv_ns = env
    if version not in _VERSIONS or type(version) is not int or kind not in _TYPES:
        return None
    if (type(epoch) is not int or type(seq) is not int or type(topic_seq) is not int or type(recv_ns) is not int
            or not (0 <= epoch <= _U63 and 0 <= seq <= _U63 and 0 <= topic_seq <= _U63 and 0 <= recv_ns <= _U63)):
        return None
    if event_ns is not None and type(event_ns) is not int:
        return None
    return RawPublication(topic, (topic, envelope, body), epoch, seq, topic_seq, event_ns, recv_ns, kind,
                          received_ns)


class Firehose:
    """A SUB socket on `pub_endpoint` for the topic `prefixes`, read in batches of RawPublications.

    `rcvhwm` (messages) and `rcvbuf` (bytes) are large so a reader that pauses for a moment (a disk
    flush) loses nothing; what overflows them is lost by ZeroMQ and shows as a skip in `seq`.
    `curve`: CURVE client keys for a broker off this host (as ClientOptions.curve).
    """

    def __init__(self, pub_endpoint: str, prefixes: Sequence[str] = ("",), curve: Optional[CurveKeys] = None,
                 rcvhwm: int = DEFAULT_RCVHWM, rcvbuf: int = DEFAULT_RCVBUF, context: Optional[zmq.Context] = None,
                 batches: bool = False):
        self.endpoint = pub_endpoint
        self.prefixes = tuple(prefixes)
        #: return `RTB`/`RTP` batches (docs/protocol.md §4.3, §4.4); off, they are skipped and counted in
        #: `batches_skipped`
        self.batches = batches
        ctx = context if context is not None else zmq.Context.instance()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, rcvhwm)
        if rcvbuf > 0:
            sock.setsockopt(zmq.RCVBUF, rcvbuf)
        if curve is not None:
            curve.apply(sock)
        for prefix in self.prefixes:
            sock.setsockopt(zmq.SUBSCRIBE, prefix.encode("ascii"))
        sock.connect(pub_endpoint)
        self.socket = sock
        #: messages read that were not valid publications (skipped)
        self.malformed = 0
        #: valid publications returned
        self.received = 0
        #: RTB/RTP batches skipped: they repeat publications a whole-stream reader gets one by one anyway
        self.batches_skipped = 0

    def recv_batch(self, max_n: int = 10_000, timeout_ms: int = 100) -> List[RawPublication]:
        """Up to `max_n` publications: waits at most `timeout_ms` for the first, then takes only what
        is already queued. An empty list after the timeout."""
        sock = self.socket
        if not sock.poll(timeout_ms, zmq.POLLIN):
            return []
        out: List[RawPublication] = []
        append = out.append
        recv = sock.recv_multipart
        now = time.time_ns()
        bad = 0
        keep_batches = self.batches
        for _ in range(max_n):
            try:
                frames = recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            raw = parse(frames, now)
            if raw is None:
                bad += 1
            elif raw.type in _BATCHES and not keep_batches:
                self.batches_skipped += 1
            else:
                append(raw)
        self.malformed += bad
        self.received += len(out)
        return out

    def close(self) -> None:
        self.socket.close(0)

    def __enter__(self) -> Firehose:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
