"""`koabus watch`: live realtime values as a table on a terminal, one line per event into a pipe or a file,
or one JSON event per line.

Every code asked has a row from the start and begins with its last known values: the broker's
snapshot when another subscriber kept one, else (trades) the opt10001 quote, since the broker keeps no
last value of a pair nobody subscribed to.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, Callable, Dict, List, Optional, Sequence

from koabus.common.cli import views
from koabus.common.cli.commands import (
    _bounded_events,
    _client,
    _common,
    _console,
    _guarded,
    _jsonable,
    _require_known_codes,
)
from koabus.common.errors import KoabusError, NotFound


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("watch", parents=[_common()],
                              help="live realtime values (a table; lines into a pipe; --json: one event per line)")
    p.set_defaults(func=_guarded(cmd_watch))
    p.add_argument("codes", nargs="+", metavar="CODE")
    p.add_argument("--type", dest="types", action="append", default=None, metavar="NAME",
                   help="realtime type: slug (trade, quote, book, ...) or Korean name; repeat (default trade)")
    p.add_argument("--count", type=int, default=None, help="stop after N events")
    p.add_argument("--seconds", type=float, default=None, help="stop after S seconds")
    p.add_argument("--no-snapshot", action="store_true", help="do not start with the last known values")
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--table", dest="mode", action="store_const", const="table",
                       help="a live table (the default on a terminal)")
    shape.add_argument("--lines", dest="mode", action="store_const", const="lines",
                       help="one tab-separated line per event (the default into a pipe or a file)")
    p.add_argument("--fields", metavar="A,B,C",
                   help="columns to show after code and name: English FID names (or FID numbers), "
                        "e.g. current_price,volume,trade_strength (default: a compact set per type)")


#: realtime types whose codes are not stock codes (market-wide, an industry index, the account's own)
_NOT_STOCK_TYPES = frozenset({"market_status", "index", "index_breadth", "order", "balance", "fo_balance"})
#: at most this many codes of one `watch` are seeded with opt10001 (a TR each, paced, counted by Kiwoom)
MAX_TRADE_SEEDS = 10
#: opt10001 (English) fields that stand in for a trade's values until the first trade arrives
_TRADE_SEED_FIELDS = ("current_price", "change", "change_rate", "open", "high", "low")


def cmd_watch(args: argparse.Namespace) -> int:
    """Follow realtime values: a live table per type on a terminal, one line per event into a pipe or
    file, or one JSON event per line (--json). Every code asked starts with its last known values:
    the broker's snapshot when another subscriber kept one, else (trades) the basic-info quote."""
    from koabus.metadata import catalog

    slugs = list(dict.fromkeys(catalog().realtype(t).slug for t in (args.types or ["trade"])))
    chosen = views.resolve_watch_fields(slugs, args.fields) if args.fields else None
    mode = "json" if args.json else args.mode or ("table" if sys.stdout.isatty() else "lines")
    latest: Dict[Any, Any] = {}  # (slug, code) -> the last event
    with _client(args) as client:
        names = dict(zip(args.codes, client.names(args.codes)))
        if not set(slugs) & _NOT_STOCK_TYPES:
            _require_known_codes(client, args.codes)
        stream = client.realtime(args.codes, slugs, snapshot=not args.no_snapshot)
        show = _watch_printer(mode, slugs, names, chosen, latest, args.codes)
        try:
            with stream:
                first = [] if args.no_snapshot else _snapshot_events(stream)
                seeds = [] if args.no_snapshot else _trade_seeds(client, slugs, args.codes, first)
                for event in _bounded_events(stream, args.seconds, args.count, first=seeds + first):
                    show(event)
        finally:
            show(None)
    return 0


def _snapshot_events(stream: Any, wait_s: float = 0.05) -> List[Any]:
    """The events already waiting right after the stream started: the snapshot, and perhaps one live."""
    events: List[Any] = []
    while len(events) < 10_000:
        event = stream.next(wait_s)
        if event is None:
            break
        events.append(event)
        if not event.from_snapshot:
            break
    return events


def _trade_seeds(client: Any, slugs: Sequence[str], codes: Sequence[str], first: Sequence[Any]) -> List[Any]:
    """For trade codes the snapshot did not cover (nobody else watched them, so the broker kept no last
    value): the basic-info quote as a snapshot event, so a lone watcher starts with the current price."""
    if "trade" not in slugs:
        return []
    from koabus.common.client.events import RealtimeEvent
    from koabus.common.client.streams import realtime_topic
    from koabus.metadata import catalog

    covered = {e.code for e in first if slug_of(e.type) == "trade"}
    seeds = []
    for code in [c for c in dict.fromkeys(codes) if c not in covered][:MAX_TRADE_SEEDS]:
        try:
            info = client.basic_info(code, english=True)
        except KoabusError:
            continue  # a seed is a nicety: the live values still come
        values = {k: info.get(k) for k in _TRADE_SEED_FIELDS if not views.is_blank(info.get(k))}
        if "volume" in info:
            values["cum_volume"] = info["volume"]
        for key in ("current_price", "open", "high", "low"):
            if isinstance(values.get(key), (int, float)):
                values[key] = abs(values[key])
        seeds.append(RealtimeEvent(realtime_topic("trade", code), catalog().realtype("trade").name, code, values,
                                   None, datetime.now().astimezone(), 0, 0, True))
    return seeds


def _watch_printer(mode: str, slugs: Sequence[str], names: Dict[str, str], chosen: Optional[Sequence[str]],
                   latest: Dict[Any, Any], codes: Sequence[str]) -> Callable[[Any], None]:
    """`show(event)` for the output mode; `show(None)` ends it (the live table prints its last state)."""
    if mode == "json":
        def show_json(event: Any) -> None:
            if event is not None:
                record = event_dict(event)
                if event.from_snapshot and not event.seq:
                    record["source"] = "opt10001"  # a seed, not a broker snapshot
                print(json.dumps(_jsonable(record), ensure_ascii=False), flush=True)
        return show_json
    several = len(slugs) > 1
    if mode == "lines":
        headed: set = set()

        def show_line(event: Any) -> None:
            if event is None:
                return
            slug = slug_of(event.type)
            if slug not in headed:
                headed.add(slug)
                print(views.watch_header(slug, chosen, several), flush=True)
            print(views.watch_line(event, slug, names, chosen, several), flush=True)
        return show_line
    from rich.live import Live

    # rendered on Live's refresh (8 a second), not per event; dict(latest) is an atomic copy
    live = Live(get_renderable=lambda: views.watch_tables(dict(latest), slugs, codes, names, chosen),
                console=_console(), refresh_per_second=8, transient=False)
    live.__enter__()

    def show_table(event: Any) -> None:
        if event is None:
            live.__exit__(None, None, None)
        else:
            latest[(slug_of(event.type), event.code)] = event
    return show_table


def slug_of(realtype_name: str) -> str:
    """The slug (trade, book, ...) of a realtime type's Korean name."""
    from koabus.metadata import catalog

    try:
        return catalog().realtype(realtype_name).slug
    except NotFound:
        return realtype_name


def event_dict(event: Any) -> Dict[str, Any]:
    """A RealtimeEvent as the JSON record `watch --json` prints."""
    return {"topic": event.topic, "type": event.type, "code": event.code, "values": event.values,
            "event_time": event.event_time, "received": event.received, "seq": event.seq,
            "snapshot": event.from_snapshot}
