"""`koabus recorder`: record the bus into the lake (journal first, then Parquet and/or PostgreSQL)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recorder", help="record the bus into the lake: journal, Parquet/PostgreSQL, gaps table",
        description="Run the recorder: every publication is journaled (crash-safe, fsynced every flush "
                    "interval), rolled into Parquet files and/or PostgreSQL tables, and every sequence gap "
                    "becomes a row of the gaps table. See docs/recorder.md.")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/recorder.yaml)")
    parser.add_argument("--lake", metavar="DIR", help="the lake's root directory (default ./data)")
    parser.add_argument("--router", metavar="EP", help="the broker's ROUTER (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="the broker's PUB (default tcp://127.0.0.1:5571)")
    parser.add_argument("--status", metavar="EP",
                        help="the recorder's own heartbeat PUB (default tcp://127.0.0.1:5590)")
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
    parser.add_argument("--name", help="the recorder's name in its heartbeat (default koabus-recorder)")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from koabus.services.broker.cli import configure_logging

    from .config import SettingsError, load_settings

    try:
        settings = load_settings(args.config, {
            "lake": args.lake, "router": args.router, "pub": args.pub, "status": args.status,
            "topics": args.topics, "realtime.codes": args.codes, "realtime.types": args.types,
            "sinks": args.sink, "postgres.dsn": args.dsn, "roll_interval_s": args.roll_interval,
            "flush_interval_s": args.flush_interval, "max_buffer_rows": args.max_buffer_rows,
            "max_unrolled_bytes": args.max_unrolled_bytes, "rollers": args.rollers,
            "name": args.name, "logging.level": args.log_level})
        configure_logging(settings.logging)
        from .app import run

        return run(settings)
    except (SettingsError, OSError) as exc:
        print(f"koabus recorder: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
