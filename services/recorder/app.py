"""The recorder process: intake thread -> journal -> roller processes -> sinks; heartbeats on its own PUB.

Three parts, each on its own core as far as the machine allows:
- the intake thread (intake.py): a Firehose SUB into the journal, gap tracking on envelopes only (plus
  one per `services` entry, e.g. the alerting service's alerts, each source's gaps tracked apart);
- roller processes (roller.py, `rollers` of them): closed journal segments into Arrow tables and the
  sinks, outside this process's GIL;
- this asyncio loop: hands closed segments to free rollers and commits the checkpoint in segment
  order, the request side (AsyncClient: registers the realtime pairs with the broker's `subscribe`
  op, takes snapshots to repair gaps, reconnects), heartbeats. Intake does not depend on it: with no
  broker answering requests, what the PUB publishes is still recorded.

Order of work at start: open the journal (cut a torn tail), replay the segments a previous process did
not roll through a fresh core (its positions; the rows go to the rollers), journal a START marker,
start the rollers and intake, connect. At SIGTERM/SIGINT: stop the request side, stop intake (fsync,
close the last segment), wait for the rolls (each at most SHUTDOWN_WRITE_S), stop the rollers, close.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import msgpack
import zmq
import zmq.asyncio

from koabus.common.client.firehose import parse
from koabus.common.errors import KoabusError
from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.common.lake import layout
from koabus.services.skeleton.connect import client_options, close_client, connect_until_stopped, curve_keys
from koabus.services.skeleton.runner import run_until_stopped
from koabus.services.skeleton.status import StatusPublisher
from koabus.services.skeleton.tasks import BackgroundTasks

from .config import RecorderSettings
from .core import SERVICE, GapRow, RecorderCore, RollQueue, RollResult, Segment
from .intake import Intake
from .journal import GAP, LIVE, OVERFLOW, SNAPSHOT, START, Journal, hold_lake

log = logging.getLogger(__name__)

#: how often the loop checks rolls and the heartbeat
TICK_S = 0.05
#: codes per `subscribe` request
SUBSCRIBE_CHUNK = 100
#: more topics than this waiting for a repair: one snapshot of the recorded prefixes instead
MAX_TOPIC_REPAIRS = 20
#: waits before rolling a segment again after a sink was unavailable (the last value repeats)
SINK_RETRY_S = (0.5, 1.0, 2.0, 5.0, 10.0)
#: at SIGTERM, the rolls in flight and the last one get this long in all
SHUTDOWN_WRITE_S = 10.0
#: a roller that does not answer its start within this is a failure
ROLLER_START_S = 60.0


def lake_bytes(root: str) -> int:
    """Bytes of the lake's data files (the recorder's own folder left out)."""
    total = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith("_")]
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                pass
    return total


def rss_bytes(pid: int) -> int:
    """Resident memory of process `pid` (Linux /proc), 0 when unknown."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def roller_config(settings: RecorderSettings) -> Dict[str, Any]:
    return {"lake": settings.lake, "sinks": list(settings.sinks), "log_level": settings.logging.level,
            "postgres": {"dsn": settings.postgres.dsn, "schema": settings.postgres.schema}}


