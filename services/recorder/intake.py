"""The recorder's intake thread: the bus (a Firehose) into the journal at wire speed.

One thread owns the SUB socket and the journal's writing end. It reads publications in batches, runs
gap tracking on their envelopes (RecorderCore), journals GAP rows and the raw frames, writes the journal
out every few MB and fsyncs it every `flush_interval_s`, and closes a segment when a roll is due,
handing it to the asyncio thread (`on_segment`) which gives it to a roller process. Bodies are never
decoded here.

Besides the broker's PUB it reads other services' PUBs (`services`: the alerting service's alerts by
default), each through its own Firehose, all polled together. Their records carry their source number
(1, 2, ...) in the journal, and the core tracks their gaps apart: a service has its own epoch and seq.

Other threads talk to it through `submit` (a queue drained after every batch): snapshot items and
repair markers from the asyncio thread's repairs, and `stop`.

Bounded: when more than `max_unrolled_bytes` of journal wait to be rolled (the rollers fall behind),
intake journals an OVERFLOW marker and pauses: it keeps draining the socket (so nothing piles up in
memory) but journals nothing, counting what it drops, until half of that is rolled. The first message
after the pause measures the hole as gap rows of kind `overflow`.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import msgpack
import zmq

from koabus.common.client.firehose import Firehose, parse
from koabus.common.client.options import CurveKeys

from .core import GapRow, RecorderCore, Segment
from .journal import EMPTY, GAP, LIVE, OVERFLOW, REPAIRED, SNAPSHOT, Journal

log = logging.getLogger(__name__)

#: publications read per batch, and the longest wait for one
BATCH = 5_000
POLL_MS = 50
#: journal bytes buffered in memory before they are written out (fsync stays every flush interval)
WRITE_BYTES = 4 << 20
#: intake resumes once the unrolled journal is below this fraction of max_unrolled_bytes
RESUME_FRACTION = 0.5

Command = Tuple[Any, ...]


class Intake(threading.Thread):
    """The intake thread. `on_segment(segment)` and `on_gaps(rows)` are called from this thread."""

    def __init__(self, *, pub: str, prefixes: Tuple[str, ...], journal: Journal, core: RecorderCore,
                 on_segment: Callable[[Segment], None], on_gaps: Callable[[Tuple[GapRow, ...]], None],
                 max_unrolled_bytes: int, curve: Optional[CurveKeys] = None, rcvhwm: int = 500_000,
                 context: Optional[zmq.Context] = None,
                 services: Sequence[Tuple[str, Tuple[str, ...]]] = ()):
        super().__init__(name="koabus-recorder-intake", daemon=True)
        self.pub = pub
        self.prefixes = prefixes
        #: (endpoint, prefixes) of the services recorded too: journal sources 1, 2, ...
        self.services = tuple(services)
        #: publications received per service source
        self.service_received: List[int] = [0] * len(self.services)
        self.journal = journal
        self.core = core
        self.on_segment = on_segment
        self.on_gaps = on_gaps
        self.max_unrolled_bytes = max_unrolled_bytes
        self.curve = curve
        self.rcvhwm = rcvhwm
        self.context = context
        self._inbox: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._halt = threading.Event()
        self.ready = threading.Event()
        self.paused = False
        #: publications read while paused (not journaled; the gap rows count them)
        self.dropped = 0
        self.pauses = 0
        self.received = 0
        self.malformed = 0
        self.error: Optional[BaseException] = None
        self._pack = msgpack.Packer(use_bin_type=True).pack

    # ---- from other threads --------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """('snapshot', frames, received_ns) | ('repaired', prefix) | ('repair_started', now_s) |
        ('repair_finished',)"""
        self._inbox.put(command)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading, write and fsync the journal, close the last segment (handed over), join."""
        self._halt.set()
        self.join(timeout_s)

    # ---- the thread ----------------------------------------------------------------------------

    def _open(self) -> List[Firehose]:
        hoses = [Firehose(self.pub, self.prefixes, self.curve, rcvhwm=self.rcvhwm, context=self.context)]
        try:
            for endpoint, prefixes in self.services:  # on this host: no CURVE
                hoses.append(Firehose(endpoint, prefixes, rcvhwm=self.rcvhwm, context=self.context))
        except Exception:
            for hose in hoses:
                hose.close()
            raise
        return hoses

    def run(self) -> None:
        try:
            hoses = self._open()
        except Exception as exc:
            self.error = exc
            self.ready.set()
            log.exception("intake could not open its sockets")
            return
        self.ready.set()
        poller = zmq.Poller()
        for hose in hoses:
            poller.register(hose.socket, zmq.POLLIN)
        try:
            while not self._halt.is_set():
                ready = dict(poller.poll(POLL_MS))
                for source, hose in enumerate(hoses):
                    if hose.socket not in ready:
                        continue
                    batch = hose.recv_batch(BATCH, 0)
                    if not batch:
                        continue
                    if self.paused:
                        self.dropped += len(batch)
                    else:
                        self._journal(batch, source)
                self.received = sum(hose.received for hose in hoses)
                self.malformed = sum(hose.malformed for hose in hoses)
                self.service_received = [hose.received for hose in hoses[1:]]
                self._commands()
                self._schedule(time.monotonic())
            self._commands()
            self.journal.flush()
            self.core.flushed(time.monotonic())
            if self.core.segment_records:
                self._rotate(time.monotonic())
        except BaseException as exc:
            self.error = exc
            log.exception("intake stopped on an error")
        finally:
            for hose in hoses:
                hose.close()

    def _journal(self, batch: list, source: int = 0) -> None:
        core, append = self.core, self.journal.append
        live = core.live
        for raw in batch:
            received = raw.received_ns
            gaps = live(raw, received, True, source)
            if gaps:
                for gap in gaps:
                    append(GAP, received, (b"", b"", self._pack(gap.to_payload())))
                self.on_gaps(tuple(gaps))
            append(LIVE, received, raw.frames, source)

    def _commands(self) -> None:
        inbox = self._inbox
        while True:
            try:
                command = inbox.get_nowait()
            except queue.Empty:
                return
            op = command[0]
            if op == "snapshot":
                frames, received = command[1], command[2]
                raw = parse(frames, received)
                if raw is not None and not self.paused and self.core.snapshot(raw, received):
                    self.journal.append(SNAPSHOT, received, raw.frames)
            elif op == "repaired":
                ids = self.core.repaired(command[1])
                self.journal.append(REPAIRED, time.time_ns(), (command[1].encode("ascii"), b"", self._pack(ids)))
            elif op == "repair_started":
                self.core.repair_started(command[1])
            elif op == "repair_finished":
                self.core.repair_finished()

    def _schedule(self, now: float) -> None:
        core, journal = self.core, self.journal
        if journal.buffered_bytes >= WRITE_BYTES:
            journal.flush(durable=False)
        if core.flush_due(now):
            journal.flush()
            core.flushed(now)
        unrolled = journal.size_bytes
        if not self.paused and unrolled > self.max_unrolled_bytes:
            self.paused = True
            self.pauses += 1
            log.error("%d bytes of journal wait to be rolled (max_unrolled_bytes %d): intake pauses, the loss "
                      "will be gap rows", unrolled, self.max_unrolled_bytes)
            journal.append(OVERFLOW, time.time_ns(), EMPTY)
            core.overflow()
            journal.flush()
            core.flushed(now)
            self._rotate(now)
            return
        if self.paused and unrolled <= self.max_unrolled_bytes * RESUME_FRACTION:
            self.paused = False
            log.warning("intake resumes (%d publications dropped while paused)", self.dropped)
        if core.roll_due(now):
            self._rotate(now)

    def _rotate(self, now: float) -> None:
        number = self.journal.rotate()
        self.core.flushed(now)
        self.on_segment(self.core.take_segment(number, now))
