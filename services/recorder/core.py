"""The recorder's logic without sockets, files or clocks: gap tracking on envelopes, the flush/roll
schedule, the roll queue and the trading date of rows.

The intake thread feeds `RecorderCore`, in journal order, the envelopes of what it journals (live
publications, snapshot items, start/overflow markers) with the wall time it received them; the caller
passes `now_s` wherever time matters. Bodies are never decoded here. Gap rows are journaled (GAP
records) just before the message that revealed them, so the roller turns them into the gaps table
by the same path as the data, and a `kill -9` cannot lose a gap row the journal kept.

Gap rows (docs/recorder.md, "Gaps"):
- a live message whose `topic_seq` skips ahead of the topic's last one: a row for that topic (range in
  topic_seq); kind `restart` when the topic was last heard before a recorder restart, `overflow` when
  before intake paused, else `gap`;
- when everything is recorded (topics == [""]), a skip in the bus-wide `seq`: a row with topic ''
  (range in seq), kind `gap`;
- a new broker epoch: a row with topic '' (kind `epoch`, the new epoch's seq 1 .. first seen - 1);
- the first live message after the recorder (re)started or intake resumed: a row with topic '' for the
  seq range nobody recorded (kind `restart` / `overflow`; against the last journaled (epoch, seq)).
A topic row is `repaired` once a broker snapshot gave a value of its topic from after the hole (the lake
then has the topic's latest value again, though not the lost messages themselves); a whole-stream row
once a snapshot of everything ('') completed after it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Deque, Dict, List, Optional, Tuple

SERVICE = "recorder"
STATE_VERSION = 2
_KST_OFFSET_NS = 9 * 3600 * 1_000_000_000
_DAY_NS = 86400 * 1_000_000_000
_EPOCH_DATE = date(1970, 1, 1)

CAUSE_TRANSIT = "lost in transit (a high-water mark between the broker and the recorder)"
CAUSE_EPOCH = "broker restarted (new epoch)"
CAUSE_RESTART = "recorder restarted"
CAUSE_RESTART_EPOCH = "recorder restarted; the broker restarted too (new epoch)"
CAUSE_OVERFLOW = "recorder intake paused (max_unrolled_bytes waited to be rolled)"
CAUSE_OVERFLOW_EPOCH = CAUSE_OVERFLOW + "; the broker restarted too (new epoch)"
#: the kind and cause of a hole left by a restart / a pause, without and with a new broker epoch
HOLES = {"restart": (CAUSE_RESTART, CAUSE_RESTART_EPOCH), "overflow": (CAUSE_OVERFLOW, CAUSE_OVERFLOW_EPOCH)}


@dataclass(frozen=True)
class Causes:
    """The `cause` texts of one source's gap rows."""

    transit: str = CAUSE_TRANSIT
    epoch: str = CAUSE_EPOCH
    holes: Tuple[Tuple[str, Tuple[str, str]], ...] = tuple(HOLES.items())

    def hole(self, kind: str, new_epoch: bool) -> str:
        return dict(self.holes)[kind][1 if new_epoch else 0]

    @classmethod
    def of_service(cls, name: str) -> Causes:
        """A service's PUB recorded beside the broker (its own epoch and seq): every cause names it."""
        return cls(f"lost in transit from {name} (a high-water mark between {name} and the recorder)",
                   f"{name} restarted (new epoch)",
                   (("restart", (f"{CAUSE_RESTART} (source {name})", f"{CAUSE_RESTART}; {name} restarted too "
                                                                     "(new epoch)")),
                    ("overflow", (f"{CAUSE_OVERFLOW} (source {name})",
                                  f"{CAUSE_OVERFLOW}; {name} restarted too (new epoch)"))))


BROKER_CAUSES = Causes()


def kst_day(ns: int) -> int:
    """Days since 1970-01-01 of an epoch-ns instant in Korea (KST, UTC+9, no daylight saving)."""
    return (ns + _KST_OFFSET_NS) // _DAY_NS


def day_text(day: int) -> str:
    return (_EPOCH_DATE + timedelta(days=day)).isoformat()


