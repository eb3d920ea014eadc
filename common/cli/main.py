"""Entry point of the `koabus` command: builds the parser from the command modules and dispatches.

Each command module exposes `register(subparsers)`, which adds its sub-commands and sets
`func=run_function` on each; modules are imported lazily by name so `koabus meta` never pulls in
pandas and `koabus broker` never pulls in the client SDK.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import List, Optional

# command name -> module that registers it (a module may register several commands)
COMMAND_MODULES = {
    "meta": "koabus.common.cli.meta",
    "broker": "koabus.services.broker.cli",
    "status": "koabus.common.cli.status",
    "wait-ready": "koabus.common.cli.status",
    "sim": "koabus.services.sim.cli",
    "keys": "koabus.common.cli.keys",
    "relay": "koabus.services.relay.cli",
    "recorder": "koabus.services.recorder.cli",
    "alerting": "koabus.services.alerting.cli",
    "alerts": "koabus.services.alerting.cli",
    "bars": "koabus.services.bars.cli",
    "strategy": "koabus.services.strategy.cli",
    "web": "koabus.services.web.cli",
    "query": "koabus.common.cli.query",
    "sync": "koabus.common.cli.sync",
    "lake": "koabus.common.cli.lake",
    "chart": "koabus.common.cli.chart",
    "watch": "koabus.common.cli.watch",
    **{name: "koabus.common.cli.account" for name in ("orders", "fills", "credit", "fo")},
    **{name: "koabus.common.cli.stack" for name in ("up", "down", "ps")},
    **{
        name: "koabus.common.cli.commands"
        for name in (
            "login", "codes", "name", "code", "info", "daily", "minute", "tick", "weekly", "monthly",
            "tr", "order", "deposit", "balance", "condition", "calendar", "call",
        )
    },
}


def _wanted_modules(argv: List[str]) -> List[str]:
    first = next((a for a in argv if not a.startswith("-")), None)
    if first in COMMAND_MODULES:
        return [COMMAND_MODULES[first]]
    return list(dict.fromkeys(COMMAND_MODULES.values()))


def version() -> str:
    """The installed distribution's version ("unknown" when run from a checkout that was never installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("koabus")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(argv: List[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="koabus", description="Kiwoom OpenAPI+ on a ZeroMQ bus")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _wanted_modules(argv):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:  # a command group whose optional dependencies are missing
            if _wanted_modules(argv) == [name]:
                raise SystemExit(f"koabus: {exc}") from None
            continue
        module.register(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `koabus ... | head`: the reader has all it wanted
        _silence_stdout()
        return 0


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file (captured output): nothing to flush there
        pass


if __name__ == "__main__":
    sys.exit(main())
