"""`koabus relay`: re-publish a broker's bus (or another relay's) on another host or port."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "relay", help="fan the bus out to another host or port (XSUB/XPUB proxy, requests passed through)",
        description="Run a relay: the upstream's publications re-published downstream with subscriptions "
                    "forwarded up, and requests (snapshots, gap repairs, anything) passed to the upstream "
                    "untouched, one upstream connection per client. See docs/relay.md.")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/relay.example.yaml)")
    parser.add_argument("--upstream-router", metavar="EP", help="the broker's ROUTER (default tcp://127.0.0.1:5570)")
    parser.add_argument("--upstream-pub", metavar="EP", help="the broker's PUB (default tcp://127.0.0.1:5571)")
    parser.add_argument("--router", metavar="EP", help="downstream ROUTER (default tcp://127.0.0.1:5580)")
    parser.add_argument("--pub", metavar="EP", help="downstream XPUB (default tcp://127.0.0.1:5581)")
    parser.add_argument("--status", metavar="EP", help="the relay's own heartbeat PUB (default tcp://127.0.0.1:5582)")
    parser.add_argument("--name", help="the relay's name in its heartbeat (default koabus-relay)")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from koabus.services.broker.cli import configure_logging

    from .config import SettingsError, load_settings

    try:
        settings = load_settings(args.config, {
            "upstream.router": args.upstream_router, "upstream.pub": args.upstream_pub,
            "downstream.router": args.router, "downstream.pub": args.pub, "downstream.status": args.status,
            "name": args.name, "logging.level": args.log_level})
        configure_logging(settings.logging)
        from .app import run

        return run(settings)
    except (SettingsError, OSError) as exc:
        print(f"koabus relay: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
