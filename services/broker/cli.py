"""`koabus broker`: run the broker on the simulated control or the real OpenAPI+ control."""
from __future__ import annotations

import argparse
import logging
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "broker", help="run the koabus broker (Kiwoom OpenAPI+ on ZeroMQ)",
        description="Run the broker: the control (simulated or real) on the Qt main thread, ROUTER and PUB "
                    "sockets on an I/O thread. Stops in order on SIGINT/SIGTERM or the shutdown op.")
    parser.add_argument("--backend", choices=("sim", "openapi"), default=None,
                        help="control backend (default from the config file, else sim)")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/broker.example.yaml)")
    parser.add_argument("--router", metavar="EP", help="ROUTER endpoint (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="PUB endpoint (default tcp://127.0.0.1:5571)")
    parser.add_argument("--speed", type=float, default=None,
                        help="simulated clock speed, virtual seconds per wall second (sim backend)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from .config import SettingsError, load_settings

    logging.basicConfig(level=getattr(logging, args.log_level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config, {"backend": args.backend, "router": args.router,
                                               "pub": args.pub, "sim.speed": args.speed})
    except (SettingsError, OSError) as exc:
        print(f"koabus broker: {exc}", file=sys.stderr)
        return 2
    from .app import run

    return run(settings)
