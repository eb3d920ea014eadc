"""The recorder's sans-I/O core: gap rows, epochs, restarts, overflow pauses, snapshots, roll schedule,
the roll queue's commit order and the trading date of rows without an exchange time."""
from __future__ import annotations

from typing import List, Optional

import pytest

from koabus.common.client.firehose import RawPublication, parse
from koabus.common.protocol import Publication
from koabus.services.recorder.app import replay
from koabus.services.recorder.core import (
    UNKNOWN_LAST_SEQ,
    GapRow,
    RecorderCore,
    RollQueue,
    RollResult,
    RowDater,
    Segment,
    kst_day,
)
from koabus.services.recorder.journal import LIVE, SNAPSHOT, START, JournalRecord

EPOCH = 77
# 2025-06-02 09:05 KST in epoch ns
T0 = 1748822700 * 1_000_000_000


class Bus:
    """Publications as a broker numbers them: seq over everything, topic_seq per topic."""

    def __init__(self, epoch: int = EPOCH):
        self.epoch = epoch
        self.seq = 0
        self.topic_seq: dict = {}

    def pub(self, topic: str, skip: int = 0, event_ns: Optional[int] = None) -> Publication:
        self.seq += 1 + skip
        self.topic_seq[topic] = self.topic_seq.get(topic, 0) + 1 + skip
        recv = T0 + self.seq * 1_000_000
        kind = "RT" if topic.startswith("rt.") else "SYS"
        body = {"type": topic.split(".")[1], "code": topic.split(".")[-1], "values": {"price": 100 + self.seq}}
        return Publication(topic, kind, self.epoch, self.seq, self.topic_seq[topic],
                           event_ns if event_ns is not None else recv, recv, body if kind == "RT" else {})


def raw(p: Publication, received_ns: Optional[int] = None) -> RawPublication:
    return parse(p.to_frames(), p.recv_ns if received_ns is None else received_ns)


def core(**kw) -> RecorderCore:
    kw.setdefault("roll_interval_s", 30.0)
    return RecorderCore(**kw)


def feed(c: RecorderCore, pubs: List[Publication]):
    rows = []
    for p in pubs:
        rows += c.live(raw(p), p.recv_ns)
    return rows


def test_a_skipped_topic_seq_is_one_gap_row_with_the_exact_missing_range():
    bus, c = Bus(), core()
    pubs = [bus.pub("rt.trade.005930"), bus.pub("rt.trade.005930")]
    lost_from = bus.pub("rt.trade.005930", skip=2)  # topic_seq 5: 3 and 4 never arrived
    rows = feed(c, pubs + [lost_from])
    topic_rows = [r for r in rows if r.topic]
    assert len(topic_rows) == 1
    gap = topic_rows[0]
    assert (gap.topic, gap.epoch, gap.first_seq, gap.last_seq, gap.missing, gap.kind) == (
        "rt.trade.005930", EPOCH, 3, 4, 2, "gap")
    assert gap.from_ns == pubs[-1].recv_ns and gap.to_ns == lost_from.recv_ns
    assert not gap.repaired and "high-water" in gap.cause
    assert c.gaps == len(rows) and c.missing == sum(r.missing for r in rows)


def test_whole_stream_checks_seq_and_prefix_mode_does_not():
    for whole, expected in ((True, 1), (False, 0)):
        bus, c = Bus(), core(whole_stream=whole)
        a = bus.pub("rt.trade.005930")
        bus.seq += 3  # three publications of other topics lost
        b = bus.pub("rt.quote.005930")
        rows = feed(c, [a, b])
        assert len(rows) == expected
        if expected:
            assert (rows[0].topic, rows[0].first_seq, rows[0].last_seq, rows[0].kind) == ("", 2, 4, "gap")


def test_a_new_epoch_is_an_epoch_row_and_topic_counters_start_over():
    bus, c = Bus(), core()
    feed(c, [bus.pub("rt.trade.005930") for _ in range(3)])
    new = Bus(epoch=EPOCH + 1)
    new.seq = 4  # seq 1..4 of the new epoch happened before we heard it
    rows = feed(c, [new.pub("rt.trade.005930"), new.pub("rt.trade.005930")])
    assert [(r.topic, r.kind, r.epoch, r.first_seq, r.last_seq) for r in rows] == [("", "epoch", EPOCH + 1, 1, 4)]
    assert "new epoch" in rows[0].cause


