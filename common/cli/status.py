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
from typing import Any, Dict, List, Optional, Sequence

from koabus.common.cli.keys import add_key_options, curve_from_args
from koabus.common.keys import KeysError
from koabus.common.protocol import DEFAULT_ROUTER_ENDPOINT, Bye, Hello, Request, decode_broker, encode_client

EXIT_OK = 0
EXIT_NOT_READY = 1
EXIT_ERROR = 2
#: `status` and the client commands give up this soon when no broker answers
ANSWER_TIMEOUT_S = 1.5
#: how to get a broker (the SDK says the same: koabus.common.client.core.START_A_BROKER)
START_A_BROKER = ("start one with `koabus up` (the whole stack on the simulated control) or "
                  "`koabus broker --backend sim`, or point --router/--pub at a running broker")


def no_broker_message(router: str, waited_s: float) -> str:
    return f"no broker answered at {router} within {waited_s:g} s: {START_A_BROKER}"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("status", help="show the broker's status (connection, queues, pacing, counters)")
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--timeout", type=float, default=ANSWER_TIMEOUT_S, metavar="S",
                   help="seconds to wait for an answer (%(default)s)")
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


def broker_answers(router: str, timeout_s: float, curve: Any = None, client_name: str = "koabus-cli-probe") -> bool:
    """Whether a broker at `router` says WELCOME to a HELLO within `timeout_s` (then BYE, so the session
    ends at once). Plain pyzmq, no SDK: a command can tell "no broker" before loading pandas."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    if curve is not None:
        curve.apply(sock)
    sock.connect(router)
    deadline = time.monotonic() + max(0.0, timeout_s)
    try:
        try:  # queued until the connection is up; a CURVE handshake that fails leaves it queued
            sock.send_multipart(encode_client(Hello(1, client=client_name)), zmq.NOBLOCK)
        except zmq.Again:
            return False
        while True:
            remaining_ms = int((deadline - time.monotonic()) * 1000)
            if remaining_ms <= 0 or not sock.poll(remaining_ms):
                return False
            try:
                msg = decode_broker(sock.recv_multipart())
            except Exception:
                continue
            if msg.TYPE == "WELCOME":
                sock.setsockopt(zmq.LINGER, 200)
                try:
                    sock.send_multipart(encode_client(Bye(2)), zmq.NOBLOCK)
                except zmq.Again:
                    pass
                return True
    finally:
        sock.close()


def _curve(args: argparse.Namespace) -> Any:
    try:
        return curve_from_args(args)
    except KeysError as exc:
        raise SystemExit(f"koabus: {exc}") from None


def cmd_status(args: argparse.Namespace) -> int:
    status = fetch_status(args.router, args.timeout, curve=_curve(args))
    if status is None:
        print(f"koabus: Unavailable: {no_broker_message(args.router, args.timeout)}", file=sys.stderr)
        return EXIT_NOT_READY
    if args.json:
        print(status_json(status))
    else:
        _print_status(status)
    return EXIT_OK


def _print_status(status: Dict[str, Any]) -> None:
    try:
        from rich.console import Console
    except ImportError:  # a broker-only install (no `client` extra): the JSON, still readable
        print(status_json(status))
        return
    console = Console(highlight=False, emoji=False, markup=False)
    console.print(status_view(status, console.width))


def status_json(status: Dict[str, Any]) -> str:
    """The status as JSON that is safe on a terminal: Korean stays readable (not `\\uac00`), but every
    control, format, separator or unassigned character is a JSON escape (json.dumps leaves U+202E, C1
    controls such as U+009B and U+2028 raw). Outside strings JSON has only ASCII, so this only touches
    string contents and the text still parses to the same values."""
    text = json.dumps(status, ensure_ascii=False, indent=2, sort_keys=True, default=str)
    return "".join(_json_escape(ch) if ch != "\n" and _unsafe(ch) else ch for ch in text)


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C" or unicodedata.category(ch) in ("Zl", "Zp")


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def cmd_wait_ready(args: argparse.Namespace) -> int:
    start = time.monotonic()
    status = fetch_status(args.router, args.timeout, until_connected=True, curve=_curve(args))
    waited = time.monotonic() - start
    if status is not None and status.get("connected"):
        if not args.quiet:
            print(f"broker ready after {waited:.1f} s: {_text(status.get('server', '?'), 20)} server, "
                  f"epoch {_text(status.get('epoch'), 20)}")
        return EXIT_OK
    if not args.quiet:
        if status is None:
            print(f"koabus: the broker at {args.router} did not answer within {args.timeout:g} s", file=sys.stderr)
        else:
            print(f"koabus: the broker answers but is not logged in (state {_text(status.get('state'), 30)}) "
                  f"after {args.timeout:g} s", file=sys.stderr)
    return EXIT_NOT_READY


WIDTH = 80
#: rows of a list of records (clients) shown; the rest are counted
MAX_CLIENT_ROWS = 10
#: columns of a records table shown (the union of the records' keys, first seen first)
MAX_RECORD_COLUMNS = 8
#: a records table's numbers and flags are cut to this many columns; wider columns are text
RECORD_NUMBER_WIDTH = 12
#: a records table's text columns (names) share what numbers leave, within these bounds
RECORD_TEXT_MIN, RECORD_TEXT_MAX = 8, 40
#: items of a list of plain values (code_list) shown; the rest are counted
MAX_LIST_ITEMS = 12
#: dicts nested deeper than this print as one `key=value ...` line
MAX_DEPTH = 2
#: the top-level fields shown first, in this order; the rest follow alphabetically
_FIRST = ("broker", "host", "epoch", "seq", "state", "connected", "server", "accounts", "market_phase", "clock_s")
#: the sections (dict fields) shown first, in this order; the rest follow alphabetically
_FIRST_SECTIONS = ("security", "realtime", "pacing", "queues", "orders", "conditions", "counters")
#: what only an admin key's status carries
_DETAILS = ("clients", "queues", "pacing", "counters", "realtime")


def format_status(status: Dict[str, Any], width: int = WIDTH) -> str:
    """The status as text at most `width` columns a line (tables without colour), see `status_view`."""
    import io

    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, highlight=False, emoji=False, markup=False)
    console.print(status_view(status, width))
    return "\n".join(line.rstrip() for line in out.getvalue().split("\n")).rstrip("\n")


def status_view(status: Dict[str, Any], width: int = WIDTH) -> Any:
    """Rich tables of whatever the status map holds: the top-level values, then one table per section
    (a nested dict as a sub-table), `clients` as rows.

    Everything in it came over the wire, so every key and value is shown through `_text`/`_num`:
    control and format characters escaped (a client name cannot clear the screen or reverse the line),
    long text and huge numbers shortened, unexpected types tolerated.
    """
    from rich.console import Group
    from rich.text import Text

    status = _map(status)
    top = {k: v for k, v in status.items() if not isinstance(v, dict) and k != "clients"}
    parts: List[Any] = [_pairs_table(_ordered(top, _FIRST), "koabus broker", 0)]
    sections = {k: v for k, v in status.items() if isinstance(v, dict)}
    for key in _ordered(sections, _FIRST_SECTIONS):
        parts.append(_pairs_table(sections[key], _text(key, 30), 1))
    security = _map(status.get("security"))
    if security and not any(k in status for k in _DETAILS):  # a key below admin: the summary (protocol §10)
        parts.append(Text("(the summary: queues, pacing, counters and clients need an admin key)"))
    clients = status.get("clients")
    if isinstance(clients, list):
        parts.append(_records_table(clients, "clients", width))
    return Group(*parts)


def _ordered(mapping: Dict[Any, Any], first: Sequence[str]) -> Dict[Any, Any]:
    keys = [k for k in first if k in mapping] + sorted((k for k in mapping if k not in first), key=str)
    return {k: mapping[k] for k in keys}


def _pairs_table(mapping: Dict[Any, Any], title: str, depth: int) -> Any:
    """A key/value table; dict values as sub-tables down to MAX_DEPTH."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_header=False, box=box.SIMPLE if depth > 1 else box.ROUNDED,
                  title_justify="left", pad_edge=depth <= 1)
    table.add_column("field", overflow="fold", max_width=28)
    table.add_column("value", overflow="fold")
    for key, value in mapping.items():
        table.add_row(Text(_text(key, 40)), _value_cell(key, value, depth))
    return table


