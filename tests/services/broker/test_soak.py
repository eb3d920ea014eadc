"""Soak (make soak, not make test): a whole virtual trading day through the real broker process on the
simulated control, four subscribers on a few dozen codes; no gaps, steady heartbeats, bounded queues."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import msgpack
import pytest
import zmq

from koabus.common.clock import KST
from koabus.common.protocol import Request, decode_broker, encode_client
from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
DAY_START = datetime(2024, 3, 6, 8, 30, tzinfo=KST)  # a Wednesday: pre-open auction ...
DAY_END = datetime(2024, 3, 6, 15, 45, tzinfo=KST)  # ... to after the close
SPEED = 250.0  # virtual seconds per wall second: the day takes ~105 s
CODES = 40
SUBSCRIBERS = 4
_RUNNER = (
    "import sys, logging\n"
    "logging.basicConfig(level='WARNING')\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    # a tenth of the realistic prints: at 250x a real day of 40 codes is ~1,000,000 events a wall minute
    "sim = {'speed': float(sys.argv[3]), 'start': sys.argv[4], 'config': {'market_config': {'trade_intensity': 0.1}}}\n"
    "overrides = {'router': sys.argv[1], 'pub': sys.argv[2], 'sim': sim, 'state_dir': sys.argv[5]}\n"
    "sys.exit(run(load_settings(None, overrides)))\n"
)


class Subscribers(threading.Thread):
    """SUB sockets made and read in this thread; per socket and topic, every topic_seq must follow the last."""

    def __init__(self, endpoint: str, count: int):
        super().__init__(name="soak-subscribers", daemon=True)
        self.endpoint = endpoint
        self.count = count
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.received = [0] * count
        self.gaps = []  # (socket, topic, expected, got)
        self.epochs = set()
        self.heartbeats = [[] for _ in range(count)]  # wall time of each sys.hb per socket
        self.trade_event_ns = [None, None]  # first and last exchange time of a trade
        self.open_event_ns = None  # the first trade at or after 09:00 (the pre-market prints come before it)

    def run(self) -> None:
        ctx = zmq.Context.instance()
        socks = []
        try:
            for _ in range(self.count):
                s = ctx.socket(zmq.SUB)
                s.setsockopt(zmq.LINGER, 0)
                s.setsockopt(zmq.RCVHWM, 0)
                s.setsockopt(zmq.SUBSCRIBE, b"rt.")
                s.setsockopt(zmq.SUBSCRIBE, b"sys.hb")
                s.connect(self.endpoint)
                socks.append(s)
            poller = zmq.Poller()
            for s in socks:
                poller.register(s, zmq.POLLIN)
            last = [dict() for _ in socks]
            while not self.stop_event.is_set():
                for sock, _ in poller.poll(100):
                    i = socks.index(sock)
                    for _ in range(1000):
                        try:
                            topic, envelope, _body = sock.recv_multipart(zmq.NOBLOCK)
                        except zmq.Again:
                            break
                        self._on_message(i, last[i], topic, envelope)
                if all(self.heartbeats):
                    self.ready.set()
        finally:
            for s in socks:
                s.close(0)

    def _on_message(self, i, last, topic, envelope) -> None:
        _v, _kind, epoch, _seq, topic_seq, event_ns, _recv = msgpack.unpackb(envelope)
        self.received[i] += 1
        self.epochs.add(epoch)
        previous = last.get(topic)
        if previous is not None and topic_seq != previous + 1:
            self.gaps.append((i, topic, previous + 1, topic_seq))
        last[topic] = topic_seq
        if topic == b"sys.hb":
            self.heartbeats[i].append(time.monotonic())
        elif topic.startswith(b"rt.trade.") and event_ns:
            first, _ = self.trade_event_ns
            self.trade_event_ns = [first or event_ns, event_ns]
            if self.open_event_ns is None and datetime.fromtimestamp(event_ns / 1e9, KST).hour >= 9:
                self.open_event_ns = event_ns


class Requests:
    def __init__(self, endpoint: str):
        self.dealer = zmq.Context.instance().socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        self.dealer.connect(endpoint)
        self.rid = 0

    def result(self, op, args=None, timeout_s=10.0):
        self.rid += 1
        self.dealer.send_multipart(encode_client(Request(self.rid, op, args or {})))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.dealer.poll(100):
                msg = decode_broker(self.dealer.recv_multipart())
                if msg.request_id == self.rid and msg.TYPE in ("REPLY", "ERROR"):
                    assert msg.TYPE == "REPLY", msg
                    return msg.result
        raise AssertionError(f"no answer to {op} within {timeout_s} s")

    def close(self):
        self.dealer.close(0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_whole_trading_day_without_gaps(tmp_path):
    router, pub = f"tcp://127.0.0.1:{free_tcp_port()}", f"tcp://127.0.0.1:{free_tcp_port()}"
    log_path = tmp_path / "broker.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-c", _RUNNER, router, pub, str(SPEED), DAY_START.isoformat(),
                                 str(tmp_path / "state")],  # its journal and simulated account, not the repo's
                                cwd=str(REPO), env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
                                stdout=subprocess.DEVNULL, stderr=log)
    subs = Subscribers(pub, SUBSCRIBERS)
    req = None
    try:
        req = Requests(router)
        assert req.result("status", timeout_s=30)["connected"], log_path.read_text()[-2000:]
        subs.start()
        assert subs.ready.wait(10), "every subscriber hears the heartbeat before the day starts"
        listing = req.result("call", {"method": "GetCodeListByMarket", "args": ["0"]})
        codes = [c for c in listing.split(";") if c][:CODES]
        assert len(codes) == CODES
        req.result("subscribe", {"codes": codes, "types": ["trade", "quote"]})
        started = time.monotonic()
        day_wall_s = (DAY_END - DAY_START).total_seconds() / SPEED
        max_queue = {"inbox": 0, "outbox": 0, "pacer": 0}
        while time.monotonic() - started < day_wall_s:
            time.sleep(5.0)  # the status polls also keep this client's lease alive
            status = req.result("status")
            queues = status["queues"]
            max_queue["inbox"] = max(max_queue["inbox"], queues["inbox"])
            max_queue["outbox"] = max(max_queue["outbox"], queues["outbox"])
            max_queue["pacer"] = max(max_queue["pacer"], sum(queues["pacer"].values()))
            assert status["connected"], status["state"]
            assert status["counters"].get("outbox_dropped", 0) == 0
            assert proc.poll() is None, log_path.read_text()[-2000:]
        elapsed = time.monotonic() - started
        final = req.result("status")
        subs.stop_event.set()
        subs.join(5)
        assert final["connected"] and final["state"] == "connected" and final["realtime"]["codes"] == CODES
        assert final["counters"].get("handler_errors", 0) == 0 and final["counters"].get("outbox_dropped", 0) == 0
        assert not subs.gaps, subs.gaps[:10]
        assert len(subs.epochs) == 1
        assert min(subs.received) > 10_000 and max(subs.received) - min(subs.received) < 0.01 * max(subs.received)
        # a heartbeat every wall second, to every subscriber, all day
        for beats in subs.heartbeats:
            intervals = [b - a for a, b in zip(beats, beats[1:])]
            assert len(beats) >= elapsed - 3, (len(beats), elapsed)
            assert max(intervals) < 2.5, max(intervals)
        # bounded broker-side queues (the broker kept up with the market at this speed)
        assert max_queue["inbox"] < 1000 and max_queue["outbox"] < 50_000 and max_queue["pacer"] == 0, max_queue
        first_ns, last_ns = subs.trade_event_ns
        first = datetime.fromtimestamp(first_ns / 1e9, KST)
        last = datetime.fromtimestamp(last_ns / 1e9, KST)
        opened = datetime.fromtimestamp(subs.open_event_ns / 1e9, KST)
        assert (8, 30) <= (first.hour, first.minute) and first <= opened, first  # pre-market prints (08:30-08:40)
        assert opened.hour == 9 and opened.minute < 5, opened  # ... trading from the open ...
        assert (last.hour, last.minute) >= (15, 20), last  # ... to the closing auction
    finally:
        subs.stop_event.set()
        if subs.is_alive():
            subs.join(5)
        if req is not None:
            req.close()
        stop_process(proc, grace_s=15)
