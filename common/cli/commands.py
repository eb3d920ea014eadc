"""The user commands of `koabus` (login, codes, daily, order, ...), built on the blocking SDK Client.

Every command takes `--router/--pub/--timeout/--connect-timeout` and fails within the last when no
broker answers; data commands take `--json` (machine output, one JSON document, or one event per line
for streams) and otherwise print rich tables (see `views`: curated columns by default, `--all-columns`
for every one), with a progress bar for bar downloads (see `progress`: live pacing countdown, ETA).
Any koabus error, an unknown code or an empty range included, ends the command with one line
(`koabus: <kind> [code] meaning`) and a non-zero exit code. `watch` lives in `watch`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence

from koabus.common.cli import views
from koabus.common.cli.keys import add_key_options, curve_from_args
from koabus.common.errors import InvalidRequest, KiwoomError, KoabusError, NotFound, Unavailable
from koabus.common.protocol import DEFAULT_PUB_ENDPOINT, DEFAULT_ROUTER_ENDPOINT

EXIT_ERROR = 1
EXIT_USAGE = 2
#: how long `order buy|sell` follows the order's events by default (--wait)
ORDER_WAIT_S = 10.0
#: a command fails this soon when no broker answers (a live one answers HELLO in milliseconds)
CONNECT_TIMEOUT_S = 1.5


# ---------------------------------------------------------------------------------- registration

def _common(json_output: bool = True) -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection")
    group.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    group.add_argument("--pub", default=DEFAULT_PUB_ENDPOINT, help="broker PUB endpoint (%(default)s)")
    group.add_argument("--timeout", type=float, default=30.0, metavar="S", help="request timeout in seconds")
    group.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT_S, metavar="S",
                       help="give up when no broker answers within S seconds (%(default)s)")
    add_key_options(group)
    if json_output:
        parent.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parent


def _all_columns_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--all-columns", action="store_true",
                   help="show every column/field (default: a curated set; --json and files always have all)")


def _bars_options(p: argparse.ArgumentParser, interval: bool = False) -> None:
    p.add_argument("codes", nargs="+", metavar="CODE", help="stock code(s), e.g. 005930")
    if interval:
        p.add_argument("--interval", type=int, default=1, help="bar size (minutes or ticks)")
        p.add_argument("--pages", type=int, default=None, help="most pages to fetch without --start")
    p.add_argument("--start", help="oldest date/time wanted (YYYY-MM-DD or YYYYMMDD[HHMMSS])")
    p.add_argument("--end", help="newest date/time wanted (default: now)")
    adj = p.add_mutually_exclusive_group()
    adj.add_argument("--adjusted", dest="adjusted", action="store_true", default=False,
                     help="adjusted prices (수정주가: earlier prices scaled across splits and other events)")
    adj.add_argument("--raw", dest="adjusted", action="store_false",
                     help="prices as traded (the default, as in KOAPY)")
    p.add_argument("--english", action="store_true", help="English column names")
    p.add_argument("--out", type=Path, help="write one code to FILE.csv, .parquet or .xlsx")
    p.add_argument("--out-dir", type=Path, help="write each code to DIR/CODE.<format>; codes already saved are skipped")
    p.add_argument("--format", default="csv", choices=("csv", "parquet", "xlsx"), help="file format with --out-dir")
    p.add_argument("--cached", action="store_true", help="read final sessions from the lake's history store, "
                   "fetching only what it lacks (daily, minute; see koabus sync)")
    p.add_argument("--lake", default=None, help="lake root for --cached (default ./data)")
    _all_columns_option(p)


def register(subparsers: Any) -> None:
    common = _common()
    plain = _common(json_output=False)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str, parent=common):
        p = subparsers.add_parser(name, help=help_text, parents=[parent])
        p.set_defaults(func=_guarded(func))
        return p

    add("login", cmd_login, "log the broker's control in (if needed) and show the session")
    p = add("codes", cmd_codes, "list the codes of a market")
    p.add_argument("--market", default=None, help="0/kospi, 10/kosdaq, 8/etf, ... (default: all)")
    p.add_argument("--names", action="store_true", help="show names too")
    p = add("name", cmd_name, "the name of a code")
    p.add_argument("code")
    p = add("code", cmd_code, "the code(s) of a name")
    p.add_argument("name")
    p.add_argument("--market", default=None)
    p = add("info", cmd_info, "basic information of a stock (opt10001)")
    p.add_argument("code")
    p.add_argument("--english", action="store_true", help="English field names")
    _all_columns_option(p)
    for name, text in (("daily", "daily bars"), ("weekly", "weekly bars"), ("monthly", "monthly bars")):
        _bars_options(add(name, cmd_bars, text))
    _bars_options(add("minute", cmd_bars, "minute bars"), interval=True)
    _bars_options(add("tick", cmd_bars, "tick bars"), interval=True)

    p = add("tr", cmd_tr, "run any TR by code")
    p.add_argument("trcode", metavar="CODE", help="TR code, e.g. opt10001")
    p.add_argument("--input", "-i", action="append", default=[], metavar="NAME=VALUE", help="a TR input (repeat)")
    p.add_argument("--all-pages", action="store_true", help="follow continuation pages")
    p.add_argument("--max-pages", type=int, default=None)
    p.add_argument("--english", action="store_true", help="English column names")

    order = subparsers.add_parser("order", help="send, cancel or modify an order")
    osub = order.add_subparsers(dest="order_command", metavar="ACTION")
    order.set_defaults(func=lambda args: (order.print_help(), EXIT_USAGE)[1])
    for side in ("buy", "sell"):
        p = osub.add_parser(side, help=f"{side} order", parents=[common])
        p.add_argument("code")
        p.add_argument("qty", type=int)
        price = p.add_mutually_exclusive_group(required=True)
        price.add_argument("--price", type=_limit_price, help="limit price (KRW, positive, on the KRX tick grid)")
        price.add_argument("--market", action="store_true", help="market order (no price)")
        p.add_argument("--account", help="account (default: the first)")
        p.add_argument("--wait", type=float, default=ORDER_WAIT_S, metavar="S",
                       help="print the order's events for up to S seconds (%(default)s), until it is filled, "
                            "cancelled or rejected; an order still open then stays open (koabus orders)")
        p.add_argument("--client-order-id", help="idempotency key (default: random)")
        p.set_defaults(func=_guarded(cmd_order), side=side)
    p = osub.add_parser("cancel", help="cancel an order", parents=[common])
    p.add_argument("order_no")
    p.add_argument("--qty", type=int, default=0, help="shares to cancel (0: all)")
    _order_target_options(p)
    p.set_defaults(func=_guarded(cmd_order_cancel))
    p = osub.add_parser("modify", help="modify an order's price/quantity", parents=[common])
    p.add_argument("order_no")
    p.add_argument("--price", type=_limit_price, required=True)
    p.add_argument("--qty", type=int, required=True)
    _order_target_options(p)
    p.set_defaults(func=_guarded(cmd_order_modify))

    for name, func, text in (("deposit", cmd_deposit, "cash and orderable amounts (opw00001)"),
                             ("balance", cmd_balance, "holdings and valuation (opw00018)")):
        p = add(name, func, text)
        p.add_argument("--account", help="account (default: the first)")
        p.add_argument("--english", action="store_true", help="English column names")
        _all_columns_option(p)

    cond = subparsers.add_parser("condition", help="saved condition searches")
    csub = cond.add_subparsers(dest="condition_command", metavar="ACTION")
    cond.set_defaults(func=lambda args: (cond.print_help(), EXIT_USAGE)[1])
    p = csub.add_parser("list", help="list the saved conditions", parents=[common])
    p.set_defaults(func=_guarded(cmd_condition_list))
    p = csub.add_parser("search", help="run a condition", parents=[common])
    p.add_argument("name")
    p.add_argument("--index", type=int, default=None)
    p.add_argument("--realtime", action="store_true", help="keep following membership changes")
    p.add_argument("--count", type=int, default=None, help="with --realtime: stop after N changes")
    p.add_argument("--seconds", type=float, default=None, help="with --realtime: stop after S seconds")
    p.set_defaults(func=_guarded(cmd_condition_search))

    p = subparsers.add_parser("calendar", help="KRX sessions: open now? last/next session",
                              parents=[argparse.ArgumentParser(add_help=False)])
    p.add_argument("--date", help="the day to ask about (default: today)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guarded(cmd_calendar))

    p = add("call", cmd_call, "call any control method, e.g. koabus call GetMasterCodeName 005930")
    p.add_argument("method")
    p.add_argument("args", nargs="*")
    del plain


# ---------------------------------------------------------------------------------- plumbing

def _order_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--account", help="account (default: the first)")
    p.add_argument("--code", help="the order's code (default: from the broker or the open orders, opt10075)")
    p.add_argument("--side", choices=("buy", "sell"),
                   help="the order's side (default: from the broker or the open orders, opt10075)")


def _limit_price(text: str) -> int:
    """--price: a positive integer; 0 is never a market order (that is --market)."""
    try:
        price = int(text)
    except ValueError:
        price = 0
    if price <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a limit price: it must be a positive integer (KRW); "
                                         "a market order is buy/sell with --market instead of --price")
    return price


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except KoabusError as exc:
            print(f"koabus: {describe_error(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except BrokenPipeError:  # the reader went away (`| head`): main() ends quietly
            raise
        except (OSError, ValueError) as exc:
            print(f"koabus: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return run


def describe_error(exc: KoabusError) -> str:
    """One line: the error kind, the Kiwoom code and its meaning from the metadata, the message."""
    if exc.kind == "OrderRejected":  # koabus.common.client.orders, not imported here (it pulls pandas)
        return f"order rejected: {exc}"
    if isinstance(exc, KiwoomError):
        meaning = ""
        try:
            from koabus.metadata import catalog

            entry = catalog().error(exc.code)
            meaning = f"{entry.message_ko} ({entry.message_en})"
        except NotFound:
            pass
        text = exc.message if exc.message and exc.message not in meaning else ""
        return " ".join(x for x in (f"Kiwoom error {exc.code}:", meaning, text and f"- {text}") if x)
    return f"{exc.kind}: {exc}"


def _client(args: argparse.Namespace) -> Any:
    """A connected SDK Client, or Unavailable within `--connect-timeout` when no broker answers.

    A plain HELLO asks first: it needs no SDK import (pandas alone takes longer to load than a live
    broker takes to answer), so a command without a broker fails fast.
    """
    from koabus.common.cli.status import broker_answers, no_broker_message

    connect_s = max(0.1, min(args.connect_timeout, args.timeout))
    curve = curve_from_args(args)
    if not broker_answers(args.router, connect_s, curve=curve):
        raise Unavailable(no_broker_message(args.router, connect_s))
    from koabus.common.client import Client, ClientOptions

    options = ClientOptions(router=args.router, pub=args.pub, timeout_s=args.timeout,
                            connect_timeout_s=connect_s, client_name="koabus-cli", curve=curve)
    return Client(options=options)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        # a file or a pipe: no reason to squeeze wide tables into 80 columns, unless COLUMNS says so
        console = Console(stderr=stderr, highlight=False, width=max(console.width, 240))
    return console


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date, dtime)):
        return value.isoformat()
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    try:
        import pandas as pd

        if value is pd.NA or (isinstance(value, float) and value != value):
            return None
    except ImportError:  # pragma: no cover
        pass
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(_jsonable(value), ensure_ascii=False))


def _frame_records(frame: Any) -> List[Dict[str, Any]]:
    data = frame.reset_index() if frame.index.name is not None else frame
    return [_jsonable(r) for r in data.to_dict(orient="records")]


def _print_frame(frame: Any, title: str = "", columns: Optional[Sequence[views.Col]] = None) -> None:
    """A DataFrame as a table: the curated `columns` it has, or every column; long frames elided."""
    table, rows = views.frame_table(frame, title, columns)
    console = _console()
    console.print(table)
    if rows > views.ROW_LIMIT:
        console.print(f"{rows} rows (use --out or --json for all of them)")


def _print_mapping(mapping: Dict[str, Any], title: str = "", hide_empty: bool = False) -> None:
    _console().print(views.mapping_table(mapping, title, hide_empty))


# ---------------------------------------------------------------------------------- commands

def cmd_login(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.login(timeout_s=max(args.timeout, 60.0))
        info = {"accounts": client.accounts(), "simulation": client.is_simulation(),
                "user_id": client.call("GetLoginInfo", "USER_ID"), "epoch": client.epoch}
        shown = {**info, "epoch": str(client.epoch)}  # an id, not a quantity: no thousands separators
        if isinstance(result, dict):
            info, shown = {**result, **info}, {**result, **shown}
        if args.json:
            _print_json(info)
        else:
            _print_mapping(shown, "logged in")
    return 0


def cmd_codes(args: argparse.Namespace) -> int:
    with _client(args) as client:
        codes = client.codes(args.market)
        names = client.names(codes) if args.names else None
    if args.json:
        _print_json([{"code": c, "name": n} for c, n in zip(codes, names)] if names else codes)
    elif names:
        for code, name in zip(codes, names):
            print(f"{code}\t{name}")
    else:
        print("\n".join(codes))
    return 0


def cmd_name(args: argparse.Namespace) -> int:
    with _client(args) as client:
        name = client.name(args.code)
    if not name:
        raise NotFound(f"no stock with code {args.code!r}")
    _print_json({"code": args.code, "name": name}) if args.json else print(name)
    return 0


def cmd_code(args: argparse.Namespace) -> int:
    with _client(args) as client:
        codes = client.code_of(args.name, args.market)
    if not codes:
        raise NotFound(f"no stock named {args.name!r}")
    _print_json(codes) if args.json else print("\n".join(codes))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _require_known_codes(client, [args.code])
        info = client.basic_info(args.code, english=args.english)
    if args.json:
        _print_json(info)
    else:
        _print_mapping(info, f"{args.code} {info.get('종목명', info.get('name', ''))}",
                       hide_empty=not args.all_columns)
    return 0


def _write_frame(frame: Any, path: Path) -> None:
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    out = frame.copy()
    if suffix == ".xlsx":
        try:
            import openpyxl  # noqa: F401
        except ImportError:
            raise InvalidRequest("writing .xlsx needs openpyxl (pip install openpyxl); use .csv or .parquet") from None
        for column in out.select_dtypes(include=["datetimetz"]).columns:
            out[column] = out[column].dt.tz_localize(None)
        if getattr(out.index, "tz", None) is not None:
            out.index = out.index.tz_localize(None)
        out.to_excel(tmp, engine="openpyxl")
    elif suffix == ".parquet":
        out.to_parquet(tmp)
    elif suffix == ".csv":
        out.to_csv(tmp, encoding="utf-8-sig")
    else:
        raise InvalidRequest(f"unknown output format {suffix!r}: use .csv, .parquet or .xlsx")
    tmp.replace(path)


def cmd_bars(args: argparse.Namespace) -> int:
    """Bars of each code; an unknown code, a reversed range or one without a session is an error, and a
    code that has no bars in the range says so (exit 1) instead of printing an empty table."""
    kind = args.command
    if args.out and len(args.codes) > 1:
        raise InvalidRequest("--out takes one code; use --out-dir for several")
    todo = list(args.codes)
    skipped = []
    if args.out_dir:
        todo = []
        for code in args.codes:
            (skipped if (args.out_dir / f"{code}.{args.format}").exists() else todo).append(code)
    frames: Dict[str, Any] = {}
    empty: List[str] = []
    with _client(args) as client:  # first: without a broker, fail before loading pandas
        span = _bar_range(args)
        _require_known_codes(client, todo)
        last = _check_sessions(client, kind, span)
        with _bars_progress(client, kind, todo, span, last, args) as progress:
            for done, code in enumerate(todo):
                progress.code(code, done)
                frame = _fetch_bars(client, kind, code, args, progress.page)
                if not len(frame):
                    empty.append(code)
                elif args.out_dir:
                    _write_frame(frame, args.out_dir / f"{code}.{args.format}")
                elif args.out:
                    _write_frame(frame, args.out)
                if not (args.out_dir or args.out):
                    frames[code] = frame
                progress.code(code, done + 1)
    if args.out_dir or args.out:
        saved = [c for c in todo if c not in empty]
        summary = {"saved": saved, "skipped": skipped, "empty": empty, "path": str(args.out_dir or args.out)}
        if args.json:
            _print_json(summary)
        else:
            print(f"saved {len(saved)} code(s), skipped {len(skipped)} already saved -> {summary['path']}",
                  file=sys.stderr)
    elif args.json:
        if len(frames) == 1:
            _print_json(_frame_records(next(iter(frames.values()))))
        else:
            _print_json({code: _frame_records(f) for code, f in frames.items()})
    else:
        columns = None if args.all_columns else views.BAR_COLUMNS
        for code, frame in frames.items():
            if len(frame):
                _print_frame(frame, f"{code} {kind}", columns)
    for code in empty:
        print(f"koabus: {code}: no {kind} bars {_describe_span(span)}", file=sys.stderr)
    return EXIT_ERROR if empty else 0


#: a range at least this long always holds a KRX session (the longest closures are about a week)
_ALWAYS_A_SESSION_DAYS = 14


def _bar_range(args: argparse.Namespace) -> Any:
    """(oldest, newest) of --start/--end as Timestamps (None when not given); a reversed range is refused."""
    from koabus.common.client import frames

    oldest = frames.to_timestamp(args.start) if args.start else None
    newest = frames.to_timestamp(args.end, end_of_day=True) if args.end else None
    if oldest is not None and newest is not None and oldest > newest:
        raise InvalidRequest(f"--start {args.start} is after --end {args.end}: the range is empty")
    return oldest, newest


def _require_known_codes(client: Any, codes: Sequence[str]) -> None:
    """NotFound naming every code the broker's master list does not know (control calls, never a TR)."""
    unknown = [c for c, n in zip(codes, client.names(list(codes))) if not n]
    if unknown:
        raise NotFound(f"no stock with code {', '.join(unknown)} (koabus codes lists them)")