class RowDater:
    """The trading day of rows, in journal order: a row's exchange time when it has one; else the
    latest exchange time seen in the same broker epoch; else its receive time.

    A simulated (or replayed) market runs a virtual clock while `recv_ns` is the wall clock: rows
    without an exchange time (주식우선호가) then belong to the virtual session, not to today.
    """

    __slots__ = ("epoch", "latest_ns")

    def __init__(self, state: Optional[List[Any]] = None):
        self.epoch: Optional[int] = None
        self.latest_ns: Optional[int] = None
        if state and len(state) == 2:
            self.epoch, self.latest_ns = state

    def see(self, epoch: int, event_ns: Optional[int]) -> None:
        if event_ns is None:
            return
        if epoch != self.epoch:
            self.epoch, self.latest_ns = epoch, event_ns
        elif self.latest_ns is None or event_ns > self.latest_ns:
            self.latest_ns = event_ns

    def day(self, epoch: int, event_ns: Optional[int], recv_ns: int) -> int:
        """The row's KST day (call `see` with it first)."""
        if event_ns is not None:
            return kst_day(event_ns)
        if epoch == self.epoch and self.latest_ns is not None:
            return kst_day(self.latest_ns)
        return kst_day(recv_ns)

    def state(self) -> List[Any]:
        return [self.epoch, self.latest_ns]


#: `last_seq` of a gap row that runs to the end of its epoch, wherever that was: the recorder was down
#: when that broker stopped, so nobody heard its last number (the row's `missing` is then 0: not known)
UNKNOWN_LAST_SEQ = 2**63 - 1


@dataclass(frozen=True)
class GapRow:
    """One row of the gaps table (common.lake.schema GAPS_FIELDS); times are epoch ns."""

    detected_ns: int
    topic: str
    epoch: int
    first_seq: int
    last_seq: int
    kind: str
    cause: str
    repaired: bool = False
    from_ns: Optional[int] = None
    to_ns: Optional[int] = None
    #: the KST day (days since 1970-01-01) of the message that revealed it: its partition
    day: int = 0
    #: numbers the rows of one journal, so a REPAIRED record can name the rows it repaired
    id: int = 0
    #: the service source it was found on ('' the broker; named in `cause` too)
    source: str = ""

    @property
    def missing(self) -> int:
        if self.last_seq == UNKNOWN_LAST_SEQ:
            return 0
        return max(0, self.last_seq - self.first_seq + 1)

    def to_row(self) -> Dict[str, Any]:
        return {"detected_time": self.detected_ns, "topic": self.topic, "epoch": self.epoch,
                "first_seq": self.first_seq, "last_seq": self.last_seq, "missing": self.missing,
                "kind": self.kind, "cause": self.cause, "repaired": self.repaired,
                "from_time": self.from_ns, "to_time": self.to_ns}

    def to_payload(self) -> Dict[str, Any]:
        """The GAP journal record's body (msgpack map)."""
        return {"id": self.id, "detected_ns": self.detected_ns, "topic": self.topic, "epoch": self.epoch,
                "first_seq": self.first_seq, "last_seq": self.last_seq, "kind": self.kind, "cause": self.cause,
                "repaired": self.repaired, "from_ns": self.from_ns, "to_ns": self.to_ns, "day": self.day,
                "source": self.source}

    @classmethod
    def from_payload(cls, data: Any) -> Optional[GapRow]:
        """The row of a GAP record's body; None when it is not one."""
        if not isinstance(data, dict):
            return None
        try:
            ints = [int(data[k]) for k in ("detected_ns", "epoch", "first_seq", "last_seq", "day", "id")]
            times = [None if data.get(k) is None else int(data[k]) for k in ("from_ns", "to_ns")]
            topic, kind, cause = (str(data[k]) for k in ("topic", "kind", "cause"))
        except (KeyError, TypeError, ValueError):
            return None
        source = data.get("source") or ""
        return cls(ints[0], topic, ints[1], ints[2], ints[3], kind, cause, bool(data.get("repaired")),
                   times[0], times[1], ints[4], ints[5], source if isinstance(source, str) else "")


