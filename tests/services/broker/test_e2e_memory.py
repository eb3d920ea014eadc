"""Bounded memory under hostile clients, against a real broker subprocess at ~20,000 events/s (issue 9:
"One subscriber that stops reading grew the broker from 175 MB to 1.35 GB, never released; unread snapshot
replies did the same").

A SUB that never reads and a DEALER that keeps asking for snapshots and never reads the replies run for
15 s next to a fast subscriber. The broker's resident memory (read from /proc/<pid>/status) must grow
less than 250 MB above its steady state, stop growing, and stay under `limits.max_rss_mb` (512 MB here); the fast
subscriber gets every publication in order; the stalled one, once it reads again, sees the gap in the
sequence numbers.
"""
from __future__ import annotations

import multiprocessing
import queue
import sys
import time
from typing import Dict, List

import msgpack
import pytest
import zmq

from koabus.common.client import Client, ClientOptions
from koabus.common.protocol import Request, encode_client
from tests.services.broker.broker_proc import BrokerProc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")

RATE_EPS = 20_000
CODES = 40
HOSTILE_S = 15.0
SNAPSHOTS_PER_BATCH = 20  # every 50 ms: ~400 a second asked, whatever a pause really lasts
GROWTH_LIMIT_MB = 250
#: growth allowed in the second half of the hostile phase (the simulator's own queue of events not yet
#: delivered grows when the machine carries less than RATE_EPS: a few MB a second)
PLATEAU_MB = 60
MAX_RSS_MB = 512  # the bound (the broker's default without the simulator in the process)
#: publications past which a subscriber that never reads has certainly lost some: the broker's default
#: pub_hwm (20,000) plus its own RCVHWM and socket buffers, with room
STALL_OVERFLOW = 30_000


