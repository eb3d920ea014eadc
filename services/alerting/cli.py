"""`koabus alerting` (run the service, or `--check` a rules file offline) and `koabus alerts` (tail them)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Optional

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.skeleton.cli import add_bus_options, bus_overrides, fail, run_cli


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "alerting", help="alert on the bus: rules in YAML, console/webhook/Slack/Discord/Telegram/e-mail",
        description="Run the alerting service: rules (deploy/alerts.yaml) evaluated on the live bus, alerts "
                    "sent to the rules' notifiers and published as alert.<rule_id> on the service's own PUB. "
                    "The rules file is reloaded when it changes and on SIGHUP. See docs/alerting.md.")
    add_bus_options(parser, "alerting", SERVICE_STATUS_ENDPOINTS["alerting"],
                    status_help="the service's own PUB: alerts and heartbeats",
                    name_help="the service's name in its heartbeat (default koabus-alerting)")
    parser.add_argument("--rules", metavar="FILE", help="the rules file (default deploy/alerts.yaml)")
    parser.add_argument("--check", metavar="RULES", nargs="?", const="", default=None,
                        help="validate a rules file offline and exit: 0 'N rules OK', 2 with file:line: error "
                             "(default: the configured rules file)")
    parser.set_defaults(func=main)

    tail = subparsers.add_parser(
        "alerts", help="print the alerts the alerting service publishes",
        description="Subscribe to the alerting service's PUB and print each alert (alert.<rule_id>) as it "
                    "comes: one console line, or the bus body as JSON with --json.")
    tail.add_argument("--status", metavar="EP", default=None,
                      help=f"the alerting service's PUB (default {SERVICE_STATUS_ENDPOINTS['alerting']})")
    tail.add_argument("--rule", metavar="ID", default="", help="only alerts of this rule (id prefix)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line (the ALERT body)")
    tail.add_argument("--count", type=int, metavar="N", help="exit after N alerts")
    tail.add_argument("--timeout", type=float, metavar="S",
                      help="exit after S seconds (exit 1 if --count alerts did not arrive by then)")
    tail.set_defaults(func=tail_main)


def main(args: argparse.Namespace) -> int:
    from .config import SettingsError, load_settings

    def load() -> Any:
        return load_settings(args.config, {**bus_overrides(args), "rules": args.check or args.rules})

    if args.check is not None:  # offline: no logging set up, nothing bound
        try:
            settings = load()
        except (SettingsError, OSError) as exc:
            return fail("alerting", exc)
        return check(settings.rules, set(settings.notifiers) if args.config else None)
    return run_cli("alerting", load, _start)


def _start(settings: Any) -> int:
    from .app import run
    from .rules import RulesError

    try:
        return run(settings)
    except RulesError as exc:  # file:line: messages, one per line
        print(f"koabus alerting: {exc}", file=sys.stderr)
        return 2


def check(path: str, notifiers: Optional[set]) -> int:
    """`--check`: validate `path` (notifier names against `notifiers` when a config gave them)."""
    from .rules import RulesError, load_rules

    try:
        rules = load_rules(path, notifiers=notifiers)
    except RulesError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    print(f"{path}: {len(rules)} rule{'s' if len(rules) != 1 else ''} OK")
    return 0


def tail_main(args: argparse.Namespace) -> int:
    """`koabus alerts`: one SUB on the alerting PUB, bounded by --count/--timeout when given."""
    import zmq

    from koabus.common.errors import KoabusError
    from koabus.common.protocol import Publication
    from koabus.common.protocol.constants import PubType

    from .alert import Alert
    from .config import DEFAULT_STATUS

    endpoint = args.status or DEFAULT_STATUS
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, f"alert.{args.rule}".encode("ascii"))
    sub.connect(endpoint)
    deadline = None if args.timeout is None else time.monotonic() + args.timeout
    printed = 0
    try:
        while args.count is None or printed < args.count:
            wait_ms = 500 if deadline is None else int(max(0.0, deadline - time.monotonic()) * 1000)
            if deadline is not None and wait_ms <= 0:
                break
            if not sub.poll(min(wait_ms, 500)):
                continue
            try:
                pub = Publication.from_frames(sub.recv_multipart())
                if pub.type != PubType.ALERT:
                    continue
                alert = Alert.from_body(pub.body)
            except KoabusError as exc:
                print(f"koabus alerts: ignoring a malformed alert: {exc}", file=sys.stderr)
                continue
            print(_line(alert, pub.body, args.json), flush=True)
            printed += 1
    except KeyboardInterrupt:
        return 0
    finally:
        sub.close(0)
    return 1 if args.count is not None and printed < args.count else 0


def _line(alert: Any, body: Any, as_json: bool) -> str:
    from .notifiers.console import console_line

    return json.dumps(body, ensure_ascii=False, sort_keys=True) if as_json else console_line(alert)
