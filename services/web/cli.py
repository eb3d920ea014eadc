"""`koabus web`: the dashboard (one page: watchlist, chart, order book, orders, alerts, health)."""
from __future__ import annotations

import argparse
from typing import Any

from koabus.services.skeleton.cli import add_bus_options, bus_overrides, run_cli


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "web", help="the web dashboard: live prices, chart, order book, orders, alerts, service health",
        description="Serve the dashboard page (http://127.0.0.1:8765/ by default) bridging the bus to the "
                    "browser over a WebSocket. Bound off loopback it needs auth_token; orders only with "
                    "trading: true and a CURVE key holding the trade role. See docs/consumers.md.")
    # no --status or --name: the dashboard's heartbeat PUB and name come from the config file
    add_bus_options(parser, "web", None, name_help=None)
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; anything else needs auth_token)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8765)")
    parser.add_argument("--codes", metavar="CODE", nargs="+", help="the watchlist (default from the config)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .config import load_settings

    return run_cli("web", lambda: load_settings(args.config, {
        **bus_overrides(args), "host": args.host, "port": args.port, "codes": args.codes}), _start)


def _start(settings: Any) -> int:
    """The auth token and the trading check fail like a bad setting; so does a port already taken."""
    from .app import run
    from .config import resolve_auth_token, trading_allowed

    return run(settings, resolve_auth_token(settings), trading_allowed(settings))
