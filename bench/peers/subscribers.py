"""The subscriber processes of the fan-out comparison: a ZeroMQ SUB (koabus broker, bare PUB) and a gRPC
`Listen` stream (the KOAPY-style peer), with one way of counting.

Each decodes every message fully (msgpack envelope and body; the protobuf ListenResponse, which grpc
parses before handing it over), stamps its arrival with time.time_ns(), and keeps (arrival, latency)
for every event; latency is arrival minus the server's stamp of when the event reached its handler
(the broker's `recv_ns`; the peer's fourth argument; the bare PUB's send time). After the run the parent
writes the measuring window [t0, t1) into `window` and each subscriber reports what arrived inside it.
Every loop ends by a deadline (`max_s`) at the latest.
"""

from __future__ import annotations

import threading
import time
from array import array
from typing import Any, Callable, Dict, List

import msgpack
import zmq

from bench._broker import reading_sub

#: a ZeroMQ subscriber ends once `stop` is set and nothing arrived for this long (drained)
DRAIN_IDLE_S = 0.3


def _report(arrivals: array, latencies: array, window: Any, received: int, **extra: Any) -> Dict[str, Any]:
    t0, t1 = window[0], window[1]
    kept = [lat / 1000.0 for at, lat in zip(arrivals, latencies) if t0 <= at < t1]
    return {"received": received, "in_window": len(kept), "latencies_us": kept, **extra}


class _Tally:
    """Arrivals, latencies and per-topic topic_seq gaps of the events one subscriber received."""

    def __init__(self) -> None:
        self.arrivals, self.latencies = array("q"), array("q")
        self.last: Dict[Any, int] = {}
        self.gaps = self.received = 0

    def event(self, topic: Any, env: Any, now: int) -> None:
        self.received += 1
        self.arrivals.append(now)
        self.latencies.append(now - env[6])
        previous = self.last.get(topic)
        if previous is not None and env[4] != previous + 1:
            self.gaps += env[4] - previous - 1
        self.last[topic] = env[4]

    def report(self, window: Any, **extra: Any) -> Dict[str, Any]:
        return _report(self.arrivals, self.latencies, window, self.received, gaps=self.gaps, **extra)


def _read_until_drained(endpoint: str, prefix: bytes, ready: Any, stop: Any, max_s: float,
                        on_message: Callable[[List[bytes], int], None]) -> None:
    """A SUB on `prefix` handing every message and its arrival time to `on_message`, until `stop` is set
    and nothing arrived for DRAIN_IDLE_S, or `max_s` passed."""
    ctx = zmq.Context()
    sub = reading_sub(ctx, endpoint, prefix)
    ready.set()
    idle_since = None
    deadline = time.monotonic() + max_s
    while time.monotonic() < deadline:
        if not sub.poll(50):
            if stop.is_set():
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= DRAIN_IDLE_S:
                    break
            continue
        idle_since = None
        frames = sub.recv_multipart()
        on_message(frames, time.time_ns())
    sub.close(0)
    ctx.term()


def zmq_subscriber(
    endpoint: str, prefix: bytes, ready: Any, stop: Any, window: Any, out: Any, max_s: float
) -> None:
    """A SUB on `prefix`: counts every RT publication, its topic_seq gaps, and its latency."""
    tally = _Tally()

    def on_message(frames: List[bytes], now: int) -> None:
        topic, env_bytes, body_bytes = frames
        env = msgpack.unpackb(env_bytes)
        msgpack.unpackb(body_bytes)  # decoded as any consumer must
        tally.event(topic, env, now)

    _read_until_drained(endpoint, prefix, ready, stop, max_s, on_message)
    out.put(tally.report(window))


def zmq_batch_subscriber(
    endpoint: str, prefix: bytes, ready: Any, stop: Any, window: Any, out: Any, max_s: float
) -> None:
    """A SUB on a batch prefix (`rtb.trade`, docs/protocol.md §4.3, or positional `rtp.trade`, §4.4): decodes
    every batch whole and counts each RT publication inside it like `zmq_subscriber` counts single ones
    (topic_seq gaps, latency). Items are [topic, envelope, body] or [topic, envelope, code, values]."""
    tally = _Tally()
    batches = [0]

    def on_message(frames: List[bytes], now: int) -> None:
        _topic, env_bytes, body_bytes = frames
        msgpack.unpackb(env_bytes)
        batches[0] += 1
        for item in msgpack.unpackb(body_bytes)["events"]:
            tally.event(item[0], item[1], now)

    _read_until_drained(endpoint, prefix, ready, stop, max_s, on_message)
    out.put(tally.report(window, batches=batches[0]))


def grpc_subscriber(
    target: str, ready: Any, stop: Any, window: Any, out: Any, max_s: float, check: bool = False
) -> None:
    """One `Listen` stream up to the stop marker; with `check`, the CRC of what arrived
    (grpc_server.event_crc)."""
    import grpc

    from .grpc_server import STOP, event_crc
    from .messages import ListenRequest, Stub

    channel = grpc.insecure_channel(target)
    call = Stub(channel).Listen(ListenRequest(), timeout=max_s)
    timer = threading.Timer(max_s, call.cancel)
    timer.daemon = True
    timer.start()
    call.initial_metadata()  # the server sends it once this stream's handler is connected
    ready.set()
    arrivals, latencies = array("q"), array("q")
    received = crc = 0
    ended = False
    try:
        for response in call:
            now = time.time_ns()
            if response.name == STOP:
                ended = True
                break
            args = response.arguments
            received += 1
            arrivals.append(now)
            latencies.append(now - args[3].long_value)
            if check:
                crc = event_crc(crc, args[0].string_value, args[1].string_value, args[2].string_value)
    except grpc.RpcError:
        pass  # cancelled at the deadline: reported as not `ended`
    timer.cancel()
    channel.close()
    out.put(_report(arrivals, latencies, window, received, crc=crc, ended=ended))
