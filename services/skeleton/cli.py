"""The command line every bus service shares: the same bus options, and the same way to fail.

`add_bus_options` adds `--config`, `--router`, `--pub`, the service's own `--status` PUB, `--name` and
`--log-level` (each service adds its own options beside them). `run_cli` loads the settings, sets up
logging and runs the service; a settings or OS error is one line `koabus <command>: <message>` on
standard error and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Dict, Optional, Tuple, Type

from koabus.services.broker.config import SettingsError

from .settings import DEFAULT_PUB, DEFAULT_ROUTER

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_CONFIG = 2
DEFAULT_STATUS_HELP = "the service's own PUB: heartbeats"


def add_bus_options(parser: argparse.ArgumentParser, service: str, status_default: Optional[str], *,
                    config_example: str = "", status_help: str = DEFAULT_STATUS_HELP,
                    name_help: Optional[str] = "", router_help: str = "", pub_help: str = "") -> None:
    """The options every service has. `status_default` None: no `--status` (the service's own PUB is
    named otherwise, or it has none of its own to move); `name_help` None: no `--name`. `router_help` and
    `pub_help` replace the broker's (a relay's `--router`/`--pub` are its own downstream sockets)."""
    example = config_example or f"deploy/{service}.yaml"
    parser.add_argument("--config", metavar="FILE", help=f"YAML settings (see {example})")
    parser.add_argument("--router", metavar="EP", help=router_help or f"the broker's ROUTER (default {DEFAULT_ROUTER})")
    parser.add_argument("--pub", metavar="EP", help=pub_help or f"the broker's PUB (default {DEFAULT_PUB})")
    if status_default is not None:
        parser.add_argument("--status", metavar="EP", help=f"{status_help} (default {status_default})")
    if name_help is not None:
        parser.add_argument("--name", help=name_help or f"the service's name in its heartbeat (default koabus-{service})")
    parser.add_argument("--log-level", default=None, choices=LOG_LEVELS,
                        help="log level (default from the config file's logging.level, else INFO)")


def bus_overrides(args: argparse.Namespace) -> Dict[str, Any]:
    """The settings `add_bus_options` can override (None: not given, the file's or the default)."""
    return {"router": args.router, "pub": args.pub, "status": getattr(args, "status", None),
            "name": getattr(args, "name", None), "logging.level": args.log_level}


def fail(command: str, exc: BaseException) -> int:
    """One line on standard error, exit code 2: what a service says when it cannot start."""
    print(f"koabus {command}: {' '.join(str(exc).splitlines())}", file=sys.stderr)
    return EXIT_CONFIG


def run_cli(command: str, load: Callable[[], Any], start: Callable[[Any], int], *,
            errors: Tuple[Type[BaseException], ...] = (SettingsError, OSError)) -> int:
    """`load()` the settings, configure logging from their `logging` section, return `start(settings)`
    (which imports the service's app lazily: `--help` stays fast). Any of `errors`, from loading or
    starting, ends in `fail`."""
    from koabus.services.broker.cli import configure_logging

    try:
        settings = load()
        configure_logging(settings.logging)
        return start(settings)
    except errors as exc:
        return fail(command, exc)
