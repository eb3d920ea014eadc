"""`koabus lake info|compact`: what the Parquet lake holds, and merging a finished day's batch files.

Exit codes: 0 done, 1 a partition failed or another process is compacting, 2 a bad option.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Dict, List

from koabus.common.lake.layout import DEFAULT_ROOT

EXIT_FAILED = 1
EXIT_USAGE = 2


def register(subparsers) -> None:
    p = subparsers.add_parser("lake", help="the recorded lake: info, compact",
                              description="Inspect or compact the Parquet lake (docs/recorder.md).")
    sub = p.add_subparsers(dest="lake_command", metavar="ACTION")
    info = sub.add_parser("info", help="tables, dates, files, rows and bytes",
                          description="Per table: partitions, dates, files, rows (from the footers) and bytes; "
                                      "with --table, one line per partition.")
    _common(info)
    info.set_defaults(func=cmd_info)
    comp = sub.add_parser("compact", help="merge each past day's batch files into one file per partition",
                          description="Merge the batch files of every partition dated before --before (default "
                                      "and at most: today in Asia/Seoul) into one compacted.parquet. Files of "
                                      "journal segments the recorder has not committed are left alone.")
    _common(comp)
    comp.add_argument("--before", metavar="YYYY-MM-DD", help="only dates before this one (default: today, KST)")
    comp.add_argument("--dry-run", action="store_true", help="say what would be merged; change nothing")
    comp.set_defaults(func=cmd_compact)
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lake", type=Path, default=Path(DEFAULT_ROOT), help="lake root folder (%(default)s)")
    p.add_argument("--table", metavar="T", help="one table (rt_trade, gaps, history_minute1, ...)")


def _fail(message: Any) -> None:
    print(f"koabus lake: {message}", file=sys.stderr)


def _console() -> Any:
    from koabus.common.cli.query import _console as console

    return console()


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _checked_table(name: Any) -> None:
    if name is not None:
        from koabus.common.lake import layout

        layout.folder_of(name)


def cmd_info(args: argparse.Namespace) -> int:
    from koabus.common.cli import views
    from koabus.common.errors import InvalidRequest
    from koabus.common.lake import compact

    try:
        _checked_table(args.table)
    except InvalidRequest as exc:
        _fail(exc)
        return EXIT_USAGE
    infos = compact.partition_info(args.lake, args.table)
    console = _console()
    if not infos:
        console.print(f"no data files under {args.lake}" + (f" for {args.table}" if args.table else ""))
        return 0
    table = views.compact_table(f"lake {args.lake}" + (f": {args.table}" if args.table else ""))
    if args.table:
        for name in ("code", "date") if infos[0].code else ("date",):
            table.add_column(name)
        for name in ("files", "rows", "bytes", "compacted"):
            table.add_column(name, justify="right")
        for i in infos:
            keys = [i.code or "", i.date or ""] if infos[0].code else [i.date or ""]
            table.add_row(*keys, f"{i.files:,}", f"{i.rows:,}", _size(i.bytes), "yes" if i.compacted else "")
    else:
        rows = compact.summary_rows(infos)
        table.add_column("table")
        for name in ("partitions", "first date", "last date", "files", "rows", "bytes", "max files/partition",
                     "compacted"):
            table.add_column(name, justify="right")
        for r in rows:
            table.add_row(r["table"], f"{r['partitions']:,}", r["first_date"] or "", r["last_date"] or "",
                          f"{r['files']:,}", f"{r['rows']:,}", _size(r["bytes"]), f"{r['max_files']:,}",
                          f"{r['compacted']:,}")
    console.print(table)
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    from koabus.common.cli import views
    from koabus.common.errors import InvalidRequest
    from koabus.common.lake import compact

    try:
        _checked_table(args.table)
        report = compact.compact(args.lake, table=args.table, before=args.before, dry_run=args.dry_run)
    except compact.LakeBusy as exc:
        _fail(exc)
        return EXIT_FAILED
    except InvalidRequest as exc:
        _fail(exc)
        return EXIT_USAGE
    console = _console()
    for note in report.notes:
        console.print(f"note: {note}")
    done = [p for p in report.partitions if p.action != "failed"]
    verb = "would compact" if report.dry_run else "compacted"
    if not done and not report.failed:
        console.print(f"nothing to compact before {report.before} in {args.lake}")
        return 0
    if done:
        table = views.compact_table(f"{verb}: partitions dated before {report.before}")
        table.add_column("table")
        for name in ("partitions", "files before", "files after", "rows", "bytes before", "bytes after",
                     "held", "leftovers"):
            table.add_column(name, justify="right")
        for r in _per_table(done):
            table.add_row(r["table"], f"{r['partitions']:,}", f"{r['files_before']:,}", f"{r['files_after']:,}",
                          f"{r['rows']:,}" if not report.dry_run else "", _size(r["bytes_before"]),
                          _size(r["bytes_after"]) if not report.dry_run else "", f"{r['held']:,}",
                          f"{r['leftovers']:,}")
        console.print(table)
    held = sum(p.held for p in done)
    if held:
        console.print(f"{held:,} file(s) of journal segments the recorder has not committed were left alone")
    for p in report.failed:
        console.print(f"[red]failed[/red] {p.where}: {p.error}")
    console.print(f"{verb} {len([p for p in done if p.action == 'compacted']):,} partition(s): "
                  f"{report.files_removed:,} file(s) fewer"
                  + (f", {_size(report.bytes_saved)} saved" if not report.dry_run else ""))
    return EXIT_FAILED if report.failed else 0


def _per_table(results: List[Any]) -> List[Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for p in results:
        row = out.setdefault(p.table, {"table": p.table, "partitions": 0, "files_before": 0, "files_after": 0,
                                       "rows": 0, "bytes_before": 0, "bytes_after": 0, "held": 0, "leftovers": 0})
        row["partitions"] += 1
        for name in ("files_before", "files_after", "rows", "bytes_before", "bytes_after", "held", "leftovers"):
            row[name] += getattr(p, name)
    return [out[k] for k in sorted(out)]