def _broker_today(client: Any) -> date:
    """The broker's date (its clock is virtual on the simulator), else the local KST date."""
    from koabus.common.clock import KST

    try:
        clock = client.status().get("clock_s")
    except KoabusError:
        clock = None
    return datetime.fromtimestamp(clock, KST).date() if isinstance(clock, (int, float)) else datetime.now(KST).date()


def _check_sessions(client: Any, kind: str, span: Any) -> date:
    """Refuse a range that starts after the broker's today or holds no KRX session; returns the range's
    last day, capped at the broker's today."""
    oldest, newest = span
    today = _broker_today(client)
    last = min(newest.date(), today) if newest is not None else today
    if oldest is None:
        return last
    if oldest.date() > today:
        raise InvalidRequest(f"--start {oldest.date()} is after the broker's date {today}: "
                             f"there are no {kind} bars yet")
    if kind != "monthly" and (last - oldest.date()).days < _ALWAYS_A_SESSION_DAYS:
        from koabus.common.client.calendar import calendar

        if not calendar().sessions(oldest.date(), last):
            raise InvalidRequest(f"no KRX session between {oldest.date()} and {last}: the range is empty")
    return last


def _bars_progress(client: Any, kind: str, codes: Sequence[str], span: Any, last: date,
                   args: argparse.Namespace) -> Any:
    """The progress bar of a bar download (on a terminal's stderr only; kept on screen when writing files)."""
    from koabus.common.cli.progress import BarsProgress, pages_estimate

    oldest = span[0].date() if span[0] is not None else None
    estimate = pages_estimate(kind, oldest, last, getattr(args, "interval", 1), getattr(args, "pages", None))
    writing = bool(args.out or args.out_dir)
    return BarsProgress(client, codes, estimate, _console(stderr=True), transient=not writing,
                        enabled=sys.stderr.isatty())


