"""`koabus web`: the dashboard (one page: watchlist, chart, order book, orders, alerts, health)."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "web", help="the web dashboard: live prices, chart, order book, orders, alerts, service health",
        description="Serve the dashboard page (http://127.0.0.1:8765/ by default) bridging the bus to the "
                    "browser over a WebSocket. Bound off loopback it needs auth_token; orders only with "
                    "trading: true and a CURVE key holding the trade role. See docs/consumers.md.")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/web.yaml)")
    parser.add_argument("--host", help="address to bind (default 127.0.0.1; anything else needs auth_token)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8765)")
    parser.add_argument("--router", metavar="EP", help="the broker's ROUTER (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="the broker's PUB (default tcp://127.0.0.1:5571)")
    parser.add_argument("--codes", metavar="CODE", nargs="+", help="the watchlist (default from the config)")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from koabus.services.broker.cli import configure_logging

    from .config import SettingsError, load_settings, resolve_auth_token, trading_allowed

    try:
        settings = load_settings(args.config, {
            "host": args.host, "port": args.port, "router": args.router, "pub": args.pub,
            "codes": args.codes, "logging.level": args.log_level})
        token = resolve_auth_token(settings)
        trading = trading_allowed(settings)
    except (SettingsError, OSError) as exc:
        print(f"koabus web: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
    configure_logging(settings.logging)
    from .app import run

    try:
        return run(settings, token, trading)
    except OSError as exc:  # the port is taken
        print(f"koabus web: {exc}", file=sys.stderr)
        return 2
