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
import unicodedata
from typing import Any, Dict, Optional

from koabus.common.cli.keys import add_key_options, curve_from_args
from koabus.common.keys import KeysError
from koabus.common.protocol import DEFAULT_ROUTER_ENDPOINT, Request, decode_broker, encode_client

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_ERROR = 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="show the broker's status (connection, queues, pacing, counters)")
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="seconds to wait for an answer")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    add_key_options(p)
    p.set_defaults(func=cmd_status)
    p = subparsers.add_parser("wait-ready", help="wait until the broker answers and its control is logged in")
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after this many seconds")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    add_key_options(p)
    p.set_defaults(func=cmd_wait_ready)


def fetch_status(router: str, timeout_s: float, poll_interval_s: float = 0.5,
                 until_connected: bool = False, curve: Any = None) -> Optional[Dict[str, Any]]:
    """The broker's status, or None if it did not answer in time.

    With `until_connected`, keeps asking until the status says connected (returns the last status
    seen, connected or not, when time runs out).
    """
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:  # a CurveKeys: this key's role decides what the status shows
        curve.apply(sock)
    sock.connect(router)
    last: Optional[Dict[str, Any]] = None
    deadline = time.monotonic() + max(0.0, timeout_s)
    request_id = 0
    try:
        while True:
            request_id += 1
            try:  # no peer yet (or a CURVE handshake that failed): the send would block forever
                sock.send_multipart(encode_client(Request(request_id, "status", {})), zmq.NOBLOCK)
            except zmq.Again:
                pass
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


def _curve(args: argparse.Namespace) -> Any:
    try:
        return curve_from_args(args)
    except KeysError as exc:
        raise SystemExit(f"koabus: {exc}") from None


def cmd_status(args: argparse.Namespace) -> int:
    status = fetch_status(args.router, args.timeout, curve=_curve(args))
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
    status = fetch_status(args.router, args.timeout, until_connected=True, curve=_curve(args))
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


WIDTH = 80
#: clients listed one per line; the rest are counted
MAX_CLIENT_ROWS = 10
NAME_COLUMNS = 40


#: what only an admin key's status carries
_DETAILS = ("clients", "queues", "pacing", "counters", "realtime")


def format_status(status: Dict[str, Any]) -> str:
    """A short human-readable report of the status map, at most WIDTH columns a line.

    Everything in it came over the wire, so every value is shown through `_text`/`_num`: control and
    format characters escaped (a client name cannot clear the screen or reverse the line), long text
    and huge numbers shortened, unexpected types tolerated.
    """
    rt = _map(status.get("realtime"))
    queues = _map(status.get("queues"))
    pacing = _map(status.get("pacing"))
    counters = _map(status.get("counters"))
    clients = status.get("clients") if isinstance(status.get("clients"), list) else []
    accounts = status.get("accounts") if isinstance(status.get("accounts"), list) else []
    lines = [
        f"broker      {_text(status.get('broker', ''), 24)}  epoch {_num(status.get('epoch'), 20)}  "
        f"seq {_num(status.get('seq'))}",
        f"connection  {_text(status.get('state'), 16)}  ({'connected' if status.get('connected') is True else 'not connected'}, "
        f"{_text(status.get('server') or '?', 10)} server)  accounts {_text(', '.join(map(str, accounts)) or '-', 40)}",
    ]
    security = _map(status.get("security"))
    if security:
        curve = f"CURVE on, {_num(security.get('allowed_keys'), 6)} keys allowed" if security.get("curve") else "CURVE off"
        lines.append(f"security    {curve}")
        if security.get("insecure"):
            lines.append(f"            {_text(security.get('insecure'), 200)}")
    if security and not any(k in status for k in _DETAILS):  # a key below admin: the summary (protocol §10)
        lines.append("(the summary: queues, pacing, counters and clients need an admin key)")
        return "\n".join(_clip(line, WIDTH) for line in lines)
    lines += [
        f"realtime    {_num(rt.get('codes', 0))} codes on {_num(rt.get('screens', 0))} screens, "
        f"{_num(rt.get('subscriptions', 0))} subscriptions",
        f"queues      inbox {_num(queues.get('inbox', 0))}  outbox {_num(queues.get('outbox', 0))}  "
        f"pending TRs {_num(queues.get('pending_tr', 0))}",
    ]
    pacer = _map(queues.get("pacer"))
    if pacer:
        lines.append(f"pacer       {_pairs(pacer)}")
    for name, state in sorted(pacing.items(), key=lambda item: str(item[0])):
        state = _map(state)
        lines.append(f"pacing {_text(name, 5):<5} queued {_num(state.get('queued', 0))}  sent {_num(state.get('sent', 0))}  "
                     f"throttled {_text(state.get('throttled'), 5)}  wait {_num(state.get('wait_s', 0))} s  "
                     f"overloads {_num(state.get('overloads', 0))}")
    errors = {k: v for k, v in counters.items() if str(k).startswith("error") and isinstance(v, int)}
    lines.append(f"errors      {_num(counters.get('errors', 0))}  {_pairs(errors)}".rstrip())
    lines.append(f"drops       outbox {_num(counters.get('outbox_dropped', 0))}")
    lines.append(f"clients     {len(clients)}")
    for client in clients[:MAX_CLIENT_ROWS]:
        client = _map(client)
        name = _text(client.get("name") or "-", NAME_COLUMNS)
        lines.append(f"  {_pad(name, NAME_COLUMNS)}  idle {_num(client.get('idle_s'), 10)} s  "
                     f"in flight {_num(client.get('inflight'), 8)}")
    if len(clients) > MAX_CLIENT_ROWS:
        lines.append(f"  ... and {len(clients) - MAX_CLIENT_ROWS} more (koabus status --json lists them all)")
    return "\n".join(_clip(line, WIDTH) for line in lines)


def _map(value: Any) -> Dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _escape(ch: str) -> str:
    """A character as it may reach a terminal: control, format and unassigned ones as Python escapes."""
    if unicodedata.category(ch)[0] not in "CZ" or ch == " ":
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _columns(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _clip(text: str, width: int) -> str:
    """`text` cut to `width` terminal columns (wide CJK characters count two), '…' marking the cut."""
    used, out = 0, []
    for ch in text:
        w = _columns(ch)
        if used + w > width:
            while out and used + 1 > width:  # room for the ellipsis
                used -= _columns(out.pop())
            return "".join(out) + "…"
        used += w
        out.append(ch)
    return text


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - sum(_columns(ch) for ch in text))


def _text(value: Any, width: int = 40) -> str:
    """Any wire value as one safe line of at most `width` columns."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    raw = value if isinstance(value, str) else str(value)
    return _clip("".join(_escape(ch) for ch in raw[: width * 4]), width)


def _num(value: Any, width: int = 12) -> str:
    """A count or a duration, shortened when huge; anything else as `_text`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _text(value, width)
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else _clip(f"{value:.3g}", width)


def _pairs(mapping: Dict[Any, Any], limit: int = 8) -> str:
    items = sorted(mapping.items(), key=lambda item: str(item[0]))
    text = "  ".join(f"{_text(k, 20)} {_num(v)}" for k, v in items[:limit])
    return text + ("  ..." if len(items) > limit else "")
