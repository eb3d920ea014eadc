"""`koabus broker`: run the broker on the simulated control, a recorded day (replay) or the real control.

The entry point is the one place that sets up logging for the process (`configure_logging`, from
the settings' `logging` section); the broker's modules only create loggers.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import logging.handlers
import os
import sys
from typing import List, Optional


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "broker", help="run the koabus broker (Kiwoom OpenAPI+ on ZeroMQ)",
        description="Run the broker: the control (simulated or real) on the Qt main thread, ROUTER and PUB "
                    "sockets on an I/O thread. Stops in order on SIGINT/SIGTERM or the shutdown op.")
    parser.add_argument("--backend", choices=("sim", "openapi", "replay"), default=None,
                        help="control backend (default from the config file, else sim); replay plays a "
                             "recorded day of the lake (--date)")
    parser.add_argument("--config", metavar="FILE", help="YAML settings (see deploy/broker.example.yaml)")
    parser.add_argument("--router", metavar="EP", help="ROUTER endpoint (default tcp://127.0.0.1:5570)")
    parser.add_argument("--pub", metavar="EP", help="PUB endpoint (default tcp://127.0.0.1:5571)")
    parser.add_argument("--insecure", action="store_true", default=None,
                        help="allow a ROUTER/PUB bind reachable from other hosts without CURVE (warns at "
                             "start and in status: anyone who reaches it can trade)")
    parser.add_argument("--speed", type=float, default=None,
                        help="simulated clock speed, virtual seconds per wall second (sim and replay "
                             "backends; replay: 10 = ten times real time)")
    parser.add_argument("--date", metavar="YYYY-MM-DD", default=None,
                        help="replay backend: the recorded trading date to play")
    parser.add_argument("--codes", metavar="CODE", nargs="+", default=None,
                        help="replay backend: only these codes (default: every recorded code)")
    parser.add_argument("--state-dir", metavar="DIR", default=None,
                        help="durable state: order journal (default var/state; var/state/replay for replay); "
                             "one broker per directory")
    parser.add_argument("--lake", metavar="DIR", default=None,
                        help="replay backend: the lake's root (default from replay.lake, else ./data)")
    parser.add_argument("--metadata", metavar="DIR", default=None,
                        help="a folder written by `koabus meta import`: serve its TRs too (metadata_dir)")
    parser.add_argument("--log-level", default=None, choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                        help="log level (default from the config file's logging.level, else INFO)")
    parser.add_argument("--log-file", metavar="FILE", default=None,
                        help="also log to FILE, rotated by size (default from logging.file)")
    parser.set_defaults(func=main)


def configure_logging(settings, root: Optional[logging.Logger] = None) -> List[logging.Handler]:
    """Apply a `LoggingSettings`: level, format, standard error and/or a size-rotated file.

    Replaces the handlers this function installed before on `root` (the process's root logger
    unless given), so calling it twice does not log everything twice. Returns the new handlers.
    """
    root = root if root is not None else logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_koabus_broker", False):
            root.removeHandler(handler)
            handler.close()
    formatter = logging.Formatter(settings.format)
    handlers: List[logging.Handler] = []
    if settings.file:
        folder = os.path.dirname(os.path.abspath(settings.file))
        os.makedirs(folder, exist_ok=True)
        handlers.append(logging.handlers.RotatingFileHandler(
            settings.file, maxBytes=settings.max_bytes, backupCount=settings.backup_count, encoding="utf-8"))
    if settings.stderr or not settings.file:
        handlers.append(logging.StreamHandler(sys.stderr))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler._koabus_broker = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(getattr(logging, settings.level.upper()))
    return handlers


EXIT_USAGE = 2


def _refuse(exc: BaseException) -> int:
    """One line on standard error, exit code 2: the operator fixes the setting, no traceback to read."""
    print(f"koabus broker: {' '.join(str(exc).splitlines())}", file=sys.stderr)
    return EXIT_USAGE


def main(args: argparse.Namespace) -> int:
    from .config import DEFAULT_STATE_DIR, SettingsError, load_settings

    try:
        settings = load_settings(args.config, {"backend": args.backend, "router": args.router,
                                               "pub": args.pub, "sim.speed": args.speed,
                                               "replay.speed": args.speed,
                                               "replay.date": getattr(args, "date", None),
                                               "replay.codes": getattr(args, "codes", None),
                                               "replay.lake": getattr(args, "lake", None),
                                               "insecure": getattr(args, "insecure", None),
                                               "state_dir": getattr(args, "state_dir", None),
                                               "metadata_dir": getattr(args, "metadata", None),
                                               "logging.level": getattr(args, "log_level", None),
                                               "logging.file": getattr(args, "log_file", None)})
        if settings.backend == "replay" and getattr(args, "state_dir", None) is None \
                and settings.state_dir == DEFAULT_STATE_DIR:
            # a replay beside the running stack must not share its order journal (the lock would refuse it)
            settings = dataclasses.replace(settings, state_dir=os.path.join(DEFAULT_STATE_DIR, "replay"))
        configure_logging(settings.logging)
    except (SettingsError, OSError) as exc:
        return _refuse(exc)
    from koabus.common.errors import KoabusError

    from .app import run
    from .ports import BindError

    try:
        return run(settings)
    except (BindError, SettingsError) as exc:  # a busy port; a setting only the backend could check
        return _refuse(exc)
    except KoabusError as exc:  # e.g. the simulated server's store is held by another broker
        return _refuse(exc)