def _value_cell(key: Any, value: Any, depth: int) -> Any:
    from rich.text import Text

    if isinstance(value, dict):
        if not value:
            return Text("-")
        if depth < MAX_DEPTH:
            return _pairs_table(value, "", depth + 1)
        return Text(_plain_text(value, 200))
    if isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            return _records_table(value, "", WIDTH // 2)
        return Text(_list_text(value))
    if key == "clock_s" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Text(_clock_text(value))
    return Text(_plain_text(value, 60))


def _records_table(records: List[Any], title: str, width: int = WIDTH) -> Any:
    """Records (clients) as rows, the union of their keys as columns; at most MAX_CLIENT_ROWS rows.

    One record is one line whatever its text holds: numbers keep their width, text columns share what
    is left of `width` and are cut with '…' (a long hostile name must not fold into lines of its own).
    """
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = [_map(r) for r in records]
    columns: List[Any] = []
    for row in rows[:MAX_CLIENT_ROWS]:
        columns += [k for k in row if k not in columns]
    columns = columns[:MAX_RECORD_COLUMNS]
    headers = [_text(c, 16) for c in columns]
    cells = [[_record_cell(row.get(c)) for c in columns] for row in rows[:MAX_CLIENT_ROWS]]
    widths = _record_widths([max([_width(h)] + [_width(r[i]) for r in cells]) for i, h in enumerate(headers)],
                            width)
    table = Table(title=f"{title} ({len(rows)})" if title else None, box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 0), title_justify="left")
    for index, header in enumerate(headers):
        numeric = all(_is_number(row.get(columns[index])) for row in rows[:MAX_CLIENT_ROWS])
        table.add_column(Text(header), justify="right" if numeric else "left", no_wrap=True, overflow="ellipsis")
    for row_cells in cells:
        table.add_row(*[Text(_clip(text, w)) for text, w in zip(row_cells, widths)])
    if len(rows) > MAX_CLIENT_ROWS:
        table.caption = f"... and {len(rows) - MAX_CLIENT_ROWS} more (koabus status --json lists them all)"
    return table


