"""`koabus relay`: re-publish a broker's bus (or another relay's) on another host or port."""
from __future__ import annotations

import argparse

from koabus.services.skeleton.cli import add_bus_options, run_cli

from .config import DEFAULT_PUB, DEFAULT_ROUTER, DEFAULT_STATUS, DEFAULT_UPSTREAM_PUB, DEFAULT_UPSTREAM_ROUTER


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "relay", help="fan the bus out to another host or port (XSUB/XPUB proxy, requests passed through)",
        description="Run a relay: the upstream's publications re-published downstream with subscriptions "
                    "forwarded up, and requests (snapshots, gap repairs, anything) passed to the upstream "
                    "untouched, one upstream connection per client. See docs/relay.md.")
    add_bus_options(parser, "relay", DEFAULT_STATUS, config_example="deploy/relay.example.yaml",
                    status_help="the relay's own heartbeat PUB",
                    router_help=f"downstream ROUTER (default {DEFAULT_ROUTER})",
                    pub_help=f"downstream XPUB (default {DEFAULT_PUB})")
    parser.add_argument("--upstream-router", metavar="EP", help=f"the broker's ROUTER (default {DEFAULT_UPSTREAM_ROUTER})")
    parser.add_argument("--upstream-pub", metavar="EP", help=f"the broker's PUB (default {DEFAULT_UPSTREAM_PUB})")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .config import load_settings

    return run_cli("relay", lambda: load_settings(args.config, {
        "upstream.router": args.upstream_router, "upstream.pub": args.upstream_pub,
        "downstream.router": args.router, "downstream.pub": args.pub, "downstream.status": args.status,
        "name": args.name, "logging.level": args.log_level}), _start)


def _start(settings) -> int:
    from .app import run

    return run(settings)
