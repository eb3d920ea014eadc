"""History sync: asks the broker only for the bars the store lacks, and makes each answer durable at once.

Daily bars page backwards from a base date (opt10081 기준일자), so every page is its own request and
is written (with the range it proves) before the next one is sent. Minute bars (opt10080) page
backwards from *now* only, so one paged request runs from now to the oldest missing session; each
session is written as soon as an older row proves it complete. A killed sync therefore loses at most
the page in flight, and the next run asks only for what is still missing. "Now" is the broker's
clock (`status` clock_s, virtual on the simulator), so the current session is never stored.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

from koabus.common.clock import KST
from koabus.common.lake import layout
from koabus.common.lake.history import (
    DAILY_TR,
    DAWN,
    MINUTE_TR,
    HistoryStore,
    last_final_session,
    missing_days,
    missing_ranges,
    row_day,
)

#: Kiwoom's TR windows, for the ETA when the broker does not tell (a read-only key's status)
DEFAULT_TR_WINDOWS: Tuple[Tuple[int, float], ...] = ((5, 1.0), (5, 18.0), (25, 90.0), (50, 180.0), (1000, 3600.0))
DAILY_ROWS_PER_PAGE = 600
MINUTE_ROWS_PER_PAGE = 900
_SESSION_MINUTES = 390


# ---- pure parts ------------------------------------------------------------------------------------

def paced_eta_s(requests: int, windows: Sequence[Sequence[float]], sent_times: Sequence[float], now_s: float,
                wait_s: float = 0.0, queued_ahead: int = 0) -> float:
    """Broker-clock seconds until `requests` more TRs are sent under the sliding `windows` (count, span).

    Replays the pacer: each call goes at the earliest time every window allows, counting the calls
    already sent (`sent_times`) and those queued ahead of ours, starting no sooner than `wait_s`.
    """
    times = sorted(sent_times)
    last = t = now_s + max(0.0, wait_s)
    for _ in range(max(0, queued_ahead) + max(0, requests)):
        earliest = t
        for count, span in windows:
            count = int(count)
            if count > 0 and len(times) >= count:
                earliest = max(earliest, times[-count] + float(span))
        times.append(earliest)
        t = last = earliest
    return max(0.0, last - now_s) if requests > 0 else 0.0


class DayAssembler:
    """Groups minute rows arriving newest first into complete sessions.

    A session is complete once a row of an older session arrives, or when the answer ends (the stop
    condition at the oldest wanted session, or the end of the data). Wanted sessions that no row
    names between two seen ones, or past the oldest seen, had no bars: they complete empty.
    """

    def __init__(self, wanted: Sequence[date]):
        self.wanted: Set[date] = set(wanted)
        self.pending: Optional[date] = None
        self.rows: Dict[Any, Dict[str, Any]] = {}
        self.emitted: Set[date] = set()

    def feed(self, rows: Sequence[Dict[str, Any]]) -> List[Tuple[date, List[Dict[str, Any]]]]:
        done: List[Tuple[date, List[Dict[str, Any]]]] = []
        for row in rows:
            stamp = row.get("체결시간")
            day = row_day(stamp)
            if day is None:
                continue
            if self.pending is None:
                done += self._empties(day)
                self.pending = day
            elif day < self.pending:
                done += self._complete()
                done += self._empties(day)
                self.pending = day
            elif day > self.pending:
                continue  # newer than what is being assembled: not a row of this answer's order
            self.rows[stamp] = row  # a row repeated at a page boundary: the later copy wins
        return done

    def finish(self) -> List[Tuple[date, List[Dict[str, Any]]]]:
        """The answer ended: the pending session is complete, every older wanted one is empty."""
        done = self._complete()
        return done + self._empties(None)

    def _complete(self) -> List[Tuple[date, List[Dict[str, Any]]]]:
        day, rows = self.pending, list(self.rows.values())
        self.rows = {}
        if day is None or day not in self.wanted or day in self.emitted:
            return []
        self.emitted.add(day)
        return [(day, rows)]

    def _empties(self, newer_than: Optional[date]) -> List[Tuple[date, List[Dict[str, Any]]]]:
        """Wanted sessions not yet emitted and newer than `newer_than` (None: all): they had no bars."""
        days = sorted((d for d in self.wanted - self.emitted if newer_than is None or d > newer_than),
                      reverse=True)
        self.emitted.update(days)
        return [(d, []) for d in days]


# ---- plan and report -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SyncJob:
    """One series to complete: a code's daily bars (interval 0) or its `interval`-minute bars."""

    code: str
    interval: int
    ranges: Tuple[Tuple[date, date], ...] = ()  # daily: missing ranges, newest first
    days: Tuple[date, ...] = ()                 # minute: missing sessions, oldest first
    estimate: int = 0                           # TR requests expected

    @property
    def kind(self) -> str:
        return "daily" if self.interval == 0 else f"minute{self.interval}"

    @property
    def table(self) -> str:
        return layout.HISTORY_DAILY if self.interval == 0 else layout.history_minute_table(self.interval)