def _record_cell(value: Any) -> str:
    return _plain_text(value, RECORD_NUMBER_WIDTH if _is_number(value) else RECORD_TEXT_MAX)


def _is_number(value: Any) -> bool:
    return value is None or isinstance(value, (int, float))


def _record_widths(natural: List[int], width: int) -> List[int]:
    """Column widths that fit `width` with one space between columns: the narrow ones (numbers) as they
    are, the wide ones (text) sharing the rest, none below RECORD_TEXT_MIN."""
    narrow = sum(w for w in natural if w <= RECORD_NUMBER_WIDTH)
    wide = [w for w in natural if w > RECORD_NUMBER_WIDTH]
    room = width - narrow - max(0, len(natural) - 1)
    share = max(RECORD_TEXT_MIN, room // len(wide)) if wide else 0
    return [w if w <= RECORD_NUMBER_WIDTH else min(w, share) for w in natural]


def _width(text: str) -> int:
    return sum(_columns(ch) for ch in text)


def _list_text(values: List[Any]) -> str:
    shown = ", ".join("/".join(_plain_text(x, 20) for x in v) if isinstance(v, (list, tuple)) else _plain_text(v, 40)
                      for v in values[:MAX_LIST_ITEMS]) or "-"
    return shown + (f" ... ({len(values)} in all)" if len(values) > MAX_LIST_ITEMS else "")


def _plain_text(value: Any, width: int = 40) -> str:
    """A value as short text: None as '-', a list as `a, b` (an inner list as `a/b`), a dict as `k=v`."""
    if isinstance(value, list):
        return _clip(_list_text(value), width)
    if isinstance(value, dict):
        return _text("; ".join(f"{k}={_plain_text(v, width)}" for k, v in value.items()), width)
    if value is None:
        return "-"
    return _num(value, width)


def _clock_text(clock_s: float) -> str:
    """The broker's clock (epoch seconds) as KST date and time."""
    from datetime import datetime, timedelta, timezone

    try:
        return datetime.fromtimestamp(clock_s, timezone(timedelta(hours=9))).strftime("%Y-%m-%d %H:%M:%S KST")
    except (OverflowError, OSError, ValueError):
        return "?"


def _map(value: Any) -> Dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _escape(ch: str) -> str:
    """A character as it may reach a terminal: control, format and unassigned ones as Python escapes, and
    those whose width the table layout (rich) counts otherwise than `_columns` (emoji modifiers, ...)."""
    if (unicodedata.category(ch)[0] not in "CZ" or ch == " ") and _same_width(ch):
        return ch
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _same_width(ch: str) -> bool:
    try:
        from rich.cells import cell_len
    except ImportError:  # no rich (a broker-only install): nothing lays tables out
        return True
    return cell_len(ch) == _columns(ch)


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