def _describe_span(span: Any) -> str:
    oldest, newest = span
    if oldest is None and newest is None:
        return "(the broker has none for it)"
    return f"between {oldest.date() if oldest is not None else 'the first'} and " \
           f"{newest.date() if newest is not None else 'now'}"


def _fetch_bars(client: Any, kind: str, code: str, args: argparse.Namespace, on_page: Any) -> Any:
    common = dict(adjusted=args.adjusted, english=args.english, on_page=on_page)
    if args.cached:
        if kind not in ("daily", "minute"):
            raise InvalidRequest(f"--cached is for daily and minute bars, not {kind}")
        common.update(cached=True, lake=args.lake)
    if kind in ("minute", "tick"):
        method = client.minute if kind == "minute" else client.tick
        return method(code, args.interval, args.start, args.end, max_pages=args.pages, **common)
    method = {"daily": client.daily, "weekly": client.weekly, "monthly": client.monthly}[kind]
    return method(code, args.start, args.end, **common)


def _parse_inputs(pairs: Sequence[str]) -> Dict[str, str]:
    inputs: Dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise InvalidRequest(f"--input takes NAME=VALUE, not {pair!r}")
        name, value = pair.split("=", 1)
        inputs[name.strip()] = value
    return inputs


def cmd_tr(args: argparse.Namespace) -> int:
    inputs = _parse_inputs(args.input)
    with _client(args) as client:
        single, frame = client.tr_frame(args.trcode, inputs, all_pages=args.all_pages,
                                        max_pages=args.max_pages, english=args.english)
    if args.json:
        _print_json({"single": single, "multi": _frame_records(frame)})
        return 0
    if single:
        _print_mapping(single, args.trcode)
    if len(frame):
        _print_frame(frame, args.trcode)
    return 0


