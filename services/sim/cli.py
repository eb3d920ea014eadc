"""`koabus sim reset|show`: the simulated Kiwoom server's persistent state (store.py) from the shell.

Light to import (argparse only at import time): `koabus` builds its parser from every command module.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime
from typing import Any, Dict, List, Optional

#: the broker's default `state_dir` (var/state, relative to where it runs: the repository for make run)
DEFAULT_STATE_DIR = os.path.join("var", "state", "sim")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sim", help="the simulated Kiwoom server's state (accounts, orders, fills) kept across restarts",
        description="The simulated server keeps its accounts, orders and fills in the broker's "
                    "state_dir/sim (default var/state/sim) across broker restarts, as Kiwoom's server does.")
    actions = parser.add_subparsers(dest="sim_action", metavar="ACTION")
    reset = actions.add_parser("reset", help="delete the simulated server state (refused while a broker runs)",
                               description="Delete the simulated accounts, orders and fills: the next broker "
                                           "starts with fresh accounts. Refused while a simulator holds them.")
    show = actions.add_parser("show", help="accounts, cash, positions, open orders and fills of the stored state",
                              description="Rebuild the stored state (read-only; a broker may be running) "
                                          "and show it.")
    for sub in (reset, show):
        sub.add_argument("--state-dir", metavar="DIR", default=DEFAULT_STATE_DIR,
                         help=f"the simulated server's state directory (default {DEFAULT_STATE_DIR}: "
                              "the broker's state_dir plus /sim)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument("--inputs", action="store_true", help="also list every stored order input")
    reset.set_defaults(func=run_reset)
    show.set_defaults(func=run_show)
    parser.set_defaults(func=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_reset(args: argparse.Namespace) -> int:
    from .store import SimStore, StoreError, reset_store

    path = args.state_dir
    if not SimStore(path).exists():
        print(f"no simulated server state in {path}")
        return 0
    try:
        count = reset_store(path)
    except StoreError as exc:
        print(f"koabus sim reset: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"koabus sim reset: {path}: {exc}", file=sys.stderr)
        return 1
    print(f"removed the simulated server state in {path} ({count} order inputs); "
          "the next broker starts with fresh accounts")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from .store import SimStore, StoreError

    store = SimStore(args.state_dir)
    if not store.exists():
        print(f"no simulated server state in {args.state_dir}", file=sys.stderr)
        return 1
    try:
        report = describe(store, with_inputs=args.inputs)
    except StoreError as exc:
        print(f"koabus sim show: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
    else:
        print(render(report))
    return 0


def describe(store: Any, with_inputs: bool = False) -> Dict[str, Any]:
    """The stored state as plain data: files, clock, counts and, rebuilt, each account's book."""
    from .store import resume_time

    header, anchor, inputs = store.header(), store.anchor(), store.inputs()
    now_t = resume_time(0.0, anchor, inputs)
    report: Dict[str, Any] = {
        "state_dir": store.path, "holder_pid": store.holder(),
        "seed": header.seed if header else None,
        "accounts": [{"number": n, "deposit": d} for n, d in header.accounts] if header else [],
        "clock": None if anchor is None else {
            "virtual_now": _kst(now_t), "trading_day": anchor.trading_day, "speed": anchor.speed,
            "anchored_s_ago": round(max(0.0, time.time() - anchor.wall_t), 1)},
        "inputs": len(inputs), "accepted": sum(1 for r in inputs if r.accepted),
        "rejected": sum(1 for r in inputs if not r.accepted),
        "books": None, "note": "",
    }
    if with_inputs:
        report["input_records"] = [{**r.__dict__, "time": _kst(r.t)} for r in inputs]
    if header is None:
        report["note"] = "no header: nothing to rebuild"
    elif header.market is not None:
        report["note"] = "written with a custom market config: not rebuilt here"
    elif now_t > 0:
        report["books"] = _rebuild(header, inputs, now_t)
    return report


