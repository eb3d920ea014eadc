"""`koabus orders`, `koabus fills`, `koabus credit`, `koabus fo`: account history and the other order kinds.

- `orders` lists the open orders (opt10075) as before; with `--from/--to` (or `--today`) it lists every
  order of each day in the range from opw00007 (계좌별주문체결내역상세), one query per weekday (the
  TR takes one 주문일자), with the day in a `일자` column;
- `fills` is the same history restricted to orders with fills (opw00007 조회구분 4), today by default;
- `credit buy|sell` sends SendOrderCredit (sCreditGb 03 buy; 99 or 33 with a loan date sell), `fo
  buy|sell` SendOrderFO, both through the broker's `order` op (kinds credit and fo) and followed as
  `koabus order buy` follows a stock order.

Ranges are checked before anything is asked: a start after the end or after the broker's date (its
clock is virtual on the simulator), or a range without a weekday, exits 2 or 1 with a message; a
range with no orders says so and exits 0.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from typing import Any, List, Optional, Tuple

from koabus.common.cli import commands, views
from koabus.common.errors import InvalidRequest, KoabusError

HISTORY_TR = "opw00007"
#: opw00007 조회구분: every order by order number, or only those with fills
ALL_ORDERS, FILLS_ONLY = "1", "4"
SIDES = {"all": "0", "sell": "1", "buy": "2"}
#: SendOrderCredit sCreditGb per side, and the loan date 99 takes (facts §8)
CREDIT_TYPES = {"buy": ("03",), "sell": ("99", "33")}
COMBINED_LOAN_DATE = "99991231"
#: days queried before a note that the broker paces them (Kiwoom allows about 5 queries in a burst)
PACED_DAYS = 5

HISTORY_COLUMNS = (
    views.Col("일자", "date"), views.Col("주문번호", "order_no", label_en="order no"),
    views.Col("주문시간", "order_time", "시간", "time"), views.Col("종목번호", "code", "코드"),
    views.Col("종목명", "name", max_width=views.NAME_WIDTH), views.Col("주문구분", "order_kind", "구분", "kind"),
    views.Col("주문수량", "order_qty", "수량", "qty"), views.Col("주문단가", "order_price", "가격", "price"),
    views.Col("체결수량", "filled_qty", "체결", "filled"), views.Col("체결단가", "fill_price", "체결가", "fill price"),
    views.Col("주문잔량", "remaining_qty", "잔량", "remaining"), views.Col("접수구분", "receipt_type", "접수", "status"),
)


class RangeError(Exception):
    """A date range that cannot hold any order: the exit code says whether it was mistyped (2) or empty (1)."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


# ---------------------------------------------------------------------------------- registration

def register(subparsers: Any) -> None:
    common = commands._common()

    if "orders" not in subparsers.choices:  # an older commands.py registers its own (main.py routes here)
        p = subparsers.add_parser("orders", parents=[common],
                                  help="open orders (opt10075), or every order of a date range (opw00007)")
        _history_options(p, default_today=False)
        p.set_defaults(func=_run(cmd_orders))
    p = subparsers.add_parser("fills", parents=[common], help="orders with fills over a date range (opw00007)")
    _history_options(p, default_today=True)
    p.set_defaults(func=_run(cmd_fills))

    credit = subparsers.add_parser("credit", help="credit (신용) stock orders: SendOrderCredit")
    csub = credit.add_subparsers(dest="credit_command", metavar="SIDE")
    credit.set_defaults(func=lambda args: (credit.print_help(), commands.EXIT_USAGE)[1])
    for side in ("buy", "sell"):
        p = _order_parser(csub, side, common, f"credit {side}")
        types = CREDIT_TYPES[side]
        p.add_argument("--type", dest="credit_gb", choices=types, default=types[0],
                       help="sCreditGb: 03 self-financed buy; 99 sell against combined loans, 33 sell "
                            "repaying the loan of --loan-date (default %(default)s)")
        p.add_argument("--loan-date", help="YYYYMMDD, the loan that a --type 33 sell repays")
        p.set_defaults(func=_run(cmd_credit), side=side)

    fo = subparsers.add_parser("fo", help="futures/options orders: SendOrderFO")
    fsub = fo.add_subparsers(dest="fo_command", metavar="SIDE")
    fo.set_defaults(func=lambda args: (fo.print_help(), commands.EXIT_USAGE)[1])
    for side in ("buy", "sell"):
        p = _order_parser(fsub, side, common, f"futures/options {side}")
        p.set_defaults(func=_run(cmd_fo), side=side)