def _bounded_events(stream: Any, seconds: Optional[float], limit: Optional[int],
                    counted: Callable[[Any], bool] = lambda event: True, first: Sequence[Any] = ()) -> Iterator[Any]:
    """`first`, then events of `stream`, until `limit` counted ones were seen or `seconds` passed (None: no
    bound)."""
    started = time.monotonic()
    seen = 0
    for event in first:
        if limit is not None and seen >= limit:
            return
        seen += 1 if counted(event) else 0
        yield event
    while limit is None or seen < limit:
        remaining = None if seconds is None else seconds - (time.monotonic() - started)
        if remaining is not None and remaining <= 0:
            return
        event = stream.next(min(remaining, 1.0) if remaining is not None else 1.0)
        if event is None:
            continue
        if counted(event):
            seen += 1
        yield event


def _account(client: Any, account: Optional[str]) -> str:
    if account:
        return account
    accounts = client.accounts()
    if not accounts:
        raise NotFound("the logged-in user has no account")
    return accounts[0]


def cmd_order(args: argparse.Namespace) -> int:
    """Send an order and follow it; a refused, rejected or lost order is one error line and exit 1."""
    with _client(args) as client:
        account = _account(client, args.account)
        handle = client.order(account, args.side, args.code, args.qty, 0 if args.market else args.price,
                              market=args.market, client_order_id=args.client_order_id)
        _follow_order(handle, args)
        state, error, history = dict(handle.state), handle.error, list(handle.history)
        if handle.replayed:
            print(f"koabus: client order id {handle.client_order_id} is already known: nothing was sent, "
                  "these are its events so far", file=sys.stderr)
        if handle.following:  # still live after --wait: stop following, the order stays
            handle.detach()
            print(f"koabus: order {state.get('order_no') or handle.client_order_id} is still "
                  f"{state.get('state') or 'open'} after --wait {args.wait:g} s: no longer followed, it stays "
                  "open (koabus orders lists it, koabus order cancel ends it)", file=sys.stderr)
    if history or error is None:
        _print_order_state(args, state, error)
    elif args.json:
        _print_json({"error": _error_record(error)})
    if error is not None:
        raise error
    return 0