def test_a_restart_records_the_hole_between_the_last_journaled_and_the_first_new_message():
    bus, before = Bus(), core()
    feed(before, [bus.pub("rt.trade.005930"), bus.pub("rt.quote.005930")])
    state = before.positions.to_state()
    after = core(state=state)
    after.start()
    for _ in range(5):  # published while no recorder ran
        bus.pub("rt.trade.005930")
    rows = feed(after, [bus.pub("rt.trade.005930"), bus.pub("rt.quote.005930")])
    kinds = {(r.topic, r.kind, r.first_seq, r.last_seq) for r in rows}
    assert ("", "restart", 3, 7) in kinds
    assert ("rt.trade.005930", "restart", 2, 6) in kinds
    assert all(r.kind == "restart" and r.cause.startswith("recorder restarted") for r in rows)
    # once heard by this process, later losses of the topic are plain gaps again
    rows = feed(after, [bus.pub("rt.trade.005930", skip=1)])
    assert {r.kind for r in rows} == {"gap"}


def test_a_restart_across_a_broker_restart_covers_the_old_epochs_unheard_tail():
    bus, before = Bus(), core()
    feed(before, [bus.pub("rt.trade.005930"), bus.pub("rt.quote.005930")])
    after = core(state=before.positions.to_state())
    after.start()
    for _ in range(4):  # the old broker went on while no recorder ran, then died: seq 3..6 never heard
        bus.pub("rt.trade.005930")
    new = Bus(epoch=EPOCH + 1)
    new.seq = 2
    rows = feed(after, [new.pub("rt.trade.005930")])
    got = [(r.topic, r.kind, r.epoch, r.first_seq, r.last_seq, r.missing) for r in rows]
    assert got == [("", "restart", EPOCH, 3, UNKNOWN_LAST_SEQ, 0), ("", "restart", EPOCH + 1, 1, 2, 2)]
    lost = range(3, bus.seq + 1)
    assert all(any(r.epoch == EPOCH and r.first_seq <= s <= r.last_seq for r in rows) for s in lost)
    # a snapshot of the new broker repairs its own rows, never the old broker's tail
    after.snapshot(raw(new.pub("rt.trade.005930")), T0)
    after.repaired("")
    assert [r.repaired for r in after._open_gaps] == [False, True]


def test_snapshot_items_are_kept_only_when_newer_and_the_repair_names_the_gap_rows():
    bus, c = Bus(), core()
    first = bus.pub("rt.quote.005930")
    feed(c, [first])
    rows = feed(c, [bus.pub("rt.quote.005930", skip=3)])
    gap = [r for r in rows if r.topic][0]
    assert not gap.repaired and gap.id > 0
    assert c.snapshot(raw(first), T0) is False  # the lake has it already
    assert c.snapshot(raw(bus.pub("rt.quote.005930")), T0) is True
    assert c.repaired("rt.quote.005930") == [gap.id]
    assert c.repaired("rt.quote.005930") == []  # once


def test_a_gap_seen_after_a_newer_snapshot_value_is_born_repaired():
    bus, c = Bus(), core()
    feed(c, [bus.pub("rt.quote.005930")])
    bus.pub("rt.quote.005930")  # lost
    snap = bus.pub("rt.quote.005930")  # the broker's last value, taken by a snapshot
    assert c.snapshot(raw(snap), T0) is True
    rows = feed(c, [bus.pub("rt.quote.005930")])
    assert [r.repaired for r in rows if r.topic] == [True]


def test_stale_messages_are_recorded_and_counted():
    bus, c = Bus(), core()
    p = bus.pub("rt.trade.005930")
    feed(c, [p, p])
    assert c.stale == 1 and c.segment_records == c.segment_rows == 2


def test_an_intake_pause_is_an_overflow_hole_and_later_losses_are_plain_gaps():
    bus, c = Bus(), core()
    feed(c, [bus.pub("rt.trade.005930"), bus.pub("rt.quote.005930")])
    c.overflow()
    for _ in range(4):  # read and dropped while paused
        bus.pub("rt.trade.005930")
    rows = feed(c, [bus.pub("rt.trade.005930"), bus.pub("rt.quote.005930")])
    assert {(r.topic, r.kind, r.first_seq, r.last_seq) for r in rows} == {
        ("", "overflow", 3, 6), ("rt.trade.005930", "overflow", 2, 5)}
    assert all("max_unrolled_bytes" in r.cause for r in rows)
    assert {r.kind for r in feed(c, [bus.pub("rt.trade.005930", skip=1)])} == {"gap"}
    # a topic last heard before a recorder restart that came before the pause: restart
    c.start()
    c.overflow()
    rows = feed(c, [bus.pub("rt.quote.005930", skip=2)])
    assert {(r.topic, r.kind) for r in rows} == {("", "restart"), ("rt.quote.005930", "restart")}


