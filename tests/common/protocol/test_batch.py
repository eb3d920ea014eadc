"""Batched realtime frames (docs/protocol.md §4.3, positional §4.4): the builders, `unbatch`, and the opt-in rules."""
from __future__ import annotations

import msgpack
import pytest

from koabus.common.errors import ProtocolError
from koabus.common.protocol import Publication
from koabus.common.protocol.batch import (
    BatchBuilder,
    PositionalBatchBuilder,
    batch_topic,
    positional_topic,
    unbatch,
    unbatch_frames,
    wants_batches,
    wants_positional,
    wants_realtime,
)
from koabus.services.broker.subscriptions import Subscriptions

EPOCH = 77


def _pub(seq: int, code: str = "005930", slug: str = "trade", topic_seq: int = 1) -> Publication:
    return Publication(f"rt.{slug}.{code}", "RT", EPOCH, seq, topic_seq, 1_700_000_000_000_000_000 + seq,
                       1_700_000_000_000_000_500 + seq, {"type": "주식체결", "code": code,
                                                          "values": {"current_price": 70_000 + seq, "volume": 2 ** 40}})


def _build(builder: BatchBuilder, pubs):
    for p in pubs:
        builder.add(*p.to_frames(), p.seq)
    return builder.close(EPOCH, 1_700_000_001_000_000_000)


def test_a_batch_decodes_to_the_publications_it_was_built_from():
    pubs = [_pub(n, code, topic_seq=n) for n, code in enumerate(["005930", "000660"] * 10, start=1)]
    (frames,) = _build(BatchBuilder(), pubs)
    batch = Publication.from_frames(frames)
    assert (batch.topic, batch.type, batch.epoch, batch.seq, batch.topic_seq, batch.event_ns) == \
        ("rtb.trade", "RTB", EPOCH, 20, 1, None)
    assert unbatch(batch) == pubs
    # the body is plain msgpack: {"events": [[topic, envelope, body], ...]}
    body = msgpack.unpackb(frames[2], raw=False)
    assert list(body) == ["events"] and body["events"][0][0] == "rt.trade.005930"


def test_batches_split_by_type_by_count_and_by_size_and_number_per_topic():
    builder = BatchBuilder(max_events=3)
    pubs = [_pub(n, slug="trade" if n % 2 else "quote") for n in range(1, 11)]
    out = [Publication.from_frames(f) for f in _build(builder, pubs)]
    assert sorted((b.topic, b.topic_seq) for b in out) == [("rtb.quote", 1), ("rtb.quote", 2),
                                                           ("rtb.trade", 1), ("rtb.trade", 2)]
    assert sorted(p.seq for b in out for p in unbatch(b)) == list(range(1, 11))
    assert builder.batches == 4 and builder.events == 10 and len(builder) == 0
    again = [Publication.from_frames(f) for f in _build(builder, [_pub(11)])]
    assert [(b.topic, b.topic_seq) for b in again] == [("rtb.trade", 3)]
    small = BatchBuilder(max_bytes=300)
    sized = [Publication.from_frames(f) for f in _build(small, [_pub(n) for n in range(1, 7)])]
    assert len(sized) > 1 and all(len(f.to_frames()[2]) <= 300 + 20 for f in sized)
    assert [p.seq for b in sized for p in unbatch(b)] == list(range(1, 7))


def test_large_batches_use_the_long_array_header():
    pubs = [_pub(n) for n in range(1, 1001)]
    (frames,) = _build(BatchBuilder(), pubs)
    assert len(unbatch_frames(frames)) == 1000


@pytest.mark.parametrize("events", [
    "nope", [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1]]],  # not 3 items
    [[7, [1, "RT", EPOCH, 1, 1, None, 1], {}]],  # topic not text
    [["sys.hb", [1, "RT", EPOCH, 1, 1, None, 1], {}]],  # not realtime
    [["rt.trade.005930", [1, "CHEJAN", EPOCH, 1, 1, None, 1], {}]],  # not RT
    [["rt.trade.005930", [1, "RT", EPOCH + 1, 1, 1, None, 1], {}]],  # another epoch
    [["rt.trade.005930", [1, "RT", EPOCH, -1, 1, None, 1], {}]],  # seq out of range
    [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1], []]],  # body not a map
])
def test_a_malformed_batch_is_refused_whole(events):
    batch = Publication("rtb.trade", "RTB", EPOCH, 1, 1, None, 1, {"events": events})
    with pytest.raises(ProtocolError):
        unbatch(batch)


def test_unbatch_refuses_what_is_not_a_batch():
    with pytest.raises(ProtocolError):
        unbatch(_pub(1))


def test_topics_and_opt_in_rules():
    assert batch_topic("rt.trade.005930") == "rtb.trade" and batch_topic("rt.market_status._") == "rtb.market_status"
    assert all(wants_batches(p) for p in (b"rtb", b"rtb.", b"rtb.trade"))
    assert not any(wants_batches(p) for p in (b"", b"r", b"rt", b"rt.", b"sys."))
    assert all(wants_realtime(p) for p in (b"", b"r", b"rt", b"rt.", b"rt.trade.005930"))
    assert not any(wants_realtime(p) for p in (b"rtb.", b"sys.", b"ch."))


