"""Publications, topics and the subscriber-side state machines (gaps, snapshots, liveness)."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koabus.common.errors import ProtocolError, VersionMismatch
from koabus.common.protocol import (
    GapDetector,
    Liveness,
    Publication,
    PubType,
    SnapshotSync,
    Topic,
    chejan_topic,
    condition_topic,
    realtime_topic,
    system_topic,
)

u63 = st.integers(min_value=0, max_value=(1 << 63) - 1)
topics = st.from_regex(r"\A(rt|ch|sys)\.[a-z_]{1,8}\.[A-Za-z0-9_]{1,10}\Z")
bodies = st.dictionaries(st.text(max_size=10), st.none() | st.integers(-10**9, 10**9) | st.text(max_size=10),
                         max_size=6)
publications = st.builds(Publication, topics, st.sampled_from(PubType.ALL), u63, u63, u63,
                         st.none() | u63, u63, bodies)


def pub(topic="rt.trade.005930", seq=1, tseq=1, epoch=7, body=None):
    return Publication(topic, PubType.REALTIME, epoch, seq, tseq, None, 0, body or {})


@given(publications)
def test_publications_round_trip_through_frames_and_snapshot_dicts(p):
    assert Publication.from_frames(p.to_frames()) == p
    assert Publication.from_dict(p.to_dict()) == p


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40), max_size=4))
def test_random_publication_frames_raise_only_protocol_errors(frames):
    try:
        Publication.from_frames(frames)
    except ProtocolError:
        pass


def test_publication_envelope_is_validated():
    good = pub().to_frames()
    with pytest.raises(VersionMismatch):
        Publication.from_frames([good[0], msgpack.packb([9, "RT", 1, 1, 1, None, 0]), good[2]])
    with pytest.raises(ProtocolError, match="unknown publication type"):
        Publication.from_frames([good[0], msgpack.packb([1, "XX", 1, 1, 1, None, 0]), good[2]])
    with pytest.raises(ProtocolError, match="seq"):
        Publication.from_frames([good[0], msgpack.packb([1, "RT", 1, -1, 1, None, 0]), good[2]])
    with pytest.raises(ProtocolError, match="ASCII"):
        Publication.from_frames(["삼성".encode(), good[1], good[2]])


def test_topics_are_ascii_and_prefix_ordered_general_to_specific():
    assert realtime_topic("trade", "005930") == "rt.trade.005930"
    assert realtime_topic("market_status", "") == "rt.market_status._"
    assert chejan_topic("8123456711", "0") == "ch.8123456711.order"
    assert chejan_topic("8123456711", "balance") == "ch.8123456711.balance"
    assert condition_topic(3) == "cond.3" and system_topic("hb") == "sys.hb"
    assert Topic.parse("rt.trade.005930").code == "005930"
    assert Topic.parse("rt.market_status._").code == ""
    with pytest.raises(ProtocolError):
        realtime_topic("주식체결", "005930")
    with pytest.raises(ProtocolError):
        realtime_topic("trade", "00 5930")
    with pytest.raises(ProtocolError):
        Topic.parse("nope.x")


def test_gap_detector_reports_lost_messages_per_topic():
    gaps = GapDetector()
    assert gaps.feed(pub(seq=1, tseq=1)) == []
    assert gaps.feed(pub("rt.trade.000660", seq=2, tseq=1)) == []
    events = gaps.feed(pub(seq=5, tseq=4))
    assert [(e.kind, e.expected, e.received, e.missing) for e in events] == [("gap", 2, 4, 2)]
    assert gaps.lost == 2
    assert [e.kind for e in gaps.feed(pub(seq=6, tseq=4))] == ["stale"]


def test_gap_detector_resyncs_on_a_new_epoch():
    gaps = GapDetector()
    gaps.feed(pub(seq=10, tseq=10))
    events = gaps.feed(pub(seq=1, tseq=1, epoch=8))
    assert [e.kind for e in events] == ["epoch"]
    assert gaps.feed(pub(seq=2, tseq=2, epoch=8)) == []


def test_gap_detector_whole_stream_checks_the_global_sequence():
    gaps = GapDetector(whole_stream=True)
    gaps.feed(pub("rt.trade.A", seq=1, tseq=1))
    events = gaps.feed(pub("rt.trade.B", seq=3, tseq=1))
    assert [(e.kind, e.missing) for e in events] == [("gap", 1)]


def test_snapshot_sync_merges_snapshot_and_buffered_updates_without_repeats():
    sync = SnapshotSync()
    assert sync.on_live(pub("rt.trade.A", seq=4, tseq=2)) == []    # already in the snapshot
    assert sync.on_live(pub("rt.trade.A", seq=6, tseq=3)) == []    # newer: must be kept
    sync.on_snapshot_item(pub("rt.trade.B", seq=3, tseq=1))
    sync.on_snapshot_item(pub("rt.trade.A", seq=4, tseq=2))
    out = sync.on_snapshot_end(epoch=7, seq=5)
    assert [(p.topic, p.seq) for p in out] == [("rt.trade.B", 3), ("rt.trade.A", 4), ("rt.trade.A", 6)]
    assert sync.on_live(pub(seq=7, tseq=4))[0].seq == 7


def test_snapshot_sync_buffer_is_bounded():
    sync = SnapshotSync(max_buffered=3)
    for i in range(1, 6):
        sync.on_live(pub(seq=i, tseq=i))
    assert sync.overflowed
    assert [p.seq for p in sync.on_snapshot_end(epoch=7, seq=0)] == [3, 4, 5]


def test_liveness_expires_after_the_missed_heartbeats():
    live = Liveness(interval_ms=1000, misses=3, now_s=100.0)
    assert not live.expired(102.9) and live.expired(103.1)
    live.heard(103.0)
    assert not live.expired(105.0)
    assert live.send_due(101.0) and not live.send_due(100.5)
    with pytest.raises(ValueError):
        Liveness(interval_ms=0)