class Positions:
    """Where the recorded stream stands: the broker epoch, the last bus-wide seq, and per topic the last
    live topic_seq, its receive time, the newest snapshot topic_seq and the generation (count of
    recorder starts and intake pauses) that heard it last. Serialisable into the checkpoint."""

    def __init__(self) -> None:
        self.epoch: Optional[int] = None
        self.seq = 0
        self.last_recv_ns: Optional[int] = None
        self.generation = 0
        #: the generation of the latest recorder start
        self.start_generation = 0
        #: a hole is open ('restart' or 'overflow') until the next live message measures it
        self.hole: Optional[str] = None
        self.gap_id = 0
        #: topic (bytes) -> [live topic_seq or None, its recv_ns, newest snapshot topic_seq, generation]
        self.topics: Dict[bytes, List[Any]] = {}
        self.dater = RowDater()

    def to_state(self) -> Dict[str, Any]:
        return {"version": STATE_VERSION, "epoch": self.epoch, "seq": self.seq,
                "last_recv_ns": self.last_recv_ns, "generation": self.generation,
                "start_generation": self.start_generation, "hole": self.hole, "gap_id": self.gap_id,
                "dater": self.dater.state(),
                "topics": {t.decode("ascii"): list(v) for t, v in self.topics.items()}}

    @classmethod
    def from_state(cls, state: Optional[Dict[str, Any]]) -> Positions:
        out = cls()
        if not state or state.get("version") not in (1, STATE_VERSION):
            return out
        out.epoch = state.get("epoch")
        out.seq = int(state.get("seq") or 0)
        out.last_recv_ns = state.get("last_recv_ns")
        out.generation = int(state.get("generation") or 0)
        out.start_generation = int(state.get("start_generation") or out.generation)
        hole = state.get("hole", "restart" if state.get("restarted") else None)
        out.hole = hole if hole in HOLES else None
        out.gap_id = int(state.get("gap_id") or 0)
        out.dater = RowDater(state.get("dater"))
        out.topics = {str(t).encode("ascii"): list(v) for t, v in (state.get("topics") or {}).items()}
        return out


@dataclass(frozen=True)
class Segment:
    """A closed journal segment waiting to be rolled: what the roller needs and what the checkpoint
    stores once it is in the sinks."""

    number: int
    records: int
    #: of which publications (live and snapshot): rows of the lake's tables, heartbeats and such aside
    rows: int
    #: the recorder's receive time (wall ns) of its first record, or None when empty
    first_ns: Optional[int]
    #: the RowDater state at the segment's start (the roller dates rows from there)
    dater: List[Any]
    #: the core's state right after the segment
    state: Dict[str, Any]