def _history_options(p: argparse.ArgumentParser, default_today: bool) -> None:
    since = "today" if default_today else "open orders only"
    p.add_argument("--from", dest="start", metavar="DATE", help=f"first day, YYYY-MM-DD or YYYYMMDD (default: {since})")
    p.add_argument("--to", dest="end", metavar="DATE", help="last day (default: the broker's today)")
    if not default_today:
        p.add_argument("--today", action="store_true", help="every order of today, not only the open ones")
    p.add_argument("--code", help="only this stock")
    p.add_argument("--side", choices=tuple(SIDES), default="all")
    p.add_argument("--account", help="account (default: the first)")
    p.add_argument("--english", action="store_true", help="English column names")
    commands._all_columns_option(p)


def _order_parser(sub: Any, side: str, common: argparse.ArgumentParser, text: str) -> argparse.ArgumentParser:
    p = sub.add_parser(side, help=f"{text} order", parents=[common])
    p.add_argument("code")
    p.add_argument("qty", type=int)
    price = p.add_mutually_exclusive_group(required=True)
    price.add_argument("--price", type=commands._limit_price, help="limit price (a positive integer)")
    price.add_argument("--market", action="store_true", help="market order (no price)")
    p.add_argument("--account", help="account (default: the first)")
    p.add_argument("--wait", type=float, default=10.0, metavar="S", help="follow the order this long")
    p.add_argument("--client-order-id", help="idempotency key (default: random)")
    return p