def _follow_order(handle: Any, args: argparse.Namespace) -> None:
    deadline = time.monotonic() + args.wait
    events = handle.events()
    while time.monotonic() < deadline:
        try:
            event = events.next(max(0.05, deadline - time.monotonic()))
        except StopIteration:
            return
        if event is None:
            return
        if args.json:
            _print_json(event)
        else:
            _console().print(_order_event_line(event), markup=False)


def _order_event_line(event: Dict[str, Any]) -> str:
    """`accepted   state=accepted order_no=0000002 filled=0  [100000] ...`, without the empty fields."""
    parts = [f"{event.get('event', ''):10}"]
    parts += [f"{label}={views.cell_text(event.get(key))}" for key, label in
              (("state", "state"), ("order_no", "order_no"), ("filled_qty", "filled"))
              if not views.is_blank(event.get(key))]
    message = event.get("message")
    if not views.is_blank(message):
        parts.append(f" {message}" if len(parts) > 1 else str(message))
    return " ".join(parts).rstrip()


def _print_order_state(args: argparse.Namespace, state: Dict[str, Any], error: Optional[KoabusError]) -> None:
    if args.json:
        _print_json({"final": state, **({"error": _error_record(error)} if error is not None else {})})
        return
    _print_mapping({k: v for k, v in state.items() if k in ("client_order_id", "order_no", "state", "code",
                                                           "side", "qty", "price", "filled_qty",
                                                           "remaining_qty", "avg_fill_price", "message",
                                                           "error_code")},
                   "order", hide_empty=True)