def test_rolls_follow_the_interval_with_an_explicit_clock():
    bus, c = Bus(), core(roll_interval_s=30.0, now_s=100.0)
    assert not c.roll_due(200.0)  # nothing journaled
    feed(c, [bus.pub("rt.trade.005930")])
    assert not c.roll_due(129.9)
    assert c.roll_due(130.0)
    seg = c.take_segment(1, 130.0)
    assert (seg.number, seg.records, seg.first_ns) == (1, 1, T0 + 1_000_000)
    assert c.segment_records == 0 and not c.roll_due(150.0)


def test_a_segment_is_rolled_early_when_it_holds_max_buffer_rows_records():
    bus, c = Bus(), core(max_buffer_rows=10, now_s=0.0)
    feed(c, [bus.pub("rt.trade.005930") for _ in range(9)])
    assert not c.roll_due(1.0)
    feed(c, [bus.pub("rt.trade.005930")])
    assert c.roll_due(1.0)  # full long before the 30 s interval
    assert c.take_segment(1, 1.0).records == 10


def test_a_roll_waits_a_little_for_a_repair_in_flight():
    bus, c = Bus(), core(roll_interval_s=30.0, repair_wait_s=2.0, now_s=0.0)
    feed(c, [bus.pub("rt.trade.005930"), bus.pub("rt.trade.005930", skip=1)])
    c.repair_started(29.5)
    assert not c.roll_due(30.0)
    assert c.roll_due(31.5)  # waited repair_wait_s: rolls anyway
    c.repair_finished()
    assert c.roll_due(30.0)


def test_flush_is_due_once_per_interval_when_something_was_journaled():
    bus, c = Bus(), core(flush_interval_s=1.0, now_s=10.0)
    assert not c.flush_due(20.0)
    feed(c, [bus.pub("rt.trade.005930")])
    assert not c.flush_due(10.5) and c.flush_due(11.0)
    c.flushed(11.0)
    assert not c.flush_due(15.0)


def test_rows_without_an_exchange_time_take_the_date_of_the_latest_one_in_the_epoch():
    virtual = T0 - 30 * 86400 * 1_000_000_000  # a simulated session a month before the wall clock
    wall = T0 + 15 * 3600 * 1_000_000_000  # 00:05 KST the next wall-clock day
    d = RowDater()
    assert d.day(5, None, wall) == kst_day(wall)  # nothing seen yet: the receive time
    d.see(5, virtual)
    d.see(5, virtual - 10)  # an older value (a snapshot item) does not move it back
    assert d.day(5, None, wall) == kst_day(virtual)
    assert d.day(6, None, wall) == kst_day(wall)  # another epoch: not that clock
    d.see(6, virtual + 86400 * 1_000_000_000)
    assert d.day(6, None, wall) == kst_day(virtual) + 1
    assert d.day(6, virtual, wall) == kst_day(virtual)  # its own exchange time wins
    assert RowDater(d.state()).state() == d.state()


def test_gap_rows_round_trip_through_their_journal_payload():
    gap = GapRow(1, "rt.trade.005930", 7, 3, 4, "gap", "x", True, None, 9, 20000, 12)
    assert GapRow.from_payload(gap.to_payload()) == gap
    assert GapRow.from_payload({"topic": 1}) is None and GapRow.from_payload([1]) is None


def test_receive_lag_is_the_worst_delay_behind_the_broker_since_the_last_heartbeat():
    bus, c = Bus(), core()
    assert c.take_receive_lag_s() is None
    a, b = bus.pub("rt.trade.005930"), bus.pub("rt.trade.005930")
    c.live(raw(a), a.recv_ns + 300_000_000)
    c.live(raw(b), b.recv_ns + 100_000_000)
    assert c.take_receive_lag_s() == pytest.approx(0.3)
    assert c.take_receive_lag_s() is None