def _run(func: Any) -> Any:
    """`commands._guarded` (one error line, exit 1), and the exit code a RangeError names."""
    def call(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except RangeError as exc:
            print(f"koabus: {exc}", file=sys.stderr)
            return exc.exit_code

    return commands._guarded(call)


# ---------------------------------------------------------------------------------- ranges

def parse_day(text: str, what: str) -> date:
    """YYYY-MM-DD or YYYYMMDD; a RangeError (exit 2) names the option otherwise."""
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            continue
    raise RangeError(f"{what} {text!r} is not a date (YYYY-MM-DD or YYYYMMDD)", 2)


def history_days(start: date, end: date, today: date) -> List[date]:
    """The weekdays from `start` to `end` (capped at `today`), newest first; RangeError when there are none."""
    if start > end:
        raise RangeError(f"--from {start} is after --to {end}", 2)
    if start > today:
        raise RangeError(f"--from {start} is after the broker's today ({today}): no orders yet", 2)
    end = min(end, today)
    days = [end - timedelta(days=n) for n in range((end - start).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    if not days:
        raise RangeError(f"no trading day from {start} to {end} (a weekend)", 1)
    return days


def _broker_today(client: Any) -> date:
    """The broker's date (virtual on the simulator), else the local KST date."""
    from koabus.common.clock import KST

    try:
        clock = client.status().get("clock_s")
    except KoabusError:
        clock = None
    now = datetime.fromtimestamp(clock, KST) if isinstance(clock, (int, float)) else datetime.now(KST)
    return now.date()


def _range(args: argparse.Namespace, client: Any) -> Tuple[List[date], date, date]:
    today = _broker_today(client)
    start = parse_day(args.start, "--from") if args.start else today
    end = parse_day(args.end, "--to") if args.end else max(today, start)
    return history_days(start, end, today), start, min(end, today)


# ---------------------------------------------------------------------------------- history

def order_history(client: Any, account: str, days: List[date], kind: str, code: Optional[str], side: str,
                  english: bool) -> Any:
    """opw00007 for each day (newest first), one frame with the day as its first column."""
    import pandas as pd

    frames = []
    if len(days) > PACED_DAYS:
        print(f"koabus: {len(days)} days, one {HISTORY_TR} query each: the broker paces them",
              file=sys.stderr)
    for day in days:
        inputs = {"주문일자": day.strftime("%Y%m%d"), "계좌번호": account, "조회구분": kind,
                  "주식채권구분": "0", "매도수구분": SIDES[side], "종목코드": code or "", "시작주문번호": ""}
        _, frame = client.tr_frame(HISTORY_TR, inputs, all_pages=True, english=english)
        if len(frame):
            frame.insert(0, "date" if english else "일자", day)
            frames.append(frame)
    if not frames:
        return None
    return pd.concat(frames, ignore_index=True)


def _show_history(args: argparse.Namespace, frame: Any, what: str, start: date, end: date) -> int:
    span = f"{start}" if start == end else f"{start} to {end}"
    if frame is None:
        if args.json:
            commands._print_json([])
        else:
            commands._console().print(f"no {what} {'on' if start == end else 'from'} {span}")
        return 0
    if args.json:  # empty dates (대출일 NaT) as null, not "NaT"
        commands._print_json(commands._frame_records(frame.astype(object).where(frame.notna(), None)))
    else:
        commands._print_frame(frame, f"{what}, {span}", None if args.all_columns else HISTORY_COLUMNS)
    return 0


def cmd_orders(args: argparse.Namespace) -> int:
    if not (args.start or args.end or args.today):
        return _open_orders(args)
    return _history(args, ALL_ORDERS, "orders")


def cmd_fills(args: argparse.Namespace) -> int:
    return _history(args, FILLS_ONLY, "fills")


def _history(args: argparse.Namespace, kind: str, what: str) -> int:
    """`what` (orders or fills) of the asked days, from opw00007 with 조회구분 `kind`."""
    with commands._client(args) as client:
        days, start, end = _range(args, client)
        account = commands._account(client, args.account)
        frame = order_history(client, account, days, kind, args.code, args.side, args.english)
    return _show_history(args, frame, what, start, end)


def _open_orders(args: argparse.Namespace) -> int:
    """Today's open orders (opt10075), as `koabus orders` always showed them."""
    with commands._client(args) as client:
        frame = client.open_orders(args.account, side=SIDES[args.side], code=args.code, english=args.english)
    if args.json:
        commands._print_json(commands._frame_records(frame))
    elif not len(frame) and not args.all_columns:
        commands._console().print("no open orders")
    else:
        commands._print_frame(frame, "open orders", None if args.all_columns else views.ORDER_COLUMNS)
    return 0


# ---------------------------------------------------------------------------------- credit and FO orders

def cmd_credit(args: argparse.Namespace) -> int:
    loan_date = ""
    if args.credit_gb == "33":
        if not args.loan_date:
            raise InvalidRequest("--type 33 repays one loan: give its --loan-date YYYYMMDD")
        loan_date = parse_day(args.loan_date, "--loan-date").strftime("%Y%m%d")
    elif args.loan_date:
        raise InvalidRequest(f"--loan-date goes with --type 33 only, not {args.credit_gb}")
    elif args.credit_gb == "99":
        loan_date = COMBINED_LOAN_DATE
    return _send(args, kind="credit", credit_gb=args.credit_gb, loan_date=loan_date)


def cmd_fo(args: argparse.Namespace) -> int:
    return _send(args, kind="fo")


def _send(args: argparse.Namespace, **extra: Any) -> int:
    """Send and follow an order of another kind, exactly as `koabus order buy|sell` does a stock order."""
    with commands._client(args) as client:
        account = commands._account(client, args.account)
        handle = client.order(account, args.side, args.code, args.qty, 0 if args.market else args.price,
                              market=args.market, client_order_id=args.client_order_id, **extra)
        commands._follow_order(handle, args)
        state, error, history = dict(handle.state), handle.error, list(handle.history)
        if handle.following:
            handle.detach()
    if history or error is None:
        commands._print_order_state(args, state, error)
    elif args.json:
        commands._print_json({"error": commands._error_record(error)})
    if error is not None:
        raise error
    return 0


__all__: List[str] = ["register", "order_history", "history_days", "parse_day", "RangeError"]