class RecorderCore:
    """Gap tracking and the flush/roll schedule of one recorder's intake (no I/O, no clock)."""

    def __init__(self, *, whole_stream: bool = True, flush_interval_s: float = 1.0,
                 roll_interval_s: float = 30.0, max_buffer_rows: int = 200_000, repair_wait_s: float = 2.0,
                 state: Optional[Dict[str, Any]] = None, now_s: float = 0.0,
                 services: Optional[Dict[str, bool]] = None):
        self.whole_stream = whole_stream
        self.flush_interval_s = flush_interval_s
        self.roll_interval_s = roll_interval_s
        self.max_buffer_rows = max_buffer_rows
        self.repair_wait_s = repair_wait_s
        #: the broker's stream (source 0); `gap_id` and the row dater live here
        self.positions = Positions.from_state(state)
        #: service name -> whether everything it publishes is recorded (its bus-wide seq checked)
        self.service_whole = dict(services or {})
        #: the other services' streams, by name, each tracked apart (own epoch, seq, topics)
        self.services: Dict[str, Positions] = {
            str(name): Positions.from_state(value) for name, value in ((state or {}).get("services") or {}).items()
            if isinstance(value, dict)}
        #: journal source n (1, 2, ...) -> service name, as the latest START record said
        self.source_names: List[str] = [str(n) for n in ((state or {}).get("source_names") or [])]
        self._records = 0
        self._rows = 0
        self._first_ns: Optional[int] = None
        self._dater_start = self.positions.dater.state()
        #: gap rows journaled in the current segment (a repair may still mark them)
        self._open_gaps: List[GapRow] = []
        self._last_flush_s = now_s
        self._last_roll_s = now_s
        self._unflushed = 0
        #: repairs (snapshots) in flight: their start times
        self._repairs: List[float] = []
        #: gap rows marked repaired by a broker snapshot since the start (heartbeat `repaired`)
        self.repaired_rows = 0
        # counters for the heartbeat
        self.gaps = 0
        self.missing = 0
        self.stale = 0
        self.live_count = 0
        #: the largest (recorder receive - broker receive) of a live message since the last heartbeat
        self._receive_lag_ns: Optional[int] = None

    # ---- records, in journal order -----------------------------------------------------------

    def _streams(self) -> List[Positions]:
        return [self.positions, *self.services.values()]

    def start(self, source_names: Optional[List[str]] = None) -> None:
        """A recorder process starts (a START record): the next live message of each source measures the
        hole. `source_names`: the services it records, journal sources 1, 2, ... (None: unchanged)."""
        if source_names is not None:
            self.source_names = [str(n) for n in source_names]
        for pos in self._streams():
            pos.generation += 1
            pos.start_generation = pos.generation
            pos.hole = "restart"
        self._count(None)

    def overflow(self) -> None:
        """Intake pauses (an OVERFLOW record): the next live message of each source measures the hole."""
        for pos in self._streams():
            pos.generation += 1
            if pos.hole is None:
                pos.hole = "overflow"
        self._count(None)

    def _service(self, source: int) -> Tuple[str, Positions]:
        """The name and positions of journal source `source` (>= 1); a new service starts fresh."""
        names = self.source_names
        name = names[source - 1] if source <= len(names) else f"source {source}"
        pos = self.services.get(name)
        if pos is None:
            pos = self.services[name] = Positions()
            # the recorder was running while this source was not recorded: no hole to measure
            pos.generation = pos.start_generation = self.positions.generation
        return name, pos

    def live(self, raw: Any, received_ns: int, record_gaps: bool = True, source: int = 0) -> List[GapRow]:
        """A live publication's envelope (a RawPublication: topic bytes, epoch, seq, topic_seq, event_ns,
        recv_ns), about to be journaled; returns the gap rows it reveals, to journal before it.
        `record_gaps` False: a replay of the journal, whose GAP records hold the rows already.
        `source` 0 is the broker's PUB; n the n-th service (its own epoch and seq: tracked apart)."""
        if source:
            name, pos = self._service(source)
            whole, causes = self.service_whole.get(name, False), Causes.of_service(name)
        else:
            name, pos, whole, causes = "", self.positions, self.whole_stream, BROKER_CAUSES
            pos.dater.see(raw.epoch, raw.event_ns)
        epoch, seq, recv_ns = raw.epoch, raw.seq, raw.recv_ns
        rows: Optional[List[Tuple[Any, ...]]] = None
        if pos.epoch != epoch:
            if pos.epoch is not None:
                rows = []
                if pos.hole is not None:
                    kind, cause = pos.hole, causes.hole(pos.hole, True)
                    # the recorder was not listening when the old broker stopped: what it published after
                    # the last message recorded is lost too, up to a last number nobody heard
                    rows.append(("", pos.seq + 1, UNKNOWN_LAST_SEQ, kind, cause, False, pos.last_recv_ns,
                                 pos.epoch))
                else:
                    kind, cause = "epoch", causes.epoch
                rows.append(("", 1, seq - 1, kind, cause, False, pos.last_recv_ns, epoch))
            pos.epoch = epoch
            pos.seq = 0
            pos.topics.clear()
        elif pos.seq and seq > pos.seq + 1 and (pos.hole is not None or whole):
            kind, cause = (pos.hole, causes.hole(pos.hole, False)) if pos.hole is not None else ("gap", causes.transit)
            rows = [("", pos.seq + 1, seq - 1, kind, cause, False, pos.last_recv_ns, epoch)]
        pos.hole = None
        lag = received_ns - recv_ns
        if self._receive_lag_ns is None or lag > self._receive_lag_ns:
            self._receive_lag_ns = lag
        if seq > pos.seq:
            pos.seq = seq
        pos.last_recv_ns = recv_ns
        topic_seq = raw.topic_seq
        entry = pos.topics.get(raw.topic)
        if entry is None:
            pos.topics[raw.topic] = [topic_seq, recv_ns, 0, pos.generation]
        else:
            last = entry[0]
            if last is not None and topic_seq <= last:
                self.stale += 1  # recorded all the same: never drop what the bus said
            else:
                if last is not None and topic_seq > last + 1:
                    if entry[3] == pos.generation:
                        kind, cause = "gap", causes.transit
                    elif entry[3] < pos.start_generation:
                        kind, cause = "restart", causes.hole("restart", False)
                    else:
                        kind, cause = "overflow", causes.hole("overflow", False)
                    row = (raw.topic.decode("ascii"), last + 1, topic_seq - 1, kind, cause, entry[2] > last, entry[1],
                           epoch)
                    rows = [row] if rows is None else rows + [row]
                entry[0] = topic_seq
                entry[1] = recv_ns
            entry[3] = pos.generation
        self.live_count += 1
        self._rows += 1
        self._count(received_ns)
        if rows is None:
            return []
        if source:
            day = kst_day(raw.event_ns if raw.event_ns is not None else recv_ns)
        else:
            day = pos.dater.day(epoch, raw.event_ns, recv_ns)
        ids = self.positions
        out = []
        for topic, first, last_seq, kind, cause, repaired, from_ns, row_epoch in rows:
            if record_gaps:
                ids.gap_id += 1
            gap = GapRow(received_ns, topic, row_epoch, first, last_seq, kind, cause, repaired, from_ns, recv_ns,
                         day, ids.gap_id, name)
            out.append(gap)
            self.gaps += 1
            self.missing += gap.missing
            if record_gaps:
                self._open_gaps.append(gap)
        return out

    def snapshot(self, raw: Any, received_ns: int) -> bool:
        """A snapshot item: True when it is newer than anything recorded of its topic (then it must be
        journaled), False when the lake already has that value."""
        pos = self.positions
        if pos.epoch is not None and raw.epoch == pos.epoch:
            entry = pos.topics.get(raw.topic)
            if entry is None:
                pos.topics[raw.topic] = [None, raw.recv_ns, raw.topic_seq, pos.generation]
            else:
                newest = max(entry[0] or 0, entry[2])
                entry[2] = max(entry[2], raw.topic_seq)
                if raw.topic_seq <= newest:
                    return False
        pos.dater.see(raw.epoch, raw.event_ns)
        self._rows += 1
        self._count(received_ns)
        return True

    def repaired(self, prefix: str) -> List[int]:
        """A snapshot of `prefix` completed (a REPAIRED record, listing the ids returned). A gap row of
        the current segment under `prefix` is repaired when that (or an earlier) snapshot held a value of
        its topic from after the hole; a whole-stream row ('') when the snapshot covered everything."""
        self._count(None)
        topics = self.positions.topics
        ids = []
        for n, row in enumerate(self._open_gaps):
            if row.repaired or row.source or not row.topic.startswith(prefix):
                continue  # a service's rows: the broker's snapshot cannot repair them
            if row.epoch != self.positions.epoch:
                continue  # an earlier broker's: a snapshot of this one says nothing of what it published
            if row.topic:
                entry = topics.get(row.topic.encode("ascii"))
                if entry is None or entry[2] < row.first_seq:
                    continue
            elif prefix:
                continue
            self._open_gaps[n] = replace(row, repaired=True)
            ids.append(row.id)
        self.repaired_rows += len(ids)
        return ids

    def marker(self) -> None:
        """A record that changes no position (a REPAIRED marker read back at start)."""
        self._count(None)

    def gap_recorded(self, gap: GapRow) -> None:
        """A GAP record read back from the journal at start (its id is taken)."""
        if gap.id > self.positions.gap_id:
            self.positions.gap_id = gap.id

    def _count(self, received_ns: Optional[int]) -> None:
        self._records += 1
        self._unflushed += 1
        if self._first_ns is None and received_ns is not None:
            self._first_ns = received_ns

    # ---- schedule ----------------------------------------------------------------------------

    @property
    def segment_records(self) -> int:
        return self._records

    @property
    def segment_rows(self) -> int:
        """Publications journaled in the current segment."""
        return self._rows

    @property
    def oldest_unrolled_ns(self) -> Optional[int]:
        return self._first_ns

    def flush_due(self, now_s: float) -> bool:
        return self._unflushed > 0 and now_s - self._last_flush_s >= self.flush_interval_s

    def flushed(self, now_s: float) -> None:
        self._unflushed = 0
        self._last_flush_s = now_s

    def repair_started(self, now_s: float) -> None:
        self._repairs.append(now_s)

    def repair_finished(self) -> None:
        if self._repairs:
            self._repairs.pop(0)

    def roll_due(self, now_s: float) -> bool:
        """Time (or size) to close the journal segment and hand it to the roller."""
        if self._records == 0:
            return False
        if self._records >= self.max_buffer_rows:
            return True
        if now_s - self._last_roll_s < self.roll_interval_s:
            return False
        # a repair in flight may still mark this segment's gap rows repaired: wait for it, a little
        waiting = self._open_gaps and self._repairs and now_s - self._repairs[0] < self.repair_wait_s
        return not waiting

    def take_segment(self, number: int, now_s: float) -> Segment:
        """The segment just closed (`number`), and a fresh count for the next."""
        seg = Segment(number, self._records, self._rows, self._first_ns, self._dater_start, self.state())
        self._records = 0
        self._rows = 0
        self._first_ns = None
        self._open_gaps = []
        self._dater_start = self.positions.dater.state()
        self._last_roll_s = now_s
        return seg

    def state(self) -> Dict[str, Any]:
        """The positions of every source, for the checkpoint (the broker's at the top level, as before)."""
        state = self.positions.to_state()
        if self.services or self.source_names:
            state["services"] = {name: pos.to_state() for name, pos in self.services.items()}
            state["source_names"] = list(self.source_names)
        return state

    def take_receive_lag_s(self) -> Optional[float]:
        """How far behind the bus the recorder reads: the largest delay from the broker's receive time
        to the recorder's of a live message since the last call (None: no message since)."""
        lag, self._receive_lag_ns = self._receive_lag_ns, None
        return None if lag is None else max(0.0, lag / 1e9)


