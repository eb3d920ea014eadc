"""`koabus sync`: keep the lake's history store (daily and minute bars from TRs) up to date.

    koabus sync --codes codes.txt --daily --minute 1 --since 2024-01-01

Only what the store lacks is requested; each answer is on disk before the next request, so a killed
sync resumes where it stopped, and a second run of the same command sends no TR at all. The
progress bar's ETA replays the broker's TR pacing windows over the requests still needed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, List, Optional

from koabus.common.cli.commands import _common, _guarded
from koabus.common.cli.keys import curve_from_args
from koabus.common.errors import InvalidRequest

EXIT_PARTIAL = 1


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("sync", help="download missing daily/minute bars into the lake's history store",
                              parents=[_common()])
    p.add_argument("--codes", required=True, metavar="FILE|CODES",
                   help="a file of codes (one per line or comma separated, # comments) or codes: 005930,000660")
    p.add_argument("--daily", action="store_true", help="daily bars (opt10081)")
    p.add_argument("--minute", type=int, action="append", default=[], metavar="N",
                   help="N-minute bars (opt10080 틱범위: 1 3 5 10 15 30 45 60); repeat for several")
    p.add_argument("--since", required=True, help="oldest session wanted (YYYY-MM-DD or YYYYMMDD)")
    p.add_argument("--lake", type=Path, default=None, help="lake root (default ./data)")
    p.add_argument("--now", default=None,
                   help="sync as of this KST time (ISO); default: the broker's clock (virtual on the simulator)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_guarded(cmd_sync))


def read_codes(text: str) -> List[str]:
    """Codes from a file (when `text` names one) or from the text itself; order kept, duplicates dropped."""
    if os.path.isfile(text):
        with open(text, encoding="utf-8") as handle:
            text = "\n".join(line.split("#", 1)[0] for line in handle)
    codes = [c for c in text.replace(",", " ").split() if c]
    if not codes:
        raise InvalidRequest("--codes names no code")
    return list(dict.fromkeys(codes))


def _day(text: str) -> date:
    text = text.strip()
    try:
        return datetime.strptime(text, "%Y%m%d").date() if text.isdigit() else date.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"--since takes YYYY-MM-DD or YYYYMMDD, not {text!r}") from None


def _minutes(values: List[int]) -> List[int]:
    from koabus.metadata import catalog

    allowed = next((i.values for i in catalog().tr("opt10080").inputs if i.name == "틱범위"), None) or {}
    for n in values:
        if allowed and str(n) not in allowed:
            raise InvalidRequest(f"--minute {n}: opt10080 takes {' '.join(allowed)}")
    return list(dict.fromkeys(values))


def cmd_sync(args: argparse.Namespace) -> int:
    if not args.daily and not args.minute:
        raise InvalidRequest("say what to sync: --daily and/or --minute N")
    codes = read_codes(args.codes)
    since = _day(args.since)
    minutes = _minutes(args.minute)
    now = None
    if args.now:
        from koabus.common.clock import KST

        now = datetime.fromisoformat(args.now)
        now = now.astimezone(KST) if now.tzinfo else now.replace(tzinfo=KST)
    report = asyncio.run(_sync(args, codes, since, minutes, now))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        errors = report["errors"]
        print(f"sync: {len(codes)} code(s) up to {report['until']}: {report['requests']} TR request(s), "
              f"{report['rows']} row(s), {report['sessions']} minute session(s) written"
              f"{f', {len(errors)} error(s)' if errors else ''} -> {report['lake']}", file=sys.stderr)
        for err in errors:
            print(f"koabus: {err['code']} {err['kind']}: {err['error']}", file=sys.stderr)
    return EXIT_PARTIAL if report["errors"] else 0


async def _sync(args: argparse.Namespace, codes: List[str], since: date, minutes: List[int],
                now: Optional[datetime]) -> Any:
    from koabus.common.client import AsyncClient, ClientOptions
    from koabus.common.lake import layout
    from koabus.common.lake.history import HistoryStore
    from koabus.common.lake.history_sync import HistorySync

    options = ClientOptions(router=args.router, pub=args.pub, timeout_s=args.timeout,
                            connect_timeout_s=min(args.connect_timeout, args.timeout), client_name="koabus-sync",
                            curve=curve_from_args(args))
    lake = args.lake if args.lake is not None else Path(layout.DEFAULT_ROOT)
    async with AsyncClient(options=options) as client:
        names = await client.names(codes)  # control calls, not TRs: a typo must not be stored as "no data"
        unknown = [c for c, n in zip(codes, names) if not n]
        sync = HistorySync(client, HistoryStore(lake), now=now)
        plan = await sync.plan([c for c in codes if c not in unknown], args.daily, minutes, since)
        bar = _Bar(sync, enabled=not args.quiet and not args.json)
        with bar:
            poller = asyncio.ensure_future(bar.poll())
            try:
                report = await sync.run(plan, bar)
            finally:
                poller.cancel()
    report.errors[:0] = [(c, "code", "NotFound: the broker knows no such code") for c in unknown]
    return {**report.as_dict(), "since": plan.since.isoformat(), "until": plan.until.isoformat(),
            "planned": plan.requests, "lake": str(lake)}


class _Bar:
    """The rich progress bar: requests done of those planned, with the pacing-aware ETA."""

    def __init__(self, sync: Any, enabled: bool):
        self.sync = sync
        self.enabled = enabled
        self.progress: Any = None
        self.task: Any = None
        self.remaining = 0
        self.done = 0
        self.planned_total = 0

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("requests  {task.fields[eta]}"),
                                     console=Console(stderr=True), transient=False)
            self.progress.__enter__()
            self.task = self.progress.add_task("sync", total=1, eta="")
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.progress is not None:
            self.progress.__exit__(*exc)

    async def poll(self) -> None:
        """Refresh the broker's pacing state (a `status`, never a TR) so the ETA follows it."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.sync.refresh()
            except Exception:  # the ETA is a nicety; the sync itself reports real failures
                continue
            self._show()

    # sync.Progress
    def planned(self, plan: Any) -> None:
        self.planned_total = self.remaining = plan.requests
        self._jobs = {id(j): j.estimate for j in plan.jobs}
        self._show()

    def job(self, job: Any) -> None:
        self.current = job
        self.job_done = 0
        if self.progress is not None:
            self.progress.update(self.task, description=f"{job.code} {job.kind}")

    def page(self, job: Any, rows: int, remaining: int) -> None:
        self.done += 1
        self.job_done += 1
        self._jobs[id(job)] = remaining
        self.remaining = sum(self._jobs.values())
        self._show()

    def _show(self) -> None:
        if self.progress is None:
            return
        eta = self.sync.eta_s(self.remaining)
        wait = float(self.sync.pacing.get("wait_s") or 0.0) / self.sync.speed  # broker seconds -> wall
        note = f"ETA {_duration(eta)}" + (f"  paced: next in {wait:.0f}s" if wait >= 1 else "")
        self.progress.update(self.task, total=max(1, self.done + self.remaining), completed=self.done, eta=note)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"