class RollerProcess:
    """One `python -m koabus.services.recorder.roller` child and its command pipe (JSON lines)."""

    def __init__(self, config: Dict[str, Any]):
        self.config = config
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.busy = False
        #: its pipe closed (it died): replaced before the next roll
        self.dead = False

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    async def start(self) -> None:
        self.dead = False
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "koabus.services.recorder.roller", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, limit=1 << 20)
        await self._send(self.config)
        line = await asyncio.wait_for(self.proc.stdout.readline(), ROLLER_START_S)
        if not line:
            raise KoabusError("the roller process exited at start (see the log)")

    async def _send(self, data: Dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(data).encode() + b"\n")
        await self.proc.stdin.drain()

    async def roll(self, segment: Segment, path: Path, key: str) -> RollResult:
        """Roll one segment; a roller that dies meanwhile is an error to retry (with a new roller)."""
        try:
            await self._send({"op": "roll", "segment": segment.number, "path": str(path), "key": key,
                              "dater": segment.dater})
            line = await self.proc.stdout.readline()
        except (ConnectionError, OSError) as exc:
            line, why = b"", str(exc)
        else:
            why = "it exited"
        if not line:
            self.dead = True
            return RollResult(segment.number, error=f"the roller process failed ({why})", retry=True)
        data = json.loads(line)
        return RollResult(segment.number, int(data.get("rows", 0)), int(data.get("gap_rows", 0)),
                          int(data.get("bytes", 0)), data.get("error"), bool(data.get("retry")),
                          bool(data.get("rejected")), float(data.get("seconds") or 0.0))

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None and not self.dead

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Ask it to close its sinks and exit; killed after `timeout_s`."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            if proc.returncode is None:
                proc.stdin.write(b'{"op": "stop"}\n')
                await proc.stdin.drain()
                proc.stdin.close()
        except (ConnectionError, OSError):
            pass
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except asyncio.TimeoutError:
            log.warning("the roller %d did not stop in %.0f s; killing it", proc.pid, timeout_s)
            proc.kill()
            await proc.wait()


