"""The bus as browser state, without I/O: events in, small JSON-ready messages out.

`Dashboard` keeps the one current picture (watchlist quotes, order books, bars, orders, fills,
alerts, service health) and turns each bus event into a keyed message: the key names the piece of
state the message replaces (`quote:005930`, `book:005930`, `orders`), so a browser that falls
behind only needs the newest message per key. `Outbox` is that per-browser queue: bounded, coalescing
to the latest state per key, and once too many keys pile up it is emptied and asks for one full
state instead. Times are passed in (`now_s`), never read here.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Deque, Dict, Iterable, List, Mapping, Optional, Tuple

from koabus.common.clock import KST

Message = Dict[str, Any]
BOOK_LEVELS = 10
MAX_FILLS = 50
MAX_ALERTS = 50
MAX_ORDERS = 100
#: a bar: [start epoch ms, open, high, low, close, volume]
BarRow = List[int]


def _int(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lstrip("+")
        try:
            return int(float(text)) if text else None
        except ValueError:
            return None
    return None


def _float(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip()) if value not in (None, "") else None
    except ValueError:
        return None


def _ms(at: Optional[datetime]) -> Optional[int]:
    return None if at is None else int(at.timestamp() * 1000)


def interval_seconds(interval: str) -> int:
    """"1m" -> 60, "60m" -> 3600, "1h" -> 3600, "1d" -> 86400."""
    unit = {"m": 60, "h": 3600, "d": 86400}[interval[-1]]
    return int(interval[:-1]) * unit


@dataclass
class ServiceHealth:
    """The newest heartbeat of one service and when it arrived (the dashboard's clock)."""

    body: Dict[str, Any]
    received_s: float


class Dashboard:
    """The current picture. Every `on_*` returns the messages to send to every browser."""

    def __init__(self, codes: Iterable[str], interval: str = "1m", max_bars: int = 400, trading: bool = False,
                 stale_after_s: float = 5.0):
        self.codes: Tuple[str, ...] = tuple(codes)
        self.interval = interval
        self.interval_ms = interval_seconds(interval) * 1000
        self.max_bars = max_bars
        self.trading = trading
        self.stale_after_s = stale_after_s
        self.names: Dict[str, str] = {}
        self.quotes: Dict[str, Message] = {}
        self.books: Dict[str, Message] = {}
        self.bars: Dict[str, List[BarRow]] = {}
        #: codes whose bars come from the bars service: trades no longer shape their candles
        self.bar_feed: Dict[str, float] = {}
        self.orders: collections.OrderedDict[str, Message] = collections.OrderedDict()
        self.fills: Deque[Message] = collections.deque(maxlen=MAX_FILLS)
        self.alerts: Deque[Message] = collections.deque(maxlen=MAX_ALERTS)
        self.services: Dict[str, ServiceHealth] = {}
        self.pacing: Dict[str, Any] = {}
        self.clock_s: Optional[float] = None
        self.link = "connecting"
        self.epoch: Optional[int] = None

    # ---- whole state ----------------------------------------------------------------------------

    def hello(self) -> Message:
        return {"t": "hello", "codes": list(self.codes), "names": dict(self.names), "interval": self.interval,
                "trading": self.trading, "stale_after_s": self.stale_after_s}

    def full_state(self, now_s: float, selected: Optional[str] = None) -> List[Message]:
        """Everything a newly opened (or lagging) page needs, in the order it draws."""
        out = [self.hello(), self.link_message()]
        out += [dict(self.quotes[c]) for c in self.codes if c in self.quotes]
        code = selected or (self.codes[0] if self.codes else None)
        if code is not None:
            out.append(self.bars_message(code))
            if code in self.books:
                out.append(dict(self.books[code]))
        out += [self.orders_message(), self.fills_message(), self.alerts_message(), self.health_message(now_s)]
        return out

    # ---- the broker link ------------------------------------------------------------------------

    def set_link(self, state: str, epoch: Optional[int] = None) -> List[Message]:
        if state == self.link and epoch in (None, self.epoch):
            return []
        self.link = state
        if epoch is not None:
            self.epoch = epoch
        return [self.link_message()]

    def link_message(self) -> Message:
        return {"t": "link", "k": "link", "state": self.link, "epoch": None if self.epoch is None else str(self.epoch)}

    def set_names(self, names: Mapping[str, str]) -> List[Message]:
        self.names.update(names)
        return [self.hello()]

    # ---- realtime ---------------------------------------------------------------------------------

    def on_trade(self, code: str, values: Mapping[str, Any], at: Optional[datetime]) -> List[Message]:
        """One 주식체결: the watchlist row, and (without the bars service) the forming candle."""
        price = _int(values.get("current_price"))
        if price is None:
            return []
        price = abs(price)
        change = _int(values.get("change")) or 0
        quote = {"t": "quote", "k": f"quote:{code}", "code": code, "name": self.names.get(code, ""),
                 "price": price, "change": change, "rate": _float(values.get("change_rate")) or 0.0,
                 "volume": _int(values.get("cum_volume")) or 0, "at": _ms(at)}
        self.quotes[code] = quote
        out: List[Message] = [dict(quote)]
        if at is not None and code not in self.bar_feed:
            qty = abs(_int(values.get("volume")) or 0)
            row = self._fold_trade(code, _ms(at) or 0, price, qty)
            if row is not None:
                out.append(self.bar_message(code, row))
        return out

    def _fold_trade(self, code: str, at_ms: int, price: int, qty: int) -> Optional[BarRow]:
        start = at_ms - (at_ms + 9 * 3600 * 1000) % self.interval_ms  # interval starts on KST boundaries
        bars = self.bars.setdefault(code, [])
        if bars and bars[-1][0] == start:
            row = bars[-1]
            row[2], row[3], row[4], row[5] = max(row[2], price), min(row[3], price), price, row[5] + qty
            return row
        if bars and bars[-1][0] > start:  # an old trade (snapshot after newer history): leave the chart
            return None
        row = [start, price, price, price, price, qty]
        self._append_bar(code, row)
        return row

    def on_book(self, code: str, values: Mapping[str, Any], at: Optional[datetime]) -> List[Message]:
        """One 주식호가잔량: ten levels each side, best first."""
        def side(name: str) -> List[List[int]]:
            levels = []
            for n in range(1, BOOK_LEVELS + 1):
                price = _int(values.get(f"{name}_price_{n}"))
                qty = _int(values.get(f"{name}_qty_{n}"))
                levels.append([abs(price or 0), qty or 0])
            return levels

        book = {"t": "book", "k": f"book:{code}", "code": code, "asks": side("ask"), "bids": side("bid"),
                "total_ask": _int(values.get("total_ask_qty")) or 0,
                "total_bid": _int(values.get("total_bid_qty")) or 0, "at": _ms(at)}
        self.books[code] = book
        return [dict(book)]

    # ---- bars -------------------------------------------------------------------------------------

    def set_history(self, code: str, rows: Iterable[BarRow]) -> List[Message]:
        """Bars from the lake or the minute TR, oldest first; live bars newer than them are kept."""
        history = sorted((list(r) for r in rows), key=lambda r: r[0])
        live = [r for r in self.bars.get(code, []) if not history or r[0] >= history[-1][0]]
        if history and live and live[0][0] == history[-1][0]:  # the same bar seen both ways: merge
            old, new = history.pop(), live[0]
            live[0] = [old[0], old[1], max(old[2], new[2]), min(old[3], new[3]), new[4], max(old[5], new[5])]
        self.bars[code] = (history + live)[-self.max_bars:]
        return [self.bars_message(code)]

    def on_bar(self, body: Mapping[str, Any], now_s: float) -> List[Message]:
        """A bar from the bars service (`bar.<interval>.<code>`): partial or final, replacing by start."""
        code = body.get("code")
        if not isinstance(code, str) or body.get("interval") != self.interval:
            return []
        try:
            start = datetime.fromisoformat(str(body["start"]))
            row = [int(start.timestamp() * 1000)] + [int(body[k]) for k in ("open", "high", "low", "close", "volume")]
        except (KeyError, TypeError, ValueError):
            return []
        self.bar_feed[code] = now_s
        bars = self.bars.setdefault(code, [])
        for n in range(len(bars) - 1, max(-1, len(bars) - 5), -1):
            if bars[n][0] == row[0]:
                bars[n] = row
                return [self.bar_message(code, row)]
            if bars[n][0] < row[0]:
                break
        if bars and bars[-1][0] > row[0]:
            return []
        self._append_bar(code, row)
        return [self.bar_message(code, row)]

    def _append_bar(self, code: str, row: BarRow) -> None:
        bars = self.bars.setdefault(code, [])
        bars.append(row)
        if len(bars) > self.max_bars:
            del bars[: len(bars) - self.max_bars]

    def bars_message(self, code: str) -> Message:
        return {"t": "bars", "k": f"bars:{code}", "code": code, "interval": self.interval,
                "bars": [list(r) for r in self.bars.get(code, [])]}

    def bar_message(self, code: str, row: BarRow) -> Message:
        return {"t": "bar", "k": f"bar:{code}:{row[0]}", "code": code, "bar": list(row)}

    # ---- orders, fills, alerts --------------------------------------------------------------------

    def on_chejan(self, body: Mapping[str, Any], at: Optional[datetime]) -> List[Message]:
        """An order/fill chejan (`ch.<account>.order`): the order's row, and a fill when one happened."""
        values = body.get("values")
        if str(body.get("gubun", "")) != "0" or not isinstance(values, Mapping):
            return []
        order_no = str(body.get("order_no") or values.get("order_no") or "").strip()
        if not order_no:
            return []
        code = str(body.get("code") or values.get("code") or "").strip().lstrip("A")
        unfilled = _int(values.get("unfilled_qty")) or 0
        status = str(values.get("order_status") or "").strip()
        order = {"order_no": order_no, "code": code, "name": self.names.get(code, str(values.get("name") or "").strip()),
                 "side": str(values.get("side") or "").strip(), "qty": _int(values.get("order_qty")) or 0,
                 "price": abs(_int(values.get("order_price")) or 0), "unfilled": unfilled, "status": status,
                 "account": str(body.get("account") or ""), "client_order_id": body.get("client_order_id"),
                 "at": _ms(at)}
        self.orders[order_no] = order
        self.orders.move_to_end(order_no)
        closed = unfilled == 0 and status in ("체결", "확인", "거부")
        if closed:
            self.orders.pop(order_no, None)
        while len(self.orders) > MAX_ORDERS:
            self.orders.popitem(last=False)
        out = [self.orders_message()]
        fill_qty = _int(values.get("unit_fill_qty")) or 0
        if fill_qty:
            self.fills.appendleft({"order_no": order_no, "code": code, "name": order["name"], "side": order["side"],
                                   "qty": fill_qty, "price": abs(_int(values.get("unit_fill_price")) or 0),
                                   "at": _ms(at)})
            out.append(self.fills_message())
        return out

    def orders_message(self) -> Message:
        return {"t": "orders", "k": "orders", "orders": list(reversed(list(self.orders.values())))}

    def fills_message(self) -> Message:
        return {"t": "fills", "k": "fills", "fills": list(self.fills)}

    def on_alert(self, body: Mapping[str, Any], at_ns: Optional[int]) -> List[Message]:
        keep = ("rule", "kind", "severity", "title", "text", "code")
        alert = {k: body.get(k) for k in keep if isinstance(body.get(k), (str, int, float))}
        time_ns = body.get("time_ns") if isinstance(body.get("time_ns"), int) else at_ns
        alert["at"] = None if time_ns is None else time_ns // 1_000_000
        self.alerts.appendleft(alert)
        return [self.alerts_message()]

    def alerts_message(self) -> Message:
        return {"t": "alerts", "k": "alerts", "alerts": list(self.alerts)}

    # ---- health -----------------------------------------------------------------------------------

    def on_heartbeat(self, service: str, body: Mapping[str, Any], now_s: float) -> None:
        self.services[service] = ServiceHealth(dict(body), now_s)

    def on_status(self, status: Mapping[str, Any]) -> None:
        """The broker's `status` (or `sys.status`): its pacing state and virtual clock."""
        pacing = status.get("pacing")
        if isinstance(pacing, Mapping):
            self.pacing = {kind: {k: v.get(k) for k in ("queued", "throttled", "wait_s", "sent", "overloads")}
                           for kind, v in pacing.items() if isinstance(v, Mapping)}
        if isinstance(status.get("clock_s"), (int, float)):
            self.clock_s = float(status["clock_s"])

    def health_message(self, now_s: float) -> Message:
        rows = []
        for service, health in sorted(self.services.items(), key=lambda kv: (kv[0] != "broker", kv[0])):
            body = health.body
            interval_s = (body.get("interval_ms") or 1000) / 1000.0
            age = max(0.0, now_s - health.received_s)
            rows.append({"service": service, "state": body.get("state"), "lag_s": body.get("lag_s"),
                         "age_s": round(age, 1), "stale": age > 2 * interval_s + 1.0,
                         "uptime_s": body.get("uptime_s"), "error": body.get("last_error"), "pid": body.get("pid")})
        clock = None if self.clock_s is None else datetime.fromtimestamp(self.clock_s, KST).strftime("%H:%M:%S")
        return {"t": "health", "k": "health", "services": rows, "pacing": self.pacing, "clock": clock,
                "link": self.link}


class Outbox:
    """One browser's pending messages: the newest per key, in first-queued order, at most `max_keys`.

    A browser that reads slowly never makes the server buffer more: a newer message for the same key
    replaces the waiting one, and past `max_keys` everything waiting is dropped and `resync` is set,
    so the sender sends one full state instead (`overflows` counts how often).
    """

    def __init__(self, max_keys: int = 500):
        self.max_keys = max_keys
        self._pending: collections.OrderedDict[str, Message] = collections.OrderedDict()
        self.resync = False
        self.coalesced = 0
        self.overflows = 0

    def __len__(self) -> int:
        return len(self._pending)

    def put(self, message: Message) -> None:
        if self.resync:
            return
        key = str(message.get("k") or message.get("t"))
        if key in self._pending:
            self.coalesced += 1
            self._pending[key] = message  # keeps its place: the page sees it at the first slot it had
            return
        if len(self._pending) >= self.max_keys:
            self._pending.clear()
            self.resync = True
            self.overflows += 1
            return
        self._pending[key] = message

    def take(self) -> Tuple[bool, List[Message]]:
        """(resync needed, the pending messages) and empty the box."""
        resync, messages = self.resync, list(self._pending.values())
        self._pending.clear()
        self.resync = False
        return resync, messages


def history_rows(frame: Any, max_rows: int) -> List[BarRow]:
    """Minute-TR DataFrame (index 체결시간, columns 시가 고가 저가 현재가 거래량) or the lake's bars()
    (time, open, high, low, close, volume) -> the newest `max_rows` bar rows, oldest first (from the TR
    the session before today's too, early in the day)."""
    if frame is None or len(frame) == 0:
        return []
    if "time" in frame.columns:  # the lake's bars(): a time column instead of the TR's index
        frame = frame.set_index("time")
    cols = {"open": ("시가", "open"), "high": ("고가", "high"), "low": ("저가", "low"),
            "close": ("현재가", "close", "current_price"), "volume": ("거래량", "volume")}
    picked = {}
    for key, names in cols.items():
        name = next((n for n in names if n in frame.columns), None)
        if name is None:
            return []
        picked[key] = name
    frame = frame.sort_index()
    rows: List[BarRow] = []
    for at, rec in frame.tail(max_rows).iterrows():
        try:
            rows.append([int(at.timestamp() * 1000)] + [abs(int(rec[picked[k]])) for k in
                                                        ("open", "high", "low", "close", "volume")])
        except (TypeError, ValueError):
            continue
    return rows[-max_rows:]
