"""`koabus bars`: run the bar builder (trades in, OHLCV bars out on its own PUB)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bars", help="OHLCV bars (1m ... 60m) from the trade stream, on the service's own PUB",
        description="Run the bar builder: trades (주식체결) of the configured codes into OHLCV bars on the KRX "
                    "session grid, published as bar.<interval>.<code> on tcp://127.0.0.1:5592, the bars in "
                    "progress served as a snapshot on tcp://127.0.0.1:5596. See docs/consumers.md.")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/bars.yaml)")
    parser.add_argument("--codes", nargs="+", metavar="CODE", help="the codes whose trades make bars")
    parser.add_argument("--intervals", nargs="+", metavar="INTERVAL", help="bar intervals, e.g. 1m 5m 60m")
    parser.add_argument("--router", metavar="EP", help="the broker's ROUTER (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="the broker's PUB (default tcp://127.0.0.1:5571)")
    parser.add_argument("--publish", metavar="EP",
                        help="the service's own PUB: bars and heartbeats (default tcp://127.0.0.1:5592)")
    parser.add_argument("--snapshot", metavar="EP",
                        help="the service's ROUTER: status and snapshot (default tcp://127.0.0.1:5596)")
    parser.add_argument("--no-backfill", action="store_true", help="do not fill the first bars from the minute TR")
    parser.add_argument("--name", help="the service's name in its heartbeat (default koabus-bars)")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from koabus.services.broker.cli import configure_logging

    from .config import SettingsError, load_settings

    try:
        settings = load_settings(args.config, {
            "codes": args.codes, "intervals": args.intervals, "router": args.router, "pub": args.pub,
            "publish": args.publish, "snapshot": args.snapshot, "name": args.name,
            "backfill": False if args.no_backfill else None, "logging.level": args.log_level})
    except (SettingsError, OSError) as exc:
        print(f"koabus bars: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    configure_logging(settings.logging)
    from .app import run

    return run(settings)