def proc_memory_mb(pid: int) -> Dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB."""
    out = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024.0
    return out


class SeqCounter:
    """Counts publications and checks `topic_seq` per topic: holes and anything out of order."""

    def __init__(self) -> None:
        self.count = 0
        self.gaps = 0
        self.out_of_order = 0
        self.last: Dict[bytes, int] = {}

    def note(self, frames: List[bytes]) -> None:
        topic_seq = msgpack.unpackb(frames[1])[4]
        previous = self.last.get(frames[0])
        if previous is not None:
            if topic_seq <= previous:
                self.out_of_order += 1
            elif topic_seq > previous + 1:
                self.gaps += topic_seq - previous - 1
        self.last[frames[0]] = topic_seq
        self.count += 1


def _read_fast(endpoint: str, ready, stop, out) -> None:
    """A subscriber process that reads everything under `rt.` as it comes, until `stop` (at most 120 s);
    puts its SeqCounter figures on `out` every 0.5 s and at the end."""
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 0)
    sub.connect(endpoint)
    sub.setsockopt(zmq.SUBSCRIBE, b"rt.")
    ready.set()
    seen = SeqCounter()
    deadline = time.monotonic() + 120
    next_report = 0.0
    while not stop.is_set() and time.monotonic() < deadline:
        if sub.poll(100):
            for _ in range(1000):
                try:
                    frames = sub.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    break
                seen.note(frames)
        if time.monotonic() >= next_report:
            next_report = time.monotonic() + 0.5
            out.put((seen.count, seen.gaps, seen.out_of_order))
    out.put((seen.count, seen.gaps, seen.out_of_order))
    sub.close(0)
    ctx.term()


class FastReader:
    """`_read_fast` in its own process (the test's own threads must not slow it down); `figures()` is
    the latest (count, gaps, out_of_order)."""

    def __init__(self, endpoint: str):
        mp = multiprocessing.get_context("spawn")
        self.stop = mp.Event()
        self.out = mp.Queue()
        ready = mp.Event()
        self.proc = mp.Process(target=_read_fast, args=(endpoint, ready, self.stop, self.out), daemon=True)
        self.proc.start()
        assert ready.wait(30), "the subscriber process did not start"
        self.latest = (0, 0, 0)

    def figures(self):
        while True:
            try:
                self.latest = self.out.get_nowait()
            except queue.Empty:
                return self.latest

    def close(self):
        self.stop.set()
        deadline = time.monotonic() + 10
        while self.proc.is_alive() and time.monotonic() < deadline:
            self.figures()
            self.proc.join(0.1)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        return self.figures()


@pytest.fixture
def loaded_broker(tmp_path):
    broker = BrokerProc(tmp_path, log_level="WARNING", client_lease_ms=120_000,
                        limits={"max_rss_mb": MAX_RSS_MB},
                        sim={"speed": 1.0, "config": {"synthetic_rate_eps": RATE_EPS, "events_per_tick": 20_000,
                                                      "tick_interval_ms": 15}}).start()
    try:
        with Client(broker.router, broker.pub,
                    options=ClientOptions(connect_timeout_s=30, timeout_s=30)) as client:
            assert client.EnsureConnected() == 0
            yield broker, client
    finally:
        broker.stop()


def _ask_snapshots(dealer, rid: int, count: int) -> int:
    """`count` snapshot requests (of every cached topic, never to be read) as fast as the DEALER takes
    them; returns the last request id. Sent in batches, not one per pause: on a starved machine a pause
    lasts far longer than asked, and the broker must still get enough requests to fill the queue."""
    for _ in range(count):
        rid += 1
        try:
            dealer.send_multipart(encode_client(Request(rid, "snapshot", {"prefix": "rt."})), zmq.NOBLOCK)
        except zmq.Again:  # the DEALER's own queue is full: the broker is behind, which is the point
            break
    return rid


def _steady_rss_mb(pid: int, seconds: float) -> float:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(proc_memory_mb(pid)["VmRSS"])
        time.sleep(0.2)
    return max(samples)


def test_stalled_subscriber_and_unread_snapshots_keep_the_broker_bounded(loaded_broker):
    broker, client = loaded_broker
    codes = client.GetCodeListByMarketAsList("0")[:CODES]
    ctx = zmq.Context()
    fast = FastReader(broker.pub)
    stalled = ctx.socket(zmq.SUB)
    dealer = ctx.socket(zmq.DEALER)
    try:
        time.sleep(0.5)  # the fast SUB's filter reaches the PUB
        client.request("subscribe", {"codes": codes, "types": ["trade"]})
        deadline = time.monotonic() + 60  # warm-up: the simulator builds every code's day first
        while fast.figures()[0] < 2_000 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert fast.figures()[0] >= 2_000, "the simulated stream did not start"
        baseline = _steady_rss_mb(broker.proc.pid, 2.0)

        for sock in (stalled, dealer):  # each takes in a little, then TCP backs up to the broker
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.RCVBUF, 64 * 1024)
        dealer.setsockopt(zmq.RCVHWM, 10)
        stalled.connect(broker.pub)
        stalled.setsockopt(zmq.SUBSCRIBE, b"rt.")
        dealer.connect(broker.router)
        fast_before = fast.figures()[0]
        samples = []  # (seconds into the hostile phase, VmRSS)
        rid = 0
        start = time.monotonic()
        end = start + HOSTILE_S
        next_sample = 0.0
        while time.monotonic() < end:
            rid = _ask_snapshots(dealer, rid, SNAPSHOTS_PER_BATCH)
            if time.monotonic() >= next_sample:
                next_sample = time.monotonic() + 0.25
                samples.append((time.monotonic() - start, proc_memory_mb(broker.proc.pid)["VmRSS"]))
            time.sleep(0.05)
        memory = proc_memory_mb(broker.proc.pid)
        samples.append((HOSTILE_S, memory["VmRSS"]))
        peak = max(rss for _, rss in samples)
        first_half = max(rss for t, rss in samples if t < HOSTILE_S / 2)
        status = client.request("status", timeout_s=10)  # still serving
        # the stalled subscriber can only lose what the broker sent past its queues (pub_hwm on the
        # broker's side, its own buffers); a starved machine may not have streamed that much within
        # HOSTILE_S: the stream runs on, bounded, until it has
        overflowed_by = time.monotonic() + 60
        while fast.figures()[0] - fast_before < STALL_OVERFLOW and time.monotonic() < overflowed_by:
            time.sleep(0.2)
        count, gaps, out_of_order = fast.close()

        assert peak - baseline < GROWTH_LIMIT_MB, f"grew from {baseline:.0f} MB to {peak:.0f} MB"
        # and it stopped growing: once the queues are full, nothing more piles up
        assert peak - first_half < PLATEAU_MB, f"{first_half:.0f} MB half way, then {peak:.0f} MB"
        assert memory["VmHWM"] < MAX_RSS_MB, memory
        assert status["connected"] is True
        # the client that never reads was served until its queue was full, then counted and held off;
        # on a starved machine the broker may need longer to fill its queues: keep asking, bounded
        settle = time.monotonic() + 30
        while time.monotonic() < settle and not (
                status["counters"].get("replies_blocked", 0) > 0
                and any(c["blocked"] > 0 and c["dropped"] > 0 for c in status["clients"])):
            for _ in range(20):
                rid = _ask_snapshots(dealer, rid, SNAPSHOTS_PER_BATCH)
                time.sleep(0.05)
            status = client.request("status", timeout_s=10)
        counters = status["counters"]
        assert counters.get("replies_blocked", 0) > 0, counters
        assert counters.get("snapshots_refused", 0) + counters.get("refused_congested", 0) > 0, counters
        assert any(c["blocked"] > 0 and c["dropped"] > 0 for c in status["clients"]), status["clients"]
        # the fast subscriber was not held back: everything, in order, no hole
        assert count - fast_before > 1_000, (count, fast_before)
        assert out_of_order == 0 and gaps == 0, (out_of_order, gaps)

        # the stalled subscriber lost what it could not take, and the sequence numbers show it
        slow = SeqCounter()
        drain_end = time.monotonic() + 10
        while time.monotonic() < drain_end and slow.gaps == 0:
            if stalled.poll(100):
                for _ in range(1000):
                    try:
                        slow.note(stalled.recv_multipart(zmq.NOBLOCK))
                    except zmq.Again:
                        break
        assert slow.count > 0 and slow.gaps > 0, (slow.count, slow.gaps)
    finally:
        fast.close()
        stalled.close(0)
        dealer.close(0)
        ctx.term()


#: what `koabus broker --speed 200` does to a 2-core machine: a market far faster than the broker carries
FAST_SPEED = 200.0
FAST_CODES = 300
FAST_SECONDS = 24.0
#: growth allowed between the run's middle and its end (unbounded, the simulator's queue grew ~50 MB/s here)
FAST_PLATEAU_MB = 120


def test_a_market_faster_than_the_broker_does_not_grow_memory_without_bound(tmp_path):
    """The simulated control queued every event its clock made, however far the broker fell behind: at
    --speed 200 with 300 codes on trade and quote the broker grew ~50 MB a second (3.4 GB in a minute).
    Bounded by default, the stream waits (and counts what it skips) instead of queueing. The codes' streams
    are built in the first tick (`stream_build_ms` 0), so their days' memory is in before the plateau is
    sampled: spread over ticks on a loaded machine, it was still coming in at the end (+124 MB in CI)."""
    broker = BrokerProc(tmp_path, log_level="WARNING",
                        sim={"speed": FAST_SPEED, "start": "2024-03-06T08:59:00+09:00",
                             "config": {"stream_build_ms": 0}}).start()
    try:
        with Client(broker.router, broker.pub, options=ClientOptions(connect_timeout_s=60, timeout_s=60)) as client:
            codes = client.GetCodeListByMarketAsList("0")[:FAST_CODES]
            client.request("subscribe", {"codes": codes, "types": ["trade", "quote"]})
            samples = []
            started = time.monotonic()
            while time.monotonic() - started < FAST_SECONDS:
                time.sleep(1.0)
                samples.append(proc_memory_mb(broker.proc.pid)["VmRSS"])
            status = client.request("status")
        middle, end = samples[len(samples) // 2], samples[-1]
        assert end - middle < FAST_PLATEAU_MB, samples
        assert status["seq"] > 10_000, status["seq"]  # the market did stream, fast
    finally:
        broker.stop()
