"""`koabus strategy FILE.py`: run a user strategy against the broker (live, simulated or a replayed day)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.skeleton.cli import add_bus_options, bus_overrides, fail, run_cli


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
    add_bus_options(parser, "strategy", SERVICE_STATUS_ENDPOINTS["strategy"], status_help="the host's own PUB",
                    name_help="the strategy's name in order ids and topics (default: class name)")
    parser.add_argument("--account", help="the account to trade (default: the login's first)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="override one of the strategy's params (VALUE read as JSON, else text); repeatable")
    parser.add_argument("--replay-date", metavar="YYYY-MM-DD",
                        help="run on a replayed day: the broker (koabus broker --backend replay --date D) must "
                             "be on this date")
    parser.add_argument("--stop-at", metavar="HH:MM[:SS]", help="stop in order at this time of the broker's clock")
    parser.add_argument("--state-dir", metavar="DIR", help="the order-id journal (default var/state/strategy)")
    parser.add_argument("--on-error", choices=("cancel", "leave"), help="open orders when the strategy raises")
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
    from .config import SettingsError, load_settings

    def load() -> Any:
        overrides = {**bus_overrides(args), "file": args.file, "class_name": args.class_name,
                     "account": args.account, "replay_date": args.replay_date, "stop_at": args.stop_at,
                     "state_dir": args.state_dir, "on_error": args.on_error}
        for key, value in parse_params(args.param).items():
            overrides[f"params.{key}"] = value
        return load_settings(args.config, overrides)

    return run_cli("strategy", load, _start, errors=(SettingsError, ValueError, OSError))


def _start(settings: Any) -> int:
    from .app import StartError, load_strategy_class, run

    try:
        cls = load_strategy_class(settings.file, settings.class_name)
    except StartError as exc:
        return fail("strategy", exc)
    return run(settings, cls)
