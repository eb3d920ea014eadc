"""Clients in other languages next to the Python SDK, against one broker in one run (issue 14).

One broker on the simulated control (a child process on loopback) synthesises trades at a fixed
offered rate (`sim.config.synthetic_rate_eps`) over a few codes. Then, one after the other so they do
not share the CPU:
- the Python SDK: `AsyncClient.realtime(codes, "trade")` decoded events/s over a fixed window (what
  the SDK decoded into the stream: read by the loop, plus dropped or still queued when the reader fell
  behind; `consumed_per_s` is what the loop read), and the `status` round trip (median, p99);
- Node.js: clients/node/bench.js with KOABUS_ROUTER/KOABUS_PUB set, the same two figures from its
  `Subscriber` and `Client` (plus its in-process decode rate and a local-PUB blast, for reference).
Each window also reports what the broker published in it (the `seq` delta of `status`), so a
subscriber that kept up is told from one that could not. The ratios are Node / Python.

Needs `node` (18+) and `npm` (deploy/install-test-tools.sh; `make bench` runs it): clients/node's packages
are installed by `npm ci` from the lockfile when missing (bench/_node.py, as tests/clients/test_node.py does).

    python -m bench clients          # with the bench runner (results in bench/results/)
    python -m bench.bench_clients    # alone, prints JSON
"""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from typing import Any, Dict, List

from bench._broker import BenchBroker
from bench._node import NODE_DIR, node_with_packages

NAME = "clients"
OFFERED_EPS = 30_000
CODES = ["005930", "000660", "035420", "005380", "051910", "006400", "035720", "068270"]
WINDOW_S = 5.0
WARMUP_S = 3.0  # past the burst the simulator releases when the codes are first registered
REQUESTS = 1000
SIM_START = "2025-06-02T09:05:00+09:00"


def node_command() -> List[str]:
    """`node bench.js`, its packages installed first when missing (NodeUnavailable says what to install)."""
    return [node_with_packages(), str(NODE_DIR / "bench.js")]


class _Broker(BenchBroker):
    """The broker on the simulated control with a synthetic trade stream, in a child process."""

    def __init__(self, offered_eps: float):
        super().__init__({"sim": {"speed": 1.0, "start": SIM_START,
                                  "config": {"synthetic_rate_eps": offered_eps, "events_per_tick": 20000}}},
                         prefix="koabus-bench-clients-")


def _pct(values: List[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100.0))]


async def _connected(router: str, pub: str) -> Any:
    """An AsyncClient entered, retried while the broker starts."""
    from koabus.common.client import AsyncClient, ClientOptions

    deadline = time.monotonic() + 30
    while True:
        try:
            client = AsyncClient(router, pub, options=ClientOptions(connect_timeout_s=2, timeout_s=60))
            await client.__aenter__()
            return client
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def _python_sub(router: str, pub: str, window_s: float) -> Dict[str, Any]:
    """Decoded realtime events/s of the SDK over `window_s`, and the broker's count of what it published
    from before the window to after it (`status.seq`; a subscriber that falls behind gets the second
    answer late, so this rate is a lower bound there)."""
    client = await _connected(router, pub)
    try:
        window = {"start": float("inf"), "end": float("inf"), "n": 0}

        async def consume(stream: Any) -> None:
            async for _ in stream:  # counted by wall clock: a busy loop must not stretch the window
                if window["start"] <= time.perf_counter() < window["end"]:
                    window["n"] += 1

        stream = client.realtime(CODES, "trade", snapshot=False)
        await stream.start()
        reader = asyncio.ensure_future(consume(stream))
        await asyncio.sleep(WARMUP_S)
        t0 = time.perf_counter()
        before = await client.status()
        # decoded = consumed + what the stream dropped (consumer behind) + what it still holds
        held0 = stream.dropped + stream._queue.qsize()
        window["start"] = time.perf_counter()
        window["end"] = window["start"] + window_s
        while time.perf_counter() < window["end"]:
            await asyncio.sleep(0.05)
        held1 = stream.dropped + stream._queue.qsize()
        after = await client.status()
        seq_s = time.perf_counter() - t0  # the span between the two status seqs, at most
        reader.cancel()
        await stream.close()
        published = after["seq"] - before["seq"]
        decoded = window["n"] + held1 - held0
        return {"events": decoded, "seconds": window_s, "events_per_s": round(decoded / window_s),
                "consumed_per_s": round(window["n"] / window_s), "stream_dropped": stream.dropped,
                "published": published, "published_per_s": round(published / seq_s)}
    finally:
        await client.__aexit__(None, None, None)


