"""The SDK's raw whole-stream reader: envelopes checked, bodies untouched, malformed messages counted and
skipped; a real PUB on loopback."""
from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from koabus.common.client.firehose import Firehose, parse
from koabus.common.protocol import Publication
from tests.helpers import free_tcp_port


def frames(seq: int = 1, **changes):
    env = {"version": 1, "type": "RT", "epoch": 9, "seq": seq, "topic_seq": seq, "event_ns": None, "recv_ns": 5}
    env.update(changes)
    return [b"rt.trade.005930", msgpack.packb(list(env.values())), msgpack.packb({"values": {"price": seq}})]


def test_a_valid_publication_keeps_its_frames_and_decodes_only_the_envelope():
    good = Publication("rt.trade.005930", "RT", 9, 3, 2, 7, 8, {"code": "005930"}).to_frames()
    raw = parse(good, 123)
    assert (raw.topic, raw.epoch, raw.seq, raw.topic_seq, raw.event_ns, raw.recv_ns, raw.type, raw.received_ns) == (
        b"rt.trade.005930", 9, 3, 2, 7, 8, "RT", 123)
    assert list(raw.frames) == good


@pytest.mark.parametrize("bad", [
    frames(version=2), frames(version=True), frames(type="XX"), frames(seq=-1), frames(seq=1 << 63),
    frames(epoch="9"), frames(recv_ns=1.5), frames(event_ns="x"), frames()[:2], frames() + [b""],
    [b"", *frames()[1:]], [b"\xff" * 3, *frames()[1:]], [frames()[0], b"\xc1", frames()[2]],
    [frames()[0], msgpack.packb([1, "RT", 1, 1, 1, None]), frames()[2]],
    [frames()[0], msgpack.packb({"a": 1}), frames()[2]], [frames()[0], b"\x00" * 300, frames()[2]],
    [frames()[0], msgpack.packb([1, "RT", msgpack.ExtType(1, b"x"), 1, 1, None, 1]), frames()[2]],
])
def test_a_malformed_envelope_is_refused(bad):
    assert parse(bad, 0) is None


def test_recv_batch_reads_what_is_queued_counts_malformed_and_times_out_empty():
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    with Firehose(endpoint, prefixes=("rt.",)) as hose:
        deadline = time.monotonic() + 10
        seen = []
        while not seen and time.monotonic() < deadline:  # the SUB joins: earlier sends are dropped
            pub.send_multipart(frames(0))
            seen = hose.recv_batch(10, 20)
        assert seen, "the firehose never connected"
        hose.recv_batch(10_000, 100)  # whatever warm-up is still queued
        hose.malformed = 0
        pub.send_multipart([b"sys.other", *frames()[1:]])  # not subscribed
        pub.send_multipart(frames(version=2))
        for seq in range(1, 6):
            pub.send_multipart(frames(seq))
        got = []
        while len(got) < 5 and time.monotonic() < deadline:
            got += hose.recv_batch(3, 200)
        assert [r.seq for r in got] == [1, 2, 3, 4, 5] and hose.malformed == 1
        assert hose.recv_batch(10, 50) == []
    pub.close(0)


def _batch_frames(seq: int, kind: str = "RTB"):
    from koabus.common.protocol.batch import BatchBuilder, PositionalBatchBuilder

    topic, envelope, body = Publication("rt.trade.005930", "RT", 9, seq, seq, None, 5,
                                        {"type": "주식체결", "code": "005930", "values": {"volume": 1}}).to_frames()
    if kind == "RTP":
        builder = PositionalBatchBuilder()
        builder.add(topic, envelope, "주식체결", ("volume",), msgpack.packb(["005930", [1]]), seq)
    else:
        builder = BatchBuilder()
        builder.add(topic, envelope, body, seq)
    return builder.close(9, 6)[0]


@pytest.mark.parametrize("kind", ["RTB", "RTP"])
@pytest.mark.parametrize("opted_in", [False, True])
def test_batches_are_skipped_unless_asked_for(opted_in, kind):
    from koabus.common.protocol.batch import unbatch_frames

    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    ctx = zmq.Context.instance()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    with Firehose(endpoint, prefixes=("",), batches=opted_in) as hose:
        deadline = time.monotonic() + 10
        seen = []
        while not seen and time.monotonic() < deadline:  # the SUB joins: earlier sends are dropped
            pub.send_multipart(frames(0))
            seen = hose.recv_batch(10, 20)
        hose.recv_batch(10_000, 100)
        pub.send_multipart(_batch_frames(1, kind))
        pub.send_multipart(frames(2))
        got = []
        while len(got) < 1 + opted_in and time.monotonic() < deadline:
            got += hose.recv_batch(10, 200)
        assert [r.type for r in got] == ([kind, "RT"] if opted_in else ["RT"])
        assert hose.batches_skipped == (0 if opted_in else 1)
        if opted_in:
            assert [p.seq for p in unbatch_frames(got[0].frames)] == [1]
    pub.close(0)