def seg(number: int, first_ns: Optional[int] = None) -> Segment:
    return Segment(number, 10, 10, first_ns, [None, None], {"n": number})


def test_segments_roll_in_parallel_but_commit_in_order():
    q = RollQueue()
    for n, first in ((1, 100), (2, 200), (3, 300)):
        q.add(seg(n, first))
    a, b = q.next(), q.next()
    assert (a.number, b.number) == (1, 2) and q.oldest_ns() == 100 and q.unrolled_rows() == 30
    q.finished(RollResult(2, rows=10))
    assert q.committable() == []  # 1 is still being rolled
    q.finished(RollResult(1, error="sink down", retry=True))
    assert q.next().number == 1  # a retry goes first again
    q.finished(RollResult(1, rows=10))
    assert [s.number for s, _ in q.committable()] == [1, 2]
    q.next()
    q.finished(RollResult(3, rows=5))
    (done,) = q.committable()
    q.committed(done[1], 50.0)
    assert q.rows_written == 5 and q.rolls == 1 and not q.busy and q.oldest_ns() is None


def test_replaying_the_journal_at_start_restores_the_positions():
    bus, live = Bus(), core()
    state = live.positions.to_state()
    records = [JournalRecord(START, T0, (b"", b"", b""))]
    live.start()
    for skip in (0, 0, 2, 0, 1):
        p = bus.pub("rt.trade.005930", skip=skip)
        records.append(JournalRecord(LIVE, p.recv_ns, tuple(p.to_frames())))
        live.live(raw(p), p.recv_ns)
    snap = bus.pub("rt.trade.005930")
    assert live.snapshot(raw(snap), snap.recv_ns)
    records.append(JournalRecord(SNAPSHOT, snap.recv_ns, tuple(snap.to_frames())))
    again = core(state=state)
    for record in records:
        replay(again, record)
    assert again.positions.to_state() == {**live.positions.to_state(), "gap_id": 0}
    assert again.segment_records == live.segment_records


def test_a_snapshot_without_a_newer_value_of_the_topic_repairs_nothing():
    bus, c = Bus(), core()
    rows = feed(c, [bus.pub("rt.trade.005930"), bus.pub("rt.trade.005930", skip=2)])
    assert c.repaired("rt.trade.005930") == []  # the broker had nothing after the hole
    assert c.repaired("rt.") == []
    whole = [r.id for r in rows if r.topic == ""]
    assert c.repaired("") == whole  # a snapshot of everything repairs the whole-stream row


# ---- another service's stream (the alerting service's alerts), tracked apart from the broker's

class AlertBus(Bus):
    """The alerting service's own PUB: its own epoch; seq over alerts and heartbeats, topic_seq per rule."""

    def pub(self, topic: str, skip: int = 0, event_ns: Optional[int] = None) -> Publication:
        self.seq += 1 + skip
        self.topic_seq[topic] = self.topic_seq.get(topic, 0) + 1 + skip
        recv = T0 + self.seq * 1_000_000
        return Publication(topic, "ALERT", self.epoch, self.seq, self.topic_seq[topic], event_ns, recv,
                           {"rule": topic.split(".", 1)[1], "values": {"n": self.seq}})

    def heartbeat(self) -> None:
        self.seq += 1  # published, not subscribed to


def alert_core(**kw) -> RecorderCore:
    c = core(services={"alerting": False}, **kw)
    c.start(["alerting"])
    return c


def test_a_services_stream_never_disturbs_the_brokers_gap_tracking():
    bus, alerts = Bus(), AlertBus(epoch=EPOCH + 1000)
    c, only_broker = alert_core(), alert_core()
    rows = []
    for n in range(6):
        p = bus.pub("rt.trade.005930")
        rows += c.live(raw(p), p.recv_ns)
        only_broker.live(raw(p), p.recv_ns)
        alerts.heartbeat()  # the service's seq moves on without us: not a gap, we record only alert.*
        a = alerts.pub("alert.samsung_drop" if n % 2 else "alert.volume_spike")
        rows += c.live(raw(a), a.recv_ns, source=1)
    assert rows == []  # interleaved epochs and seqs are two streams, not a restart every message
    assert c.positions.to_state() == only_broker.positions.to_state()
    assert c.services["alerting"].epoch == EPOCH + 1000