async def _python_rtt(router: str, pub: str, requests: int) -> Dict[str, Any]:
    """The `status` round trip of a fresh AsyncClient (no backlog of the subscriber run)."""
    client = await _connected(router, pub)
    try:
        times = []
        for _ in range(requests):
            t = time.perf_counter()
            await client.status()
            times.append((time.perf_counter() - t) * 1e6)
        return {"requests": requests, "median_us": round(_pct(times, 50)), "p99_us": round(_pct(times, 99))}
    finally:
        await client.__aexit__(None, None, None)


async def _python_figures(router: str, pub: str, window_s: float, requests: int) -> Dict[str, Any]:
    sub = await _python_sub(router, pub, window_s)
    return {"sub": sub, "request_round_trip": await _python_rtt(router, pub, requests)}


def _node_figures(command: List[str], router: str, pub: str, window_s: float, requests: int) -> Dict[str, Any]:
    env = dict(os.environ, KOABUS_ROUTER=router, KOABUS_PUB=pub, KOABUS_CODES=",".join(CODES))
    args = command + ["--seconds", str(window_s), "--requests", str(requests), "--events", "100000"]
    done = subprocess.run(args, cwd=str(NODE_DIR), env=env, capture_output=True, text=True,
                          timeout=window_s + 120)
    if done.returncode != 0:
        raise RuntimeError(f"node bench.js failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout)


def _ratio(a: float, b: float) -> Any:
    return round(a / b, 2) if b else None


def run(offered_eps: float = OFFERED_EPS, window_s: float = WINDOW_S, requests: int = REQUESTS) -> Dict[str, Any]:
    command = node_command()  # before the broker starts: a missing toolchain fails at once
    broker = _Broker(offered_eps)
    try:
        python = asyncio.run(_python_figures(broker.router, broker.pub, window_s, requests))
        node = _node_figures(command, broker.router, broker.pub, window_s, requests)
    finally:
        broker.stop()
    node_sub, node_rtt = node["broker_sub"], node["request_round_trip"]
    py_sub, py_rtt = python["sub"], python["request_round_trip"]
    return {
        "offered_eps": offered_eps, "codes": len(CODES), "window_s": window_s,
        "python": python, "node": node,
        "summary": {
            "python_sdk_events_per_s": py_sub["events_per_s"],
            "node_events_per_s": node_sub["events_per_s"],
            "published_per_s_python_window": py_sub["published_per_s"],
            "published_per_s_node_window": node_sub["published_per_s"],
            "node_to_python_events_ratio": _ratio(node_sub["events_per_s"], py_sub["events_per_s"]),
            # a subscriber that kept up is limited by the offered rate: its figure is a lower bound
            "python_kept_up": py_sub["events_per_s"] >= 0.95 * py_sub["published_per_s"],
            "node_kept_up": node_sub["events_per_s"] >= 0.95 * node_sub["published_per_s"],
            "python_rtt_median_us": py_rtt["median_us"], "python_rtt_p99_us": py_rtt["p99_us"],
            "node_rtt_median_us": node_rtt["median_us"], "node_rtt_p99_us": node_rtt["p99_us"],
            "node_to_python_rtt_median_ratio": _ratio(node_rtt["median_us"], py_rtt["median_us"]),
            "node_to_python_rtt_p99_ratio": _ratio(node_rtt["p99_us"], py_rtt["p99_us"]),
            "node_decode_in_process_eps": node["decode"]["events_per_s"],
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
