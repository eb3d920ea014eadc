"""Per-client bounds on the I/O thread (issue 9: "unread snapshot replies" grew the broker; "bounded snapshot
requests per client") and the broker's total memory bound, with real sockets and real memory.

A client that asks for snapshots and reads nothing has at most `limits.snapshots_in_flight` of them
in progress, gets Overloaded for the rest, is counted, and has them abandoned after
`limits.stall_timeout_s`; other clients are served meanwhile. Above its shedding mark the broker
refuses snapshots and subscriptions (still answering status, also to new clients), and takes them again
once memory is back down.
"""
from __future__ import annotations

import sys
import time

import pytest
import zmq

from koabus.common.protocol import Request, decode_broker, encode_client
from koabus.services.broker.memory import rss_reader
from tests.helpers import pump_until
from tests.services.broker.conftest import start_stack

MB = 1024 * 1024


def _lvc(stack, codes, at_least):
    c = stack.client("feeder")
    c.result("subscribe", {"codes": codes, "types": ["trade"]}, timeout_s=30)
    deadline = time.monotonic() + 30
    while stack.broker.server.sequencer.cached_topics() < at_least and time.monotonic() < deadline:
        stack.advance(5.0)
    assert stack.broker.server.sequencer.cached_topics() >= at_least
    return c


HOSTILE = b"hostile-0123456789abcdef"


def test_a_client_that_reads_nothing_is_bounded_and_the_others_are_served(qapp):
    stack = start_stack(qapp, limits={"stall_timeout_s": 1.0}, client_lease_ms=120_000)
    ctx = zmq.Context()
    hostile = ctx.socket(zmq.DEALER)
    try:
        probe = stack.client("probe")
        codes = probe.result("call", {"method": "GetCodeListByMarket", "args": ["0"]}).split(";")[:120]
        _lvc(stack, [c for c in codes if c], 100)
        server = stack.broker.server
        limits = stack.broker.settings.limits

        hostile.setsockopt(zmq.LINGER, 0)
        hostile.setsockopt(zmq.ROUTING_ID, HOSTILE)
        hostile.setsockopt(zmq.RCVHWM, 1)
        hostile.setsockopt(zmq.RCVBUF, 32 * 1024)
        hostile.connect(stack.broker.router_endpoint)
        most_in_progress = rid = 0
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # a snapshot request every few ms, never a read
            rid += 1
            hostile.send_multipart(encode_client(Request(rid, "snapshot", {"prefix": "rt."})))
            stack.app.processEvents()
            time.sleep(0.003)
            info = server.clients.get(HOSTILE)
            if info is not None:
                most_in_progress = max(most_in_progress, len(info.snapshots))
            if rid % 50 == 0:
                t0 = time.monotonic()
                assert probe.result("status", timeout_s=2.0)["connected"] is True  # others are served
                assert time.monotonic() - t0 < 2.0
            if server.counters["snapshots_abandoned"] and server.counters["refused_congested"]:
                break
        assert pump_until(stack.app, lambda: not server.clients[HOSTILE].snapshots, 5.0)
        info = server.clients.get(HOSTILE)
        assert info is not None
        assert 1 <= most_in_progress <= limits.snapshots_in_flight, most_in_progress
        assert server.counters["snapshots_refused"] > 0 and server.counters["replies_blocked"] > 0
        assert server.counters["snapshots_abandoned"] >= 1 and not info.snapshots
        assert info.blocked > 0 and info.dropped > 0
        entries = [c for c in server.status()["clients"] if c["blocked"]]
        assert [(c["blocked"], c["snapshots"]) for c in entries] == [(info.blocked, 0)]

        # what it does get when it finally reads: whole parts in order, and typed errors for the rest
        got = {}
        end = time.monotonic() + 20  # a bound; it stops at the first quiet second once the errors came
        quiet_since = time.monotonic()
        while time.monotonic() < end:
            stack.app.processEvents()
            if not hostile.poll(20):
                errors = any(m.TYPE == "ERROR" for msgs in got.values() for m in msgs)
                if errors and time.monotonic() - quiet_since > 1.0:
                    break
                continue
            while hostile.poll(0):  # drain what is there: one message per Qt turn is slow under load
                msg = decode_broker(hostile.recv_multipart())
                got.setdefault(msg.request_id, []).append(msg)
            quiet_since = time.monotonic()
        kinds = {m.kind for msgs in got.values() for m in msgs if m.TYPE == "ERROR"}
        assert "Overloaded" in kinds, kinds
        for msgs in got.values():
            parts = [m.n for m in msgs if m.TYPE == "PART"]
            assert parts == list(range(len(parts)))
    finally:
        hostile.close(0)
        ctx.term()
        stack.close()


@pytest.mark.skipif(rss_reader() is None, reason="this platform's memory cannot be read")
def test_short_of_memory_the_broker_sheds_and_recovers(qapp):
    read = rss_reader()
    now_mb = read() / MB
    limit_mb = int((now_mb + 150) / 0.8) + 1  # sheds 150 MB above what this process holds now
    stack = start_stack(qapp, limits={"max_rss_mb": limit_mb, "shed_fraction": 0.8})
    try:
        server = stack.broker.server
        existing = stack.client("existing")
        existing.result("status")
        ballast = bytearray(b"\x01") * (300 * MB)  # real, touched pages
        assert pump_until(stack.app, lambda: server.memory.shedding, 5.0), server.memory.status()
        final, _ = existing.call("snapshot", {"prefix": "rt."})
        assert final.TYPE == "ERROR" and final.kind == "Overloaded", final
        final, _ = existing.call("subscribe", {"codes": ["005930"], "types": ["trade"]})
        assert final.TYPE == "ERROR" and final.kind == "Overloaded", final
        status = existing.result("status")  # what keeps a client informed still works
        assert status["memory"]["shedding"] is True and status["memory"]["rss_mb"] > status["memory"]["shed_mb"]
        newcomer = stack.client("newcomer")  # `koabus status` must still get in
        assert newcomer.result("status")["memory"]["shedding"] is True
        assert server.outbox.shedding is True

        del ballast
        assert pump_until(stack.app, lambda: not server.memory.shedding, 10.0), server.memory.status()
        assert server.outbox.shedding is False
        final, _ = existing.call("snapshot", {"prefix": "rt."})
        assert final.TYPE == "END", final
        assert stack.client("later").result("status")["memory"]["shed_episodes"] == 1
    finally:
        stack.close()


def test_the_rss_reader_reads_this_process():
    read = rss_reader()
    if read is None:
        pytest.skip("this platform's memory cannot be read")
    before = read()
    ballast = bytearray(b"\x01") * (64 * MB)
    grown = read()
    assert grown - before > 48 * MB, (before, grown)
    if sys.platform.startswith("linux"):
        with open("/proc/self/status", encoding="ascii") as fh:
            vmrss = [int(line.split()[1]) * 1024 for line in fh if line.startswith("VmRSS")][0]
        assert abs(vmrss - read()) < 16 * MB
    del ballast
