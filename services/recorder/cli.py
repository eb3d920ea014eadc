"""`koabus recorder`: record the bus into the lake (journal first, then Parquet and/or PostgreSQL)."""
from __future__ import annotations

import argparse

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.skeleton.cli import add_bus_options, bus_overrides, run_cli


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recorder", help="record the bus into the lake: journal, Parquet/PostgreSQL, gaps table",
        description="Run the recorder: every publication is journaled (crash-safe, fsynced every flush "
                    "interval), rolled into Parquet files and/or PostgreSQL tables, and every sequence gap "
                    "becomes a row of the gaps table. See docs/recorder.md.")
    add_bus_options(parser, "recorder", SERVICE_STATUS_ENDPOINTS["recorder"],
                    status_help="the recorder's own heartbeat PUB")
    parser.add_argument("--lake", metavar="DIR", help="the lake's root directory (default ./data)")
    parser.add_argument("--topics", nargs="+", metavar="PREFIX",
                        help='topic prefixes to record (default: "" = everything)')
    parser.add_argument("--codes", nargs="+", metavar="CODE", help="realtime codes to register with the broker")
    parser.add_argument("--types", nargs="+", metavar="TYPE",
                        help="realtime types for --codes (default trade quote book)")
    parser.add_argument("--sink", action="append", choices=("parquet", "postgres"),
                        help="where rolls go (repeatable; default parquet)")
    parser.add_argument("--dsn", help="PostgreSQL connection string for the postgres sink")
    parser.add_argument("--roll-interval", type=float, metavar="S", help="roll into the sinks every S seconds (30)")
    parser.add_argument("--flush-interval", type=float, metavar="S",
                        help="fsync the journal every S seconds: what a kill -9 may lose (1)")
    parser.add_argument("--max-buffer-rows", type=int, metavar="N",
                        help="roll early once the journal segment holds N records (200000)")
    parser.add_argument("--max-unrolled-bytes", type=int, metavar="N",
                        help="pause intake (gap rows record the loss) once N journal bytes wait to be rolled")
    parser.add_argument("--rollers", type=int, metavar="N", help="roller processes (default 1)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .config import load_settings

    return run_cli("recorder", lambda: load_settings(args.config, {
        **bus_overrides(args), "lake": args.lake, "topics": args.topics, "realtime.codes": args.codes,
        "realtime.types": args.types, "sinks": args.sink, "postgres.dsn": args.dsn,
        "roll_interval_s": args.roll_interval, "flush_interval_s": args.flush_interval,
        "max_buffer_rows": args.max_buffer_rows, "max_unrolled_bytes": args.max_unrolled_bytes,
        "rollers": args.rollers}), _start)


def _start(settings) -> int:
    from .app import run

    return run(settings)
