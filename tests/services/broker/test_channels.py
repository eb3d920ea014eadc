"""The Outbox when the broker sheds for memory: realtime is dropped at the pause mark instead of queued,
and every drop is counted per topic so the I/O thread can leave the gap subscribers need to see."""
from __future__ import annotations

import uuid

import pytest
import zmq

from koabus.common.protocol import GapDetector, Publication
from koabus.services.broker.channels import Outbox
from koabus.services.broker.publisher import Sequencer


@pytest.fixture
def outbox():
    ctx = zmq.Context.instance()
    endpoint = f"inproc://test-outbox-{uuid.uuid4().hex}"
    bell = ctx.socket(zmq.PULL)
    bell.setsockopt(zmq.LINGER, 0)
    bell.bind(endpoint)
    box = Outbox(ctx, endpoint, max_items=50, pause_above=10, pause_max_s=5.0, batch=100)
    box.open()
    yield box
    box.close()
    bell.close(0)


def _rt(topic: str, n: int):
    return ("T", topic, None, "005930", "주식체결", f"payload {n}", n)


def test_shedding_drops_realtime_at_the_pause_mark_without_waiting(outbox):
    outbox.consuming = True  # a producer would pause here, were the broker not shedding
    outbox.shedding = True
    for n in range(10):
        assert outbox.put(_rt("rt.trade.005930", n), droppable=True)
    assert not outbox.put(_rt("rt.trade.005930", 10), droppable=True)
    assert not outbox.put(_rt("rt.trade.000660", 11), droppable=True)
    assert outbox.put(("R", b"client", "a reply"))  # replies are never shed
    assert outbox.pauses == 0 and outbox.shed == 2 and outbox.dropped == 2 and len(outbox) == 11
    assert outbox.take_dropped() == {"rt.trade.005930": 1, "rt.trade.000660": 1}
    assert outbox.take_dropped() == {}


def test_a_full_outbox_counts_its_drops_per_topic_too(outbox):
    outbox.pause_above = outbox.max_items
    for n in range(outbox.max_items):
        outbox.put(_rt("rt.trade.005930", n), droppable=True)
    assert not outbox.put(_rt("rt.trade.005930", 99), droppable=True)
    assert outbox.take_dropped() == {"rt.trade.005930": 1} and outbox.shed == 0


def test_skipped_numbers_show_as_a_gap_to_subscribers():
    seq = Sequencer(epoch=7)
    detector = GapDetector()
    seen = []
    for n in range(3):
        pub = Publication.from_frames(seq.frames("rt.trade.005930", "RT", {"n": n}, None))
        seen += detector.feed(pub)
    seq.skip("rt.trade.005930", 4)  # four events dropped before they were numbered
    pub = Publication.from_frames(seq.frames("rt.trade.005930", "RT", {"n": 3}, None))
    seen += detector.feed(pub)
    assert pub.topic_seq == 8 and pub.seq == 8
    assert [(e.kind, e.missing) for e in seen] == [("gap", 4)]
