"""The bare pyzmq peers, each its own process on 127.0.0.1: a ROUTER echo and a paced PUB.

    python -m bench.peers.bare echo --port P
    python -m bench.peers.bare pub --port P --rate-eps R

`echo` sends every message back as it came (the floor under any DEALER/ROUTER request). `pub` sends the
broker's realtime frames (topic, the 7-item envelope, the typed 주식체결 body of bench_broker's
`_sample_body`), envelope and body packed per message as the broker packs them, at `rate-eps` in 15 ms
ticks (the simulator's cadence), over the same codes round robin; `recv_ns` in the envelope is the send
time. It starts on a `start` line on stdin and stops on `stop`; both print `READY` once bound, and end
when stdin closes.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, List

import msgpack
import zmq

TICK_S = 0.015


def _stdin_lines(poller: zmq.Poller, timeout_ms: int) -> List[str]:
    """Lines waiting on stdin (["quit"] at end of file), polled together with the sockets."""
    ready = dict(poller.poll(timeout_ms))
    if sys.stdin.fileno() not in ready:
        return []
    line = sys.stdin.readline()
    return [line.strip()] if line else ["quit"]


def echo(port: int) -> int:
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(f"tcp://127.0.0.1:{port}")
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    print("READY", flush=True)
    while True:
        ready = dict(poller.poll(1000))
        if router in ready:
            router.send_multipart(router.recv_multipart())
        if sys.stdin.fileno() in ready and not sys.stdin.readline():
            break
    router.close(0)
    ctx.term()
    return 0


def publish(port: int, rate_eps: float, codes: List[str], body: Any) -> int:
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 0)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(f"tcp://127.0.0.1:{port}")
    poller = zmq.Poller()
    poller.register(sys.stdin.fileno(), zmq.POLLIN)
    print("READY", flush=True)
    topics = [f"rt.trade.{code}".encode() for code in codes]
    topic_seq = [0] * len(topics)
    seq = sent = 0
    started = None
    while True:
        for line in _stdin_lines(poller, int(TICK_S * 1000) if started is not None else 1000):
            if line == "start":
                started, sent = time.monotonic(), 0
            elif line == "stop":
                started = None
            elif line == "quit":
                pub.close(0)
                ctx.term()
                return 0
        if started is None:
            continue
        due = int((time.monotonic() - started) * rate_eps) - sent
        for _ in range(max(0, due)):
            i = seq % len(topics)
            seq += 1
            topic_seq[i] += 1
            now = time.time_ns()
            env = msgpack.packb([1, "RT", 1, seq, topic_seq[i], now, now])
            pub.send_multipart([topics[i], env, msgpack.packb(body, use_bin_type=True)])
        sent += max(0, due)


def main(argv: Any = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("echo", "pub"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-eps", type=float, default=1000.0)
    parser.add_argument("--codes", default="005930,000660,035420,051910,006400,035720,068270,005380")
    opts = parser.parse_args(argv)
    if opts.mode == "echo":
        return echo(opts.port)
    from bench.bench_broker import _sample_body

    return publish(opts.port, opts.rate_eps, opts.codes.split(","), _sample_body())


if __name__ == "__main__":
    sys.exit(main())
