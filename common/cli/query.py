"""`koabus query "SQL"`: DuckDB over the Parquet lake, printed as a table, CSV or JSON, or written to a file.

The SQL is the user's own, run on their own files, so it is passed to DuckDB as written. Views:
one per table folder (rt_trade, ch_order, cond, sys, gaps, history_daily, ...), `ticks`, and the
table macros `bars(code, day, interval)` and `gaps_of(day)` (see koabus.common.lake.query).
Exit codes: 0 done, 1 the lake holds no data, 2 a usage or SQL error (one line on stderr).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from koabus.common.cli import views
from koabus.common.lake.layout import DEFAULT_ROOT

EXIT_EMPTY = 1
EXIT_USAGE = 2


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "query", help="SQL over the recorded lake (DuckDB over Parquet)",
        description="Run SQL over the lake. Views: rt_<type> (rt_trade, rt_quote, ...), ch_<kind>, cond, sys, "
                    "gaps, history_daily, history_minute<N>, ticks; table macros bars(code, day, interval) and "
                    "gaps_of(day). Example: koabus query \"SELECT * FROM bars('005930', '2026-11-24', "
                    "'5 minutes')\"")
    p.add_argument("sql", nargs="?", help="one SQL statement")
    p.add_argument("--tables", action="store_true", help="list the tables with row counts and date ranges")
    p.add_argument("--lake", type=Path, default=Path(DEFAULT_ROOT), help="lake root folder (%(default)s)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write all rows to FILE.csv or FILE.parquet")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="stdout format (default: table)")
    p.add_argument("--limit", type=_count, metavar="N",
                   help=f"at most N rows (a table shows {views.ROW_LIMIT} unless given)")
    p.set_defaults(func=lambda args: cmd_query(args, p))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a row count (0 or more)")
    return value


def _fail(message: str) -> None:
    first = str(message).strip().splitlines()
    print(f"koabus query: {first[0] if first else 'failed'}", file=sys.stderr)


def cmd_query(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if bool(args.sql) == bool(args.tables):
        parser.error("give one SQL statement or --tables")
    if args.tables and args.out:
        parser.error("--out writes query results; use --format csv|json with --tables")
    import duckdb

    from koabus.common.lake.query import Lake

    with Lake(args.lake) as lake:
        if lake.empty:
            _fail(f"the lake at {args.lake} holds no data yet (no Parquet files under rt/, ch/, cond/, sys/, "
                  "gaps/ or history/): record with `koabus recorder`, or point --lake at a lake folder")
            return EXIT_EMPTY
        try:
            if args.tables:
                _show(lake.table_stats(), args.format, "lake tables", None)
            elif args.out:
                rows = lake.export(args.sql, args.out, limit=args.limit)
                print(f"wrote {rows} rows to {args.out}", file=sys.stderr)
            else:
                shown = args.limit if args.limit is not None or args.format != "table" else views.ROW_LIMIT
                table = lake.arrow(args.sql, limit=None if shown is None else shown + 1)
                more = shown is not None and table.num_rows > shown
                if more:
                    table = table.slice(0, shown)
                _show(table, args.format, "", shown if more and args.limit is None else None)
        except duckdb.Error as exc:
            _fail(exc)
            return EXIT_USAGE
        except (OSError, ValueError) as exc:
            _fail(exc)
            return EXIT_USAGE
    return 0


def _show(table: Any, fmt: str, title: str, cut_at: Any) -> None:
    """Print an Arrow table; `cut_at` is the row count a table was cut to (more rows exist)."""
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(table.column_names)
        columns = [table.column(i).to_pylist() for i in range(table.num_columns)]  # by position: names may repeat
        for row in zip(*columns):
            writer.writerow([_text(v) for v in row])
        return
    if fmt == "json":
        print(json.dumps([{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()],
                         ensure_ascii=False))
        return
    from koabus.common.lake.query import frame_of

    frame = frame_of(table)
    rendered, rows = views.frame_table(frame, title, None, limit=max(len(frame), 1))
    console = _console()
    console.print(rendered)
    if cut_at is not None:
        console.print(f"first {cut_at} rows shown (more exist: --limit N, --format csv or --out FILE for all)")


def _console() -> Any:
    """stdout; a file or a pipe gets wide lines instead of tables squeezed into 80 columns."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(highlight=False, width=max(console.width, 240))
    return console


def _jsonable(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)) or hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _text(value: Any) -> str:
    """A CSV cell: empty for null, ISO times with a space, true/false, JSON for nested values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # pandas Timestamps too
        return value.isoformat(sep=" ")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_jsonable(value), ensure_ascii=False)
    return str(_jsonable(value))