def test_subscriptions_follow_the_xpub_messages():
    subs = Subscriptions()
    assert (subs.batching, subs.realtime) == (False, True)
    assert subs.feed(b"\x01sys.") is False
    assert subs.feed(b"\x01rtb.") is True and (subs.batching, subs.realtime) == (True, False)
    assert subs.feed(b"\x01rt.trade.005930") is True and subs.realtime is True
    assert subs.feed(b"\x00rt.trade.005930") is True and subs.realtime is False
    assert subs.feed(b"\x01") is True and subs.realtime is True  # "" matches everything
    assert subs.feed(b"\x00") is True
    assert subs.feed(b"\x00rtb.") is True and (subs.batching, subs.realtime) == (False, True)
    assert subs.feed(b"") is False and subs.feed(b"\x02rtb.") is False and subs.batching is False


def _build_positional(builder: PositionalBatchBuilder, pubs):
    for p in pubs:
        topic, envelope, _body = p.to_frames()
        values = p.body["values"]
        builder.add(topic, envelope, p.body["type"], tuple(values), msgpack.packb([p.body["code"], list(values.values())]),
                    p.seq)
    return builder.close(EPOCH, 1_700_000_001_000_000_000)


def test_a_positional_batch_decodes_to_the_keyed_publications_it_stands_for():
    pubs = [_pub(n, code, topic_seq=n) for n, code in enumerate(["005930", "000660"] * 10, start=1)]
    (frames,) = _build_positional(PositionalBatchBuilder(), pubs)
    batch = Publication.from_frames(frames)
    assert (batch.topic, batch.type, batch.epoch, batch.seq, batch.topic_seq, batch.event_ns) == \
        ("rtp.trade", "RTP", EPOCH, 20, 1, None)
    assert unbatch(batch) == pubs
    body = msgpack.unpackb(frames[2], raw=False)  # the names once, each event's values as an array
    assert body["type"] == "주식체결" and body["fields"] == ["current_price", "volume"]
    assert body["events"][0][2:] == ["005930", [70_001, 2 ** 40]]
    keyed = b"".join(_build(BatchBuilder(), pubs)[0])
    assert len(b"".join(frames)) < len(keyed)


def test_positional_batches_split_by_count_size_and_field_list():
    builder = PositionalBatchBuilder(max_events=3)
    out = [Publication.from_frames(f) for f in _build_positional(builder, [_pub(n) for n in range(1, 8)])]
    assert [b.topic_seq for b in out] == [1, 2, 3] and [len(unbatch(b)) for b in out] == [3, 3, 1]
    small = PositionalBatchBuilder(max_bytes=200)
    sized = [Publication.from_frames(f) for f in _build_positional(small, [_pub(n) for n in range(1, 9)])]
    assert len(sized) > 1 and all(len(b.to_frames()[2]) <= 200 for b in sized)
    assert [p.seq for b in sized for p in unbatch(b)] == list(range(1, 9))
    wider = _pub(9)
    wider.body["values"]["high"] = 70_500  # another field list: its own batch, named by its own fields
    mixed = [Publication.from_frames(f) for f in _build_positional(PositionalBatchBuilder(), [_pub(8), wider, _pub(10)])]
    assert [len(unbatch(b)) for b in mixed] == [1, 1, 1]
    assert [p for b in mixed for p in unbatch(b)] == [_pub(8), wider, _pub(10)]


@pytest.mark.parametrize("body", [
    {"type": "주식체결", "fields": ["a"], "events": "nope"},
    {"type": 7, "fields": ["a"], "events": []},  # type not text
    {"type": "주식체결", "fields": ["a", "a"], "events": []},  # a field named twice
    {"type": "주식체결", "fields": ["a", 1], "events": []},  # a field name not text
    {"type": "주식체결", "fields": ["a"], "events": [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1], "005930"]]},
    {"type": "주식체결", "fields": ["a"], "events": [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1], 5, [1]]]},
    {"type": "주식체결", "fields": ["a"], "events": [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1], "x", [1, 2]]]},
    {"type": "주식체결", "fields": ["a"], "events": [["rt.trade.005930", [1, "RT", EPOCH, 1, 1, None, 1], "x", {}]]},
    {"type": "주식체결", "fields": ["a"], "events": [["sys.hb", [1, "RT", EPOCH, 1, 1, None, 1], "x", [1]]]},
    {"type": "주식체결", "fields": ["a"], "events": [["rt.trade.005930", [1, "RT", EPOCH + 1, 1, 1, None, 1], "x", [1]]]},
])
def test_a_malformed_positional_batch_is_refused_whole(body):
    with pytest.raises(ProtocolError):
        unbatch(Publication("rtp.trade", "RTP", EPOCH, 1, 1, None, 1, body))


def test_positional_opt_in_rules():
    assert positional_topic("rt.trade.005930") == "rtp.trade" and positional_topic("rt.") == "rtp."
    assert all(wants_positional(p) for p in (b"rtp", b"rtp.", b"rtp.trade"))
    assert not any(wants_positional(p) for p in (b"", b"rt", b"rt.", b"rtb.", b"sys."))
    subs = Subscriptions()
    assert subs.feed(b"\x01rtp.trade") is True and (subs.positional, subs.batching, subs.realtime) == (True, False, False)
    assert subs.feed(b"\x01rtb.") is True and subs.batching is True and subs.realtime is False
    assert subs.feed(b"\x01rt") is True and subs.realtime is True
    assert subs.feed(b"\x00rtp.trade") is True and subs.positional is False