def _error_record(error: KoabusError) -> Dict[str, Any]:
    return {"kind": error.kind, "code": getattr(error, "code", None), "message": error.message,
            "text": describe_error(error)}


def cmd_order_cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        account = _account(client, args.account)
        target = _order_target(client, account, args)
        result = client.cancel_order(account, order_no=args.order_no, qty=args.qty, **target)
    return _print_order_result(args, result)


def cmd_order_modify(args: argparse.Namespace) -> int:
    with _client(args) as client:
        account = _account(client, args.account)
        target = _order_target(client, account, args)
        result = client.modify_order(account, order_no=args.order_no, qty=args.qty, price=args.price, **target)
    return _print_order_result(args, result)


def _order_target(client: Any, account: str, args: argparse.Namespace) -> Dict[str, Any]:
    """Code and side of the order to change: given, known to the broker (it fills them in), or read from
    the account's open orders (an order placed elsewhere); NotFound when it is none of these."""
    given = {k: v for k, v in (("code", args.code), ("side", args.side)) if v}
    if len(given) == 2:
        return given
    try:
        client.order_status(order_no=args.order_no)
        return given  # the broker sent it and knows its code and side
    except NotFound:
        pass
    frame = client.open_orders(account, english=True)
    wanted = args.order_no.strip().lstrip("0")
    for row in frame.to_dict(orient="records") if len(frame) else ():
        if str(row.get("order_no", "")).strip().lstrip("0") == wanted:
            kind = str(row.get("order_kind") or "")
            side = "buy" if "매수" in kind else "sell" if "매도" in kind else None
            found = {"code": str(row.get("code") or "").lstrip("A"), "side": side}
            return {**{k: v for k, v in found.items() if v}, **given}
    raise NotFound(f"no open order {args.order_no} in account {account} (koabus orders lists them); an order "
                   "this broker did not send and that is not open cannot be changed")


