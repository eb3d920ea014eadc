"""`koabus status` and `koabus wait-ready`: ask the broker for its status over a DEALER socket.

Both speak the wire protocol directly (pyzmq + the protocol codec), so they start fast and work
while the rest of the stack is still coming up. `wait-ready` polls until the broker answers and its
control is logged in, bounded by `--timeout`; its exit code says which (0 ready, 1 not in time).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Dict, Optional

from koabus.common.protocol import DEFAULT_ROUTER_ENDPOINT, Request, decode_broker, encode_client

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_ERROR = 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="show the broker's status (connection, queues, pacing, counters)")
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for an answer")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_status)
    p = subparsers.add_parser("wait-ready", help="wait until the broker answers and its control is logged in")
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after this many seconds")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=cmd_wait_ready)


def fetch_status(router: str, timeout_s: float, poll_interval_s: float = 0.5,
                 until_connected: bool = False) -> Optional[Dict[str, Any]]:
    """The broker's status, or None if it did not answer in time.

    With `until_connected`, keeps asking until the status says connected (returns the last status
    seen, connected or not, when time runs out).
    """
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(router)
    last: Optional[Dict[str, Any]] = None
    deadline = time.monotonic() + max(0.0, timeout_s)
    request_id = 0
    try:
        while True:
            request_id += 1
            sock.send_multipart(encode_client(Request(request_id, "status", {})))
            ask_again = min(deadline, time.monotonic() + poll_interval_s)
            while True:
                remaining_ms = int((ask_again - time.monotonic()) * 1000)
                if remaining_ms <= 0 or not sock.poll(remaining_ms):
                    break
                try:
                    msg = decode_broker(sock.recv_multipart())
                except Exception:
                    continue
                if msg.TYPE == "REPLY" and isinstance(msg.result, dict):
                    last = msg.result
                    if not until_connected or last.get("connected"):
                        return last
            if time.monotonic() >= deadline:
                return last
    finally:
        sock.close(0)


def cmd_status(args: argparse.Namespace) -> int:
    status = fetch_status(args.router, args.timeout)
    if status is None:
        print(f"koabus: Unavailable: no answer from the broker at {args.router} within {args.timeout:g} s",
              file=sys.stderr)
        return EXIT_NOT_READY
    if args.json:
        json.dump(status, sys.stdout, ensure_ascii=False, indent=2, sort_keys=True, default=str)
        print()
    else:
        print(format_status(status))
    return EXIT_OK


def cmd_wait_ready(args: argparse.Namespace) -> int:
    start = time.monotonic()
    status = fetch_status(args.router, args.timeout, until_connected=True)
    waited = time.monotonic() - start
    if status is not None and status.get("connected"):
        if not args.quiet:
            print(f"broker ready after {waited:.1f} s: {status.get('server', '?')} server, "
                  f"epoch {status.get('epoch')}")
        return EXIT_OK
    if not args.quiet:
        if status is None:
            print(f"koabus: the broker at {args.router} did not answer within {args.timeout:g} s", file=sys.stderr)
        else:
            print(f"koabus: the broker answers but is not logged in (state {status.get('state')}) "
                  f"after {args.timeout:g} s", file=sys.stderr)
    return EXIT_NOT_READY


def format_status(status: Dict[str, Any]) -> str:
    """A short human-readable report of the status map."""
    rt = status.get("realtime") or {}
    queues = status.get("queues") or {}
    pacing = status.get("pacing") or {}
    counters = status.get("counters") or {}
    lines = [
        f"broker      {status.get('broker', '')}  epoch {status.get('epoch')}  seq {status.get('seq')}",
        f"connection  {status.get('state')}  ({'connected' if status.get('connected') else 'not connected'}, "
        f"{status.get('server') or '?'} server)  accounts {', '.join(status.get('accounts') or []) or '-'}",
        f"clients     {len(status.get('clients') or [])}",
        f"realtime    {rt.get('codes', 0)} codes on {rt.get('screens', 0)} screens, "
        f"{rt.get('subscriptions', 0)} subscriptions",
        f"queues      inbox {queues.get('inbox', 0)}  outbox {queues.get('outbox', 0)}  "
        f"pending TRs {queues.get('pending_tr', 0)}  pacer {queues.get('pacer', {})}",
    ]
    for name, state in sorted(pacing.items()):
        lines.append(f"pacing {name:<5} queued {state.get('queued', 0)}  sent {state.get('sent', 0)}  "
                     f"throttled {state.get('throttled')}  wait {state.get('wait_s', 0)} s  "
                     f"overloads {state.get('overloads', 0)}")
    errors = {k: v for k, v in counters.items() if k.startswith("error") and isinstance(v, int)}
    lines.append(f"errors      {counters.get('errors', 0)} {errors if errors else ''}".rstrip())
    lines.append(f"drops       outbox {counters.get('outbox_dropped', 0)}")
    return "\n".join(lines)