def _rebuild(header: Any, inputs: List[Any], now_t: float) -> Optional[List[Dict[str, Any]]]:
    """Replay the inputs through a fresh exchange (as a restarted simulator does) and read it at now_t."""
    from koabus.common.clock import KST, VirtualClock

    from .config import AccountConfig, SimConfig
    from .world import World

    start = datetime.fromtimestamp(now_t, KST)
    config = SimConfig(seed=header.seed, speed=0.0, start_mode="fixed", start=start,
                       accounts=tuple(AccountConfig(n, d) for n, d in header.accounts))
    world = World(config, VirtualClock(start, 0.0), replay=inputs)
    exchange = world.exchange
    day = world.session_key(now_t)
    books = []
    for number, _deposit in header.accounts:
        cash = world.cash(number, now_t)
        books.append({
            "account": number,
            "cash": {"deposit": cash.deposit, "d2": cash.d2, "orderable": cash.orderable},
            "positions": [{"code": p.code, "qty": p.qty, "avg_price": p.avg_price, "cost": p.cost}
                          for p in world.positions(number, now_t) if p.qty],
            "open_orders": [{"order_no": o.order_no, "day": o.day.isoformat(), "side": o.side, "code": o.code,
                             "qty": o.qty, "price": o.price, "hoga": o.hoga, "unfilled": o.remaining}
                            for o in exchange.open_orders(number)],
            "fills_today": [{"fill_no": f.fill_no, "order_no": f.order_no, "time": _kst(f.t), "side": f.side,
                             "code": f.code, "qty": f.qty, "price": f.price}
                            for f in exchange.fills(number, day)],
        })
    return books


def render(report: Dict[str, Any]) -> str:
    holder = report["holder_pid"]
    lines = [f"simulated server state in {report['state_dir']} "
             f"({'held by a running simulator, pid ' + str(holder) if holder is not None else 'not in use'})"]
    if report["seed"] is not None:
        accounts = ", ".join(f"{a['number']} ({a['deposit']:,} KRW at start)" for a in report["accounts"])
        lines.append(f"  seed {report['seed']}; accounts {accounts}")
    clock = report["clock"]
    if clock:
        lines.append(f"  server time {clock['virtual_now']} (trading day {clock['trading_day']}, speed "
                     f"{clock['speed']:g}, anchored {clock['anchored_s_ago']:g} s ago)")
    lines.append(f"  order inputs: {report['inputs']} ({report['accepted']} accepted, {report['rejected']} rejected)")
    for r in report.get("input_records", []):
        result = f"order {r['order_no']}" if r["accepted"] else f"rejected: {r['message']}"
        lines.append(f"  input {r['seq']} {r['time']} {r['account']} {r['action']} {r['side']} {r['code']} "
                     f"x{r['qty']} @ {r['price']} hoga {r['hoga']} -> {result}")
    if report["note"]:
        lines.append(f"  {report['note']}")
    for book in report["books"] or []:
        cash = book["cash"]
        lines.append(f"account {book['account']}: deposit {cash['deposit']:,}, D+2 {cash['d2']:,}, "
                     f"orderable {cash['orderable']:,}")
        for p in book["positions"]:
            lines.append(f"  holding {p['code']} {p['qty']:,} @ {p['avg_price']:,}")
        for o in book["open_orders"]:
            price = "market" if o["hoga"] == "03" else f"{o['price']:,}"
            lines.append(f"  open    {o['order_no']} {o['side']} {o['code']} {o['unfilled']:,}/{o['qty']:,} @ {price}"
                         f" ({o['day']})")
        for f in book["fills_today"]:
            lines.append(f"  fill    {f['fill_no']} order {f['order_no']} {f['side']} {f['code']} {f['qty']:,} "
                         f"@ {f['price']:,} {f['time'][11:19]}")
    return "\n".join(lines)


def _kst(t: float) -> str:
    from koabus.common.clock import KST

    return datetime.fromtimestamp(t, KST).isoformat(timespec="seconds")