def _print_order_result(args: argparse.Namespace, result: Dict[str, Any]) -> int:
    if args.json:
        _print_json(result)
    else:
        _print_mapping({k: v for k, v in result.items() if k != "events"}, "order", hide_empty=True)
    from koabus.common.client.orders import rejection_of

    error = rejection_of(result)
    if error is not None:
        raise error
    return 0


def cmd_deposit(args: argparse.Namespace) -> int:
    with _client(args) as client:
        info = client.deposit(args.account, english=args.english)
    if args.json:
        _print_json(info)
    elif args.all_columns:
        _print_mapping(info, "deposit")
    else:
        _print_mapping(views.curated_mapping(info, views.DEPOSIT_FIELDS), "deposit")
    return 0


def cmd_balance(args: argparse.Namespace) -> int:
    with _client(args) as client:
        totals, holdings = client.balance(args.account, english=args.english)
    if args.json:
        _print_json({"totals": totals, "holdings": _frame_records(holdings)})
    elif args.all_columns:
        _print_mapping(totals, "balance")
        _print_frame(holdings, "holdings")
    else:
        console = _console()
        if len(holdings):
            _print_frame(holdings, "holdings", views.HOLDING_COLUMNS)
        else:
            console.print("no holdings")
        console.print(views.balance_summary(totals, console.width))
    return 0