class Recorder:
    """A running recorder. `await run(stop)` until `stop` is set; returns the exit code."""

    def __init__(self, settings: RecorderSettings):
        self.settings = settings
        self.journal = Journal(settings.lake)
        self.core: Optional[RecorderCore] = None
        self.rolls = RollQueue()
        self.beat = ServiceBeat(Identity.here(SERVICE), settings.heartbeat_ms)
        self.state = "starting"
        self.client: Any = None
        self.intake: Optional[Intake] = None
        self.rollers: List[RollerProcess] = []
        self.disk_bytes = 0
        self.replayed_segments = 0
        self.degraded = False
        self.publisher: Optional[StatusPublisher] = None
        self._next_beat = 0.0
        self._repair_wanted: Dict[str, None] = {}
        self._repair_wake: Optional[asyncio.Event] = None
        self._roll_wake: Optional[asyncio.Event] = None
        self.tasks = BackgroundTasks("recorder")
        self._retries: Dict[int, int] = {}
        self._loop: Any = None
        self._stopping = False
        self._said_recording = False

    # ---- start: journal recovery ---------------------------------------------------------------

    def recover(self) -> List[Segment]:
        """Open the journal, replay what a previous process journaled but did not roll (positions only:
        its GAP records hold its gap rows), journal a START marker. Returns the segments to roll."""
        pending = self.journal.open()
        s = self.settings
        now = time.monotonic()
        core = RecorderCore(whole_stream=s.whole_stream, flush_interval_s=s.flush_interval_s,
                            roll_interval_s=s.roll_interval_s, max_buffer_rows=s.max_buffer_rows,
                            repair_wait_s=s.repair_wait_s, state=self.journal.checkpoint.state, now_s=now,
                            services={source.label: source.whole_stream for source in s.services})
        segments = []
        for number in pending:
            for record in self.journal.read(number):
                replay(core, record)
            segments.append(core.take_segment(number, now))
        if pending:
            log.info("%d journal segment(s) a previous recorder left will be rolled (%d records)", len(pending),
                     sum(seg.records for seg in segments))
        self.replayed_segments = len(pending)
        names = [source.label for source in s.services]
        self.journal.append(START, time.time_ns(), (b"", b"", msgpack.packb(names)))
        core.start(names)
        self.journal.flush()
        core.flushed(now)
        self.core = core
        return segments

    # ---- the loop ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> int:
        self._loop = asyncio.get_event_loop()
        ctx = zmq.asyncio.Context.instance()
        self.publisher = StatusPublisher.bind(ctx, self.settings.status, SERVICE, self.settings.name, self.beat,
                                              sndhwm=1000)
        self._repair_wake = asyncio.Event()
        self._roll_wake = asyncio.Event()
        code = 0
        try:
            segments = await self._loop.run_in_executor(None, self.recover)
            self.disk_bytes = await self._loop.run_in_executor(None, lake_bytes, self.settings.lake)
            for seg in segments:
                self.rolls.add(seg)
            for _ in range(self.settings.rollers):
                roller = RollerProcess(roller_config(self.settings))
                self.rollers.append(roller)
                await roller.start()
            self._start_intake(ctx)
            self.state = "connecting"
            self._spawn(self._dispatch())
            self._spawn(self._repairs())
            self._spawn(self._connect(stop))
            while not stop.is_set():
                try:
                    await asyncio.wait_for(stop.wait(), TICK_S)
                except asyncio.TimeoutError:
                    pass
                if self.intake is not None and not self.intake.is_alive():
                    log.error("the intake thread ended: %s", self.intake.error)
                    self.beat.error(f"intake: {self.intake.error}")
                    code = 1
                    break
                self._tick()
        finally:
            await self._shutdown()
        return code

    def _start_intake(self, ctx: zmq.asyncio.Context) -> None:
        s = self.settings
        self.intake = Intake(pub=s.pub, prefixes=s.topics, journal=self.journal, core=self.core,
                             on_segment=self._segment_closed, on_gaps=self._gaps_found,
                             max_unrolled_bytes=s.max_unrolled_bytes, curve=curve_keys(s), rcvhwm=s.rcvhwm,
                             context=zmq.Context.shadow(ctx.underlying),
                             services=[(source.endpoint, source.prefixes) for source in s.services])
        self.intake.start()
        self.intake.ready.wait(10)
        if self.intake.error is not None:
            raise self.intake.error

    def _tick(self) -> None:
        intake = self.intake
        if intake is not None and self.client is None and intake.received and not self._said_recording:
            self._said_recording = True
            log.info("recording what %s publishes; no broker answers requests at %s yet", self.settings.pub,
                     self.settings.router)
        if any(not r.alive and not r.busy for r in self.rollers):
            self._roll_wake.set()  # replace it now, not at the next roll
        now = time.monotonic()
        if now >= self._next_beat:
            self._next_beat = now + self.settings.heartbeat_ms / 1000.0
            self._beat()

    # ---- from the intake thread ----------------------------------------------------------------

    def _segment_closed(self, segment: Segment) -> None:
        self._loop.call_soon_threadsafe(self._add_segment, segment)

    def _add_segment(self, segment: Segment) -> None:
        self.rolls.add(segment)
        self._roll_wake.set()

    def _gaps_found(self, rows: Tuple[GapRow, ...]) -> None:
        self._loop.call_soon_threadsafe(self._log_gaps, rows)

    def _log_gaps(self, rows: Tuple[GapRow, ...]) -> None:
        for gap in rows:
            # with the whole stream recorded its '' row says it all; the topic rows go to DEBUG
            level = logging.DEBUG if gap.topic and self.settings.whole_stream and not gap.source else logging.WARNING
            log.log(level, "gap on %s: %s %d..%d (%d missing): %s", gap.topic or gap.source or "the bus", gap.kind,
                    gap.first_seq, gap.last_seq, gap.missing, gap.cause)
            if gap.source:
                continue  # another service's stream: the broker's snapshot has nothing of it
            if gap.topic:
                self._want_repair(gap.topic)
            else:
                for prefix in self.settings.topics:
                    self._want_repair(prefix)

    # ---- rolls ---------------------------------------------------------------------------------

    def batch_key(self, number: int) -> str:
        return layout.batch_key(f"{self.journal.journal_id}-{number:08d}", 0, self.journal.segment_size(number))

    async def _dispatch(self) -> None:
        """Give waiting segments to free rollers, one each."""
        while True:
            await self._roll_wake.wait()
            self._roll_wake.clear()
            if self.degraded:
                continue
            for roller in self.rollers:
                if roller.busy:
                    continue
                if not roller.alive:
                    roller.busy = True
                    self._spawn(self._replace(roller))
                    continue
                seg = self.rolls.next()
                if seg is None:
                    break
                roller.busy = True
                self._spawn(self._roll(roller, seg))

    async def _roll(self, roller: RollerProcess, seg: Segment) -> None:
        try:
            result = await roller.roll(seg, self.journal.path(seg.number), self.batch_key(seg.number))
        except asyncio.CancelledError:
            self.rolls.finished(RollResult(seg.number, error="stopped", retry=True))
            raise
        roller.busy = False
        self.rolls.finished(result)
        if result.retry:
            attempt = self._retries.get(seg.number, 0)
            self._retries[seg.number] = attempt + 1
            wait = SINK_RETRY_S[min(attempt, len(SINK_RETRY_S) - 1)]
            log.warning("rolling journal segment %d failed (%s); again in %.1f s", seg.number, result.error, wait)
            self.beat.error(result.error or "roll failed")
            self._loop.call_later(wait, self._roll_wake.set)
            return
        self._retries.pop(seg.number, None)
        log.debug("journal segment %d rolled by roller %s: %d rows, %d gap rows in %.2f s", seg.number, roller.pid,
                  result.rows, result.gap_rows, result.seconds)
        if result.error and not result.rejected:
            self._degrade(f"journal segment {seg.number} was not written: {result.error}")
        elif result.error:
            self.beat.error(result.error)
        self._commit()
        self._roll_wake.set()

    async def _replace(self, roller: RollerProcess) -> None:
        """A roller died (killed, crashed): start another in its place."""
        if self._stopping:
            return
        log.error("a roller process (pid %s) died; starting another", roller.pid)
        await roller.stop(1.0)
        try:
            await roller.start()
        except (KoabusError, OSError, asyncio.TimeoutError) as exc:
            self._degrade(f"cannot start a roller: {exc}")
            return
        roller.busy = False
        self._roll_wake.set()

    def _commit(self) -> None:
        for seg, result in self.rolls.committable():
            if result.error and not result.rejected:
                # a failed segment stays in the journal: nothing after it may be checkpointed
                self.rolls.done[seg.number] = (seg, result)
                return
            self.journal.commit(seg.number, seg.state)
            self.rolls.committed(result, time.time())
            self.disk_bytes += result.bytes

    def _degrade(self, why: str) -> None:
        """Stop rolling: from now on the journal alone keeps the data (replayed at the next start)."""
        if not self.degraded:
            log.error("%s; rolling stops, the journal keeps everything until the next start", why)
        self.degraded = True
        self.state = "degraded"
        self.beat.error(why)

    # ---- the request side ----------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> None:
        """Connect (retrying while no broker answers), register the realtime pairs, take a snapshot."""
        s = self.settings
        self.client = await connect_until_stopped(client_options(s), stop, log)
        if self.client is None:
            return
        if self.state == "connecting":
            self.state = "running"
        self.client.connection.add_reconnect_hook(self._after_reconnect)
        await self._register()
        for prefix in s.topics:
            self._want_repair(prefix)
        log.info("recording %s from %s into %s (%s)", ", ".join(repr(t) for t in s.topics), s.pub, s.lake,
                 ", ".join(s.sinks))

    async def _register(self) -> None:
        """Ask the broker to publish the configured realtime pairs."""
        rt = self.settings.realtime
        codes = list(rt.codes)
        for n in range(0, len(codes), SUBSCRIBE_CHUNK):
            try:
                await self.client.request("subscribe", {"codes": codes[n:n + SUBSCRIBE_CHUNK],
                                                        "types": list(rt.types)})
            except KoabusError as exc:
                log.error("the broker refused realtime %s x %s: %s", codes[n:n + SUBSCRIBE_CHUNK], rt.types, exc)
                self.beat.error(f"subscribe: {exc}")

    async def _after_reconnect(self) -> None:
        await self._register()
        for prefix in self.settings.topics:
            self._want_repair(prefix)

    def _want_repair(self, prefix: str) -> None:
        wanted = self._repair_wanted
        if prefix in wanted:
            return
        topics = [p for p in wanted if p not in self.settings.topics]
        if len(topics) >= MAX_TOPIC_REPAIRS:  # too many: one snapshot of everything recorded instead
            wanted.clear()
            for p in self.settings.topics:
                wanted[p] = None
        else:
            wanted[prefix] = None
        if self._repair_wake is not None:
            self._repair_wake.set()

    async def _repairs(self) -> None:
        """One snapshot at a time, for the prefixes/topics whose gaps wait for one."""
        while True:
            await self._repair_wake.wait()
            self._repair_wake.clear()
            while self._repair_wanted and self.client is not None:
                prefix = next(iter(self._repair_wanted))
                del self._repair_wanted[prefix]
                await self._repair(prefix)

    async def _repair(self, prefix: str) -> None:
        """The broker's last values under `prefix`, handed to intake (journaled as snapshot rows where newer
        than what the lake holds), then a REPAIRED marker (the gap rows under `prefix` are repaired)."""
        intake = self.intake
        intake.submit(("repair_started", time.monotonic()))
        exact = prefix not in self.settings.topics
        try:
            conn = self.client.connection
            stream = await conn.open_stream("snapshot", {"prefix": prefix}, idle_timeout_s=conn.options.timeout_s)
            async for data in stream:
                for item in (data if isinstance(data, list) else [data]):
                    frames = _snapshot_frames(item)
                    if frames is None or (exact and frames[0] != prefix.encode("ascii")):
                        continue
                    intake.submit(("snapshot", frames, time.time_ns()))
            intake.submit(("repaired", prefix))
        except KoabusError as exc:
            log.warning("could not repair %r from the broker's snapshot: %s", prefix, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("repairing %r failed", prefix)
        finally:
            intake.submit(("repair_finished",))

    # ---- heartbeat -----------------------------------------------------------------------------

    def _beat(self) -> None:
        if self.publisher is None:
            return
        core, intake, rolls = self.core, self.intake, self.rolls
        now_ns = time.time_ns()
        oldest = [ns for ns in (rolls.oldest_ns(), core.oldest_unrolled_ns if core else None) if ns is not None]
        state = self.state
        if state == "connecting" and intake is not None and intake.received:
            state = "running"  # recording; the request side still waits for a broker
        if intake is not None and intake.paused and state == "running":
            state = "paused"
        fields = {
            "rows_written": rolls.rows_written, "rolls": rolls.rolls, "last_roll_time": rolls.last_roll_time_s,
            "gaps": core.gaps if core else 0, "missing": core.missing if core else 0,
            "repaired": core.repaired_rows if core else 0,
            "stale": core.stale if core else 0,
            "buffered_rows": rolls.unrolled_rows() + (core.segment_rows if core else 0),
            "lake_lag_s": round(max(0.0, (now_ns - min(oldest)) / 1e9), 3) if oldest else 0.0,
            "disk_bytes": self.disk_bytes, "journal_bytes": self.journal.size_bytes,
            "received": intake.received if intake else 0, "malformed": intake.malformed if intake else 0,
            "dropped": intake.dropped if intake else 0, "pauses": intake.pauses if intake else 0,
            "intake": ("paused" if intake.paused else "running") if intake and intake.is_alive() else "stopped",
            "broker": "connected" if self.client is not None else "connecting",
            "rss_bytes": rss_bytes(os.getpid()),
            "roller_pids": [r.pid for r in self.rollers if r.pid],
            "roller_rss_bytes": sum(rss_bytes(r.pid) for r in self.rollers if r.pid),
            "sinks": list(self.settings.sinks), "lake": str(Path(self.settings.lake).resolve()),
            "broker_epoch": core.positions.epoch if core else None, "broker_seq": core.positions.seq if core else 0,
            "services": [self._service_fields(n, source.label, source.endpoint)
                         for n, source in enumerate(self.settings.services)],
        }
        lag = core.take_receive_lag_s() if core else None
        self.publisher.beat(state, 0.0 if lag is None else lag, **fields)

    def _service_fields(self, n: int, name: str, endpoint: str) -> Dict[str, Any]:
        """A recorded service's line in the heartbeat: what intake read of it, where its stream stands."""
        intake = self.intake
        received = intake.service_received if intake is not None else []
        pos = self.core.services.get(name) if self.core is not None else None
        return {"name": name, "endpoint": endpoint,
                "received": received[n] if n < len(received) else 0,
                "epoch": pos.epoch if pos is not None else None, "seq": pos.seq if pos is not None else 0}

    # ---- stop ----------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)

    async def _shutdown(self) -> None:
        """Stop the request side and intake, wait for the rolls, stop the rollers, close."""
        self.state = "stopping"
        self._stopping = True
        log.info("recorder stopping: closing the journal and rolling it")
        await close_client(self.client)
        if self.intake is not None:
            await self._loop.run_in_executor(None, self.intake.stop)
        await asyncio.sleep(0)  # the last segment's hand-over
        deadline = time.monotonic() + SHUTDOWN_WRITE_S
        if self._roll_wake is not None:
            self._roll_wake.set()
        while self.rolls.busy and not self.degraded and time.monotonic() < deadline and self.rollers:
            await asyncio.sleep(TICK_S)
        if self.rolls.busy:
            log.warning("%d journal segment(s) not rolled at stop; the next start rolls them",
                        len(self.rolls.waiting) + len(self.rolls.in_flight) + len(self.rolls.done))
        await self.tasks.cancel_all()
        await asyncio.gather(*(r.stop() for r in self.rollers), return_exceptions=True)
        self._beat()
        self.journal.close()
        if self.publisher is not None:
            self.publisher.close()
        log.info("recorder stopped: %d rows written, %d gap rows", self.rolls.rows_written,
                 self.core.gaps if self.core else 0)


def replay(core: RecorderCore, record: Any) -> None:
    """Apply one journal record of an unrolled segment to a fresh core at start (positions only)."""
    kind = record.kind
    if kind == LIVE or kind == SNAPSHOT:
        raw = parse(record.frames, record.recv_wall_ns)
        if raw is None:
            return
        if kind == LIVE:
            core.live(raw, record.recv_wall_ns, record_gaps=False, source=record.source)
        else:
            core.snapshot(raw, record.recv_wall_ns)
    elif kind == START:
        core.start(start_sources(record.frames[2]))
    elif kind == OVERFLOW:
        core.overflow()
    elif kind == GAP:
        from .roller import _body

        gap = GapRow.from_payload(_body(record.frames[2]))
        if gap is not None:
            core.gap_recorded(gap)
    else:
        core.marker()


def start_sources(body: bytes) -> List[str]:
    """The service names a START record lists (journal sources 1, 2, ...); [] for an older, empty one."""
    if not body:
        return []
    try:
        names = msgpack.unpackb(body, raw=False)
    except Exception:  # a START record is our own; unreadable means none
        return []
    return [str(n) for n in names] if isinstance(names, list) else []


def _snapshot_frames(item: Any) -> Optional[List[bytes]]:
    """A snapshot item (a map, docs/protocol.md §5) as publication frames; None when malformed."""
    from koabus.common.protocol import Publication

    try:
        return Publication.from_dict(item).to_frames()
    except (KoabusError, TypeError, ValueError):
        return None


def run(settings: RecorderSettings) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code."""
    owner = hold_lake(settings.lake)  # noqa: F841 (held until the process exits)

    async def start(stop: asyncio.Event, _reload: asyncio.Event) -> int:
        # intake makes and drops a few objects per message: collect young objects less often, and keep
        # what start-up made out of every collection
        gc.freeze()
        gc.set_threshold(50_000, 20, 100)
        return await Recorder(settings).run(stop)

    return run_until_stopped(start)
