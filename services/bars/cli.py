"""`koabus bars`: run the bar builder (trades in, OHLCV bars out on its own PUB)."""
from __future__ import annotations

import argparse

from koabus.services.skeleton.cli import add_bus_options, bus_overrides, run_cli

from .config import DEFAULT_PUBLISH, DEFAULT_SNAPSHOT


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "bars", help="OHLCV bars (1m ... 60m) from the trade stream, on the service's own PUB",
        description="Run the bar builder: trades (주식체결) of the configured codes into OHLCV bars on the KRX "
                    f"session grid, published as bar.<interval>.<code> on {DEFAULT_PUBLISH}, the bars in "
                    f"progress served as a snapshot on {DEFAULT_SNAPSHOT}. See docs/consumers.md.")
    # no --status: the service's own PUB is --publish (bars and heartbeats)
    add_bus_options(parser, "bars", None)
    parser.add_argument("--publish", metavar="EP",
                        help=f"the service's own PUB: bars and heartbeats (default {DEFAULT_PUBLISH})")
    parser.add_argument("--snapshot", metavar="EP",
                        help=f"the service's ROUTER: status and snapshot (default {DEFAULT_SNAPSHOT})")
    parser.add_argument("--codes", nargs="+", metavar="CODE", help="the codes whose trades make bars")
    parser.add_argument("--intervals", nargs="+", metavar="INTERVAL", help="bar intervals, e.g. 1m 5m 60m")
    parser.add_argument("--no-backfill", action="store_true", help="do not fill the first bars from the minute TR")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .config import load_settings

    return run_cli("bars", lambda: load_settings(args.config, {
        **bus_overrides(args), "codes": args.codes, "intervals": args.intervals, "publish": args.publish,
        "snapshot": args.snapshot, "backfill": False if args.no_backfill else None}), _start)


def _start(settings) -> int:
    from .app import run

    return run(settings)