# `koabus orders` (open orders, and history with date ranges) is in account.py


def cmd_condition_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        pairs = client.conditions()
    if args.json:
        _print_json([{"index": i, "name": n} for i, n in pairs])
    else:
        for index, name in pairs:
            print(f"{index:03d}\t{name}")
    return 0


def cmd_condition_search(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if not args.realtime:
            codes = client.condition_search(args.name, args.index)
            _print_json(codes) if args.json else print("\n".join(codes))
            return 0
        stream = client.condition_stream(args.name, args.index)
        with stream:
            changes_only = lambda event: event.kind != "initial"  # noqa: E731 - the initial list is not a change
            for event in _bounded_events(stream, args.seconds, args.count, counted=changes_only):
                if args.json:
                    print(json.dumps({"kind": event.kind, "codes": list(event.codes), "index": event.index,
                                      "name": event.name}, ensure_ascii=False), flush=True)
                else:
                    print(f"{event.kind}\t{' '.join(event.codes)}", flush=True)
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    # the shared stdlib calendar: no SDK/pandas import, XKRX loads only for years outside its tables
    from koabus.common.clock import KST
    from koabus.common.krx_calendar import default_calendar, parse_day

    cal, now = default_calendar(), datetime.now(KST)
    try:
        day = parse_day(args.date) if args.date else now.date()
    except ValueError:
        raise InvalidRequest(f"--date {args.date!r}: expected YYYY-MM-DD") from None
    times = cal.session_times(day)
    info = {"date": day.isoformat(), "is_session": times is not None,
            "open": times.open.isoformat() if times else None, "close": times.close.isoformat() if times else None,
            "open_now": (times is not None and times.open <= now < times.close) if not args.date else None,
            "phase_now": cal.phase(now.timestamp()).value if not args.date else None,
            "last_session": cal.session_on_or_before(day).isoformat(),
            "next_session": cal.next_session(day).isoformat()}
    if args.json:
        print(json.dumps(info, ensure_ascii=False))  # plain values: _print_json would import pandas
    else:
        _print_mapping({k: v for k, v in info.items() if v is not None}, "KRX calendar")
    return 0


def _typed_args(method_name: str, raw: Iterable[str]) -> List[Any]:
    """Convert command-line text to the method's declared argument types (int/bool)."""
    from koabus.metadata import catalog

    raw = list(raw)
    try:
        declared = [a.type for a in catalog().method(method_name).args]
    except NotFound:
        declared = []
    out: List[Any] = []
    for index, text in enumerate(raw):
        kind = declared[index].lower() if index < len(declared) else "str"
        if kind in ("int", "long", "short"):
            out.append(int(text))
        elif kind in ("bool", "boolean"):
            out.append(text.lower() in ("1", "true", "yes"))
        else:
            out.append(text)
    return out


def cmd_call(args: argparse.Namespace) -> int:
    with _client(args) as client:
        result = client.call(args.method, *_typed_args(args.method, args.args))
    if args.json:
        _print_json({"method": args.method, "result": result})
    else:
        print(result)
    return 0