@dataclass
class RollResult:
    """What the roller reports for one segment."""

    segment: int
    rows: int = 0
    gap_rows: int = 0
    bytes: int = 0
    error: Optional[str] = None
    #: the error is transient (a sink unavailable): roll the segment again later
    retry: bool = False
    #: a sink refused some table outright: the segment is kept under _recorder/rejected/
    rejected: bool = False
    #: how long the roll took (the roller's clock)
    seconds: float = 0.0


@dataclass
class RollQueue:
    """Closed segments from hand-over to commit: rolled by any free roller, committed in order (the
    checkpoint says 'everything up to N is in the sinks')."""

    waiting: Deque[Segment] = field(default_factory=deque)
    in_flight: Dict[int, Segment] = field(default_factory=dict)
    done: Dict[int, Tuple[Segment, RollResult]] = field(default_factory=dict)
    rows_written: int = 0
    rolls: int = 0
    last_roll_time_s: Optional[float] = None

    def add(self, segment: Segment) -> None:
        self.waiting.append(segment)

    def next(self) -> Optional[Segment]:
        """The next segment to hand to a free roller."""
        if not self.waiting:
            return None
        seg = self.waiting.popleft()
        self.in_flight[seg.number] = seg
        return seg

    def finished(self, result: RollResult) -> None:
        seg = self.in_flight.pop(result.segment)
        if result.retry:
            self.waiting.appendleft(seg)
        else:
            self.done[seg.number] = (seg, result)

    def committable(self) -> List[Tuple[Segment, RollResult]]:
        """Finished segments older than every waiting or in-flight one, oldest first (removed)."""
        pending = [s.number for s in self.waiting] + list(self.in_flight)
        floor = min(pending) if pending else None
        out = []
        for number in sorted(self.done):
            if floor is not None and number > floor:
                break
            out.append(self.done.pop(number))
        return out

    def committed(self, result: RollResult, now_s: float) -> None:
        self.rows_written += result.rows
        self.rolls += 1
        self.last_roll_time_s = now_s

    @property
    def busy(self) -> bool:
        return bool(self.waiting or self.in_flight or self.done)

    def unrolled_rows(self) -> int:
        return (sum(s.rows for s in self.waiting) + sum(s.rows for s in self.in_flight.values())
                + sum(s.rows for s, _ in self.done.values()))

    def oldest_ns(self) -> Optional[int]:
        times = [s.first_ns for s in list(self.waiting) + list(self.in_flight.values())
                 + [s for s, _ in self.done.values()] if s.first_ns is not None]
        return min(times) if times else None