def test_a_skipped_alert_is_a_topic_row_naming_its_source_and_the_broker_repair_ignores_it():
    bus, alerts = Bus(), AlertBus(epoch=5)
    c = alert_core()
    feed(c, [bus.pub("rt.trade.005930")])
    a = alerts.pub("alert.samsung_drop")
    assert c.live(raw(a), a.recv_ns, source=1) == []
    a = alerts.pub("alert.samsung_drop", skip=2)
    rows = c.live(raw(a), a.recv_ns, source=1)
    assert [(r.topic, r.epoch, r.first_seq, r.last_seq, r.missing, r.kind, r.source) for r in rows] == [
        ("alert.samsung_drop", 5, 2, 3, 2, "gap", "alerting")]
    assert "alerting" in rows[0].cause and "broker" not in rows[0].cause
    assert GapRow.from_payload(rows[0].to_payload()) == rows[0]
    assert rows[0].day == kst_day(a.recv_ns)  # no exchange time: its own receive time
    assert c.repaired("") == [] and c.repaired("alert.") == []  # the broker's snapshot has no alerts
    # and the broker's own losses are still found, numbered after the alert row
    broker_rows = feed(c, [bus.pub("rt.trade.005930", skip=1)])
    assert {r.source for r in broker_rows} == {""} and min(r.id for r in broker_rows) > rows[0].id


def test_a_service_restart_is_an_epoch_row_of_that_service_only():
    bus, alerts = Bus(), AlertBus(epoch=5)
    c = alert_core()
    feed(c, [bus.pub("rt.trade.005930")])
    a = alerts.pub("alert.x")
    c.live(raw(a), a.recv_ns, source=1)
    again = AlertBus(epoch=6)
    again.seq = 3
    a = again.pub("alert.x")
    rows = c.live(raw(a), a.recv_ns, source=1)
    assert [(r.topic, r.kind, r.epoch, r.first_seq, r.last_seq, r.source) for r in rows] == [
        ("", "epoch", 6, 1, 3, "alerting")]
    assert rows[0].cause == "alerting restarted (new epoch)"
    assert feed(c, [bus.pub("rt.trade.005930")]) == [] and c.positions.epoch == EPOCH


def test_a_recorder_restart_measures_each_sources_hole_from_the_checkpointed_state():
    bus, alerts = Bus(), AlertBus(epoch=5)
    before = alert_core()
    feed(before, [bus.pub("rt.trade.005930")])
    a = alerts.pub("alert.x")
    before.live(raw(a), a.recv_ns, source=1)
    after = core(services={"alerting": False}, state=before.state())
    after.start(["alerting"])
    alerts.pub("alert.x")  # fired while no recorder ran
    a = alerts.pub("alert.x")
    rows = after.live(raw(a), a.recv_ns, source=1)
    kinds = {(r.topic, r.kind, r.first_seq, r.last_seq, r.source) for r in rows}
    assert kinds == {("", "restart", 2, 2, "alerting"), ("alert.x", "restart", 2, 2, "alerting")}
    assert all(r.cause == "recorder restarted (source alerting)" for r in rows)
    rows = feed(after, [bus.pub("rt.trade.005930", skip=1)])  # the broker's own hole, told apart
    assert {(r.topic, r.kind, r.first_seq, r.source) for r in rows} == {
        ("", "restart", 2, ""), ("rt.trade.005930", "restart", 2, "")}
    assert {r.cause for r in rows} == {"recorder restarted"}


def test_replay_attributes_records_by_the_source_names_of_their_start_record():
    import msgpack

    alerts = AlertBus(epoch=5)
    live = core(services={"bars": False, "alerting": False})
    live.start(["bars", "alerting"])  # this process recorded two services; alerts were source 2
    records = [JournalRecord(START, T0, (b"", b"", msgpack.packb(["bars", "alerting"])))]
    for skip in (0, 1, 0):
        a = alerts.pub("alert.x", skip=skip)
        records.append(JournalRecord(LIVE, a.recv_ns, tuple(a.to_frames()), 2))
        live.live(raw(a), a.recv_ns, source=2)
    again = core(services={"alerting": False})  # the next process records only the alerting service
    for record in records:
        replay(again, record)
    assert again.source_names == ["bars", "alerting"] and set(again.services) == {"alerting"}
    assert again.services["alerting"].to_state() == live.services["alerting"].to_state()
    assert again.state()["services"]["alerting"]["topics"] == {"alert.x": [4, a.recv_ns, 0, 1]}
