"""`koabus strategy FILE.py`: run a user strategy against the broker (live, simulated or a replayed day)."""
from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "strategy", help="run a strategy (a Strategy subclass in FILE.py) as its own process",
        description="Run a user strategy: bars built from the broker's trades, orders through the broker with "
                    "journaled client order ids (a restart never doubles an order), positions and cash from "
                    "chejan, per-strategy limits. Events on strat.<name>.* and sys.hb.strategy on its own PUB. "
                    "Exit 0 after an orderly stop, 1 when the strategy raised (its open orders cancelled or "
                    "left, as on_error says), 2 when it could not start. See docs/consumers.md.")
    parser.add_argument("file", metavar="FILE.py", help="the strategy's Python file")
    parser.add_argument("--class", dest="class_name", metavar="NAME",
                        help="the Strategy subclass to run (needed when FILE defines several)")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/strategy.yaml)")
    parser.add_argument("--name", help="the strategy's name in order ids and topics (default: class name)")
    parser.add_argument("--account", help="the account to trade (default: the login's first)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of the strategy's params (VALUE read as JSON, else text); repeatable")
    parser.add_argument("--replay-date", metavar="YYYY-MM-DD",
                        help="run on a replayed day: the broker (koabus broker --backend replay --date D) must "
                             "be on this date")
    parser.add_argument("--stop-at", metavar="HH:MM[:SS]", help="stop in order at this time of the broker's clock")
    parser.add_argument("--router", metavar="EP", help="the broker's ROUTER (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="the broker's PUB (default tcp://127.0.0.1:5571)")
    parser.add_argument("--status", metavar="EP", help="the host's own PUB (default tcp://127.0.0.1:5593)")
    parser.add_argument("--state-dir", metavar="DIR", help="the order-id journal (default var/state/strategy)")
    parser.add_argument("--on-error", choices=("cancel", "leave"), help="open orders when the strategy raises")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.set_defaults(func=main)


def parse_params(items) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--param {item!r}: write KEY=VALUE")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def main(args: argparse.Namespace) -> int:
    from koabus.services.broker.cli import configure_logging

    from .config import SettingsError, load_settings

    try:
        overrides = {"file": args.file, "class_name": args.class_name, "name": args.name, "account": args.account,
                     "replay_date": args.replay_date, "stop_at": args.stop_at, "router": args.router,
                     "pub": args.pub, "status": args.status, "state_dir": args.state_dir,
                     "on_error": args.on_error, "logging.level": args.log_level}
        for key, value in parse_params(args.param).items():
            overrides[f"params.{key}"] = value
        settings = load_settings(args.config, overrides)
        configure_logging(settings.logging)
        from .app import StartError, load_strategy_class, run

        try:
            cls = load_strategy_class(settings.file, settings.class_name)
        except StartError as exc:
            print(f"koabus strategy: {exc}", file=sys.stderr)
            return 2
        return run(settings, cls)
    except (SettingsError, ValueError, OSError) as exc:
        print(f"koabus strategy: {' '.join(str(exc).splitlines())}", file=sys.stderr)
        return 2