@dataclass(frozen=True)
class SyncPlan:
    since: date
    until: date
    jobs: Tuple[SyncJob, ...]

    @property
    def requests(self) -> int:
        return sum(j.estimate for j in self.jobs)


@dataclass
class SyncReport:
    requests: int = 0
    rows: int = 0
    sessions: int = 0
    errors: List[Tuple[str, str, str]] = field(default_factory=list)  # (code, kind, message)

    def as_dict(self) -> Dict[str, Any]:
        return {"requests": self.requests, "rows": self.rows, "sessions": self.sessions,
                "errors": [{"code": c, "kind": k, "error": e} for c, k, e in self.errors]}


class Progress:
    """What a sync tells its watcher (the CLI's progress bar); every method is optional to override."""

    def planned(self, plan: SyncPlan) -> None: ...

    def job(self, job: SyncJob) -> None: ...

    def page(self, job: SyncJob, rows: int, remaining: int) -> None: ...


# ---- the engine --------------------------------------------------------------------------------------

class HistorySync:
    """Fills a HistoryStore from a connected AsyncClient, one request at a time (the broker paces)."""

    def __init__(self, client: Any, store: HistoryStore, calendar: Any = None, now: Optional[datetime] = None):
        if calendar is None:
            from koabus.common.client.calendar import calendar as make_calendar

            calendar = make_calendar()
        self.client = client
        self.store = store
        self.calendar = calendar
        self.now_override = now
        self.pacing: Dict[str, Any] = {}
        self.speed = 1.0
        self.sent_times: List[float] = []  # broker-clock estimates of our requests' send times
        self._clock: Optional[Tuple[float, float]] = None  # (wall, broker clock) of the last status
        self._first_clock: Optional[Tuple[float, float]] = None

    # -- the broker's clock and pacing
    async def refresh(self) -> None:
        """Read the broker's clock and TR pacing state from `status` (no TR is sent)."""
        status = await self.client.status()
        pacing = status.get("pacing") if isinstance(status, dict) else None
        self.pacing = dict(pacing.get("tr") or {}) if isinstance(pacing, dict) else {}
        clock = status.get("clock_s") if isinstance(status, dict) else None
        if isinstance(clock, (int, float)):
            sample = (time.monotonic(), float(clock))
            if self._first_clock is None:
                self._first_clock = sample
            elif sample[0] - self._first_clock[0] >= 1.0:
                self.speed = max(0.01, (sample[1] - self._first_clock[1]) / (sample[0] - self._first_clock[0]))
            self._clock = sample

    def broker_time(self) -> float:
        if self._clock is None:
            return time.time()
        wall, clock = self._clock
        return clock + (time.monotonic() - wall) * self.speed

    async def now(self) -> datetime:
        if self.now_override is not None:
            return self.now_override
        await self.refresh()
        return datetime.fromtimestamp(self.broker_time(), KST)

    def eta_s(self, remaining: int) -> float:
        """Wall seconds until `remaining` more requests are sent, from the broker's pacing windows."""
        windows = self.pacing.get("windows") or DEFAULT_TR_WINDOWS
        broker_s = paced_eta_s(remaining, windows, self.sent_times, self.broker_time(),
                               wait_s=float(self.pacing.get("wait_s") or 0.0),
                               queued_ahead=int(self.pacing.get("queued") or 0))
        return broker_s / self.speed

    # -- planning
    async def plan(self, codes: Sequence[str], daily: bool, minutes: Sequence[int], since: date,
                   until: Optional[date] = None) -> SyncPlan:
        if until is None:
            until = last_final_session(await self.now(), self.calendar)
        jobs: List[SyncJob] = []
        for code in codes:
            if daily:
                ranges = missing_ranges(self.store.daily_coverage(code), since, until, self.calendar)
                if ranges:
                    estimate = sum(_daily_pages(a, b) for a, b in ranges)
                    jobs.append(SyncJob(code, 0, ranges=tuple(ranges), estimate=estimate))
            for interval in minutes:
                days = missing_days(self.store.minute_days(code, interval), since, until, self.calendar)
                if days:
                    jobs.append(SyncJob(code, int(interval), days=tuple(days),
                                        estimate=self._minute_pages(days[0], until, interval)))
        return SyncPlan(since, until, tuple(jobs))

    def _minute_pages(self, oldest: date, until: date, interval: int) -> int:
        sessions = len(self.calendar.sessions(oldest, until)) + 1  # + today's bars, newest first
        return max(1, math.ceil(sessions * (_SESSION_MINUTES // max(1, interval) + 1) / MINUTE_ROWS_PER_PAGE))

    # -- running
    async def run(self, plan: SyncPlan, progress: Optional[Progress] = None,
                  raise_errors: bool = False) -> SyncReport:
        """Every job in turn; a job's error is reported (or raised) and the next job goes on."""
        from koabus.common.errors import KoabusError

        progress = progress or Progress()
        report = SyncReport()
        progress.planned(plan)
        for job in plan.jobs:
            progress.job(job)
            self.store.clean(job.table, job.code)
            try:
                if job.interval == 0:
                    await self._daily(job, report, progress)
                else:
                    await self._minute(job, report, progress)
            except KoabusError as exc:
                if raise_errors:
                    raise
                report.errors.append((job.code, job.kind, f"{exc.kind}: {exc}"))
        return report

    def _sent(self, report: SyncReport) -> None:
        report.requests += 1
        self.sent_times.append(self.broker_time())

    async def _daily(self, job: SyncJob, report: SyncReport, progress: Progress) -> None:
        done = 0
        for first, last in job.ranges:
            base = last
            while base >= first:
                rows, more = await self._daily_page(job.code, base)
                self._sent(report)
                done += 1
                days = [row_day(r.get("일자")) for r in rows]
                kept = [r for r, d in zip(rows, days) if d is not None and first <= d <= base]
                seen = [d for d in days if d is not None]
                oldest = min(seen) if seen else None
                complete = not more or oldest is None or oldest <= first
                covered_from = first if complete else oldest
                report.rows += self.store.write_daily(job.code, kept, (covered_from, base))
                progress.page(job, len(kept), max(0, job.estimate - done))
                if complete:
                    break
                base = oldest - timedelta(days=1)

    async def _daily_page(self, code: str, base: date) -> Tuple[List[Dict[str, Any]], bool]:
        inputs = {"종목코드": code, "기준일자": base.strftime("%Y%m%d"), "수정주가구분": "0"}
        rows: List[Dict[str, Any]] = []
        more = False
        async for page in self.client.tr(DAILY_TR, inputs, max_pages=1):
            rows.extend(page.multi)
            more = page.prev_next == "2"
        return rows, more

    async def _minute(self, job: SyncJob, report: SyncReport, progress: Progress) -> None:
        oldest = job.days[0]
        assembler = DayAssembler(job.days)
        inputs = {"종목코드": job.code, "틱범위": str(job.interval), "수정주가구분": "0"}
        stop = {"field": "체결시간", "op": "<", "value": oldest.strftime("%Y%m%d") + "000000"}
        stream = self.client.tr(MINUTE_TR, inputs, all_pages=True, stop=stop)
        done = 0
        last_page = -1
        async for page in stream:
            if page.page != last_page:  # a split page arrives as several parts of one request
                last_page = page.page
                self._sent(report)
                done += 1
            for day, rows in assembler.feed(page.multi):
                self._write_minute(job, day, rows, report)
            progress.page(job, len(page.multi), max(0, job.estimate - done))
        for day, rows in assembler.finish():
            self._write_minute(job, day, rows, report)

    def _write_minute(self, job: SyncJob, day: date, rows: List[Dict[str, Any]], report: SyncReport) -> None:
        report.rows += self.store.write_minute_day(job.code, job.interval, day, rows)
        report.sessions += 1


def _daily_pages(first: date, last: date) -> int:
    """Pages a daily range needs: ~250 sessions a year, 40 years at most (older data rarely exists)."""
    days = min((last - first).days + 1, 365 * 40)
    return max(1, math.ceil(days * 250 / 365 / DAILY_ROWS_PER_PAGE))


# ---- the SDK's cached reads ----------------------------------------------------------------------------

async def cached_bars(client: Any, tr_code: str, code: str, interval: int, start: Any, end: Any, *,
                      english: Optional[bool], lake: Any = None,
                      on_page: Optional[Callable[[Any], Any]] = None) -> Any:
    """Bars [start, end] as `client.daily()` / `client.minute()` return them, the final sessions read
    from the store (fetching only the sessions it lacks, then kept), the rest asked live, never kept."""
    from koabus.common.client import frames

    oldest = frames.to_timestamp(start)
    newest = frames.to_timestamp(end, end_of_day=True) if end is not None else None
    if tr_code == MINUTE_TR and oldest is None:
        from koabus.common.errors import InvalidRequest

        raise InvalidRequest("cached minute bars need a start")
    store = HistoryStore(lake if lake is not None else layout.DEFAULT_ROOT)
    sync = HistorySync(client, store)
    now = await sync.now()
    until = last_final_session(now, sync.calendar)
    first = oldest.date() if oldest is not None else DAWN
    last = min(newest.date(), until) if newest is not None else until
    table = layout.HISTORY_DAILY if tr_code == DAILY_TR else layout.history_minute_table(interval)
    rows: List[Dict[str, Any]] = []
    if first <= last:
        plan = await sync.plan([code], tr_code == DAILY_TR, [interval] if tr_code == MINUTE_TR else [],
                               first, last)
        await sync.run(plan, raise_errors=True)
        rows = store.wire_rows(table, store.read(table, code, first, last))
    live_from = max(until + timedelta(days=1), first)
    live_to = min(newest.date(), now.date()) if newest is not None else now.date()
    if live_from <= live_to and sync.calendar.sessions(live_from, live_to):  # not final yet: asked, not kept
        live_start = frames.to_timestamp(live_from)
        if tr_code == DAILY_TR:
            rows = await client._dated_rows(tr_code, code, live_start, newest, False, on_page) + rows
        else:
            rows = await client._timed_rows(tr_code, code, interval, live_start, newest, False, None,
                                            on_page) + rows
    english = client.options.english if english is None else english
    return frames.bars(tr_code, rows, english, oldest, newest)
