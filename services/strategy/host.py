"""The strategy host's core: runs one Strategy's hooks on the events the adapter feeds it (no sockets).

The adapter (app.py) feeds trades, chejan, order events and the broker's clock; the host keeps the
ledger, builds bars in-process (services/bars/core.BarBuilder), checks the limits, allocates journaled
order ids and hands orders to `send` / cancels to `cancel`; what others should know goes to `emit`
(`strat.<name>.<event>` on the host's PUB). A hook that raises marks the host `failed` and nothing
further reaches the strategy; the adapter then handles its open orders and exits non-zero.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Dict, List, Mapping, Optional

from koabus.common.clock import KST
from koabus.services.bars.core import parse_interval

from .api import FINAL_STATES, Context, Fill, OrderInfo, Position, Strategy
from .journal import OrderJournal, OrderRecord
from .ledger import Ledger
from .limits import RiskGate

log = logging.getLogger(__name__)

HOGA_LIMIT, HOGA_MARKET = "00", "03"


@dataclass
class _Order:
    record: OrderRecord
    state: str = "queued"
    filled_qty: int = 0
    order_no: str = ""

    def info(self) -> OrderInfo:
        r = self.record
        return OrderInfo(r.id, r.code, r.side, r.qty, r.price, self.filled_qty, self.state, self.order_no)

    @property
    def open(self) -> bool:
        return self.state not in FINAL_STATES


class StrategyHost:
    """One strategy, its ledger, limits, journal and orders. Every input is a method; `now_s` is the
    broker's clock (epoch seconds), advanced by the adapter with `set_clock` and by event times."""

    def __init__(self, strategy: Strategy, *, name: str, account: str, journal: OrderJournal, ledger: Ledger,
                 gate: RiskGate, builder: Any, send: Callable[[OrderRecord], None],
                 cancel: Callable[[OrderRecord, str], None], emit: Callable[[str, Dict[str, Any]], None]):
        self.strategy = strategy
        self.name = name
        self.account = account
        self.journal = journal
        self.ledger = ledger
        self.gate = gate
        self.builder = builder
        self.interval_s = parse_interval(strategy.interval)
        self.codes = frozenset(strategy.codes)
        self._send = send
        self._cancel = cancel
        self._emit = emit
        self.orders: Dict[str, _Order] = {}
        self._by_order_no: Dict[str, str] = {}
        self.now_s = 0.0
        self.failed: Optional[BaseException] = None
        self.failed_hook = ""
        self.started = False
        self.stopped = False
        self.closed = False
        self.counters = {"sent": 0, "refused": 0, "fills": 0, "bars": 0, "ticks": 0, "rejected": 0}
        self.ctx = HostContext(self)

    # ---- time ------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(self.now_s, KST)

    def set_clock(self, now_s: float) -> None:
        """The broker's clock moved (never backwards): close the bars whose interval ended."""
        if now_s <= self.now_s:
            return
        self.now_s = now_s
        if self.started:
            for bar in self.builder.on_clock(self.now):
                self._bar(bar)

    # ---- lifecycle ---------------------------------------------------------------------------------

    def register(self, record: OrderRecord, state: str = "queued", filled_qty: int = 0, order_no: str = "") -> None:
        """An order of an earlier run of today (found at the broker, or abandoned)."""
        self.orders[record.id] = _Order(record, state, filled_qty, order_no)
        if order_no:
            self._by_order_no[order_no] = record.id

    def start(self) -> None:
        self.started = True
        self._emit("started", {"codes": sorted(self.codes), "interval": self.strategy.interval,
                               "params": _plain(self.strategy.params), **self.ledger.summary()})
        self._call("on_start", self.ctx)

    def stop(self) -> None:
        """The orderly stop: on_stop once (its orders still go out; the adapter waits for them)."""
        if self.stopped:
            return
        self.stopped = True
        self._call("on_stop", self.ctx)
        self.closed = True  # orders placed by on_stop went out; nothing new after it

    # ---- inputs -------------------------------------------------------------------------------------

    def on_trade(self, tick: Any) -> None:
        """A 주식체결 RealtimeEvent of a watched code: mark, build bars, then on_tick."""
        values = tick.values
        price = abs(int(values.get("current_price") or 0))
        if not price or tick.code not in self.codes:
            return
        at = tick.event_time or self.now
        self.ledger.mark(tick.code, price)
        if at.timestamp() > self.now_s:
            self.now_s = at.timestamp()
        self.counters["ticks"] += 1
        for bar in self.builder.on_trade(tick.code, at, price, abs(int(values.get("volume") or 0))):
            self._bar(bar)
        if self.started:
            self._call("on_tick", self.ctx, tick)

    def _bar(self, bar: Any) -> None:
        if bar.final and bar.interval_s == self.interval_s and bar.code in self.codes:
            self.counters["bars"] += 1
            self._call("on_bar", self.ctx, bar)

    def on_chejan(self, kind: str, body: Mapping[str, Any], counted: bool = False) -> None:
        """`ch.<account>.<kind>`: the ledger first, then on_fill for a fill of one of our orders.

        `counted`: the event came before the account TRs answered, so they include it: a balance event
        is applied again (absolute, the latest wins), a fill only remembered (not counted twice)."""
        values = body.get("values") if isinstance(body.get("values"), dict) else {}
        if kind == "balance":
            self.ledger.on_balance_event(values)
            return
        if kind != "order":
            return
        order_id = str(body.get("client_order_id") or "") or self._by_order_no.get(str(values.get("order_no") or ""), "")
        order = self.orders.get(order_id)
        if counted:
            self.ledger.note_order_event(values)
            if order is not None:
                order.filled_qty = max(order.filled_qty, int(values.get("order_qty") or 0)
                                       - int(values.get("unfilled_qty") or 0))
            return
        report = self.ledger.on_order_event(values)
        if report is None or order is None:
            return
        if report.order_no:
            order.order_no = report.order_no
            self._by_order_no[report.order_no] = order_id
        order.filled_qty = max(order.filled_qty, int(values.get("order_qty") or 0) - int(values.get("unfilled_qty") or 0))
        if order.filled_qty >= order.record.qty and order.open:
            order.state = "filled"  # the order stream says so too, a little later
        self.journal.fill(report.order_no, report.fill_no, report.realised, self.now_s)
        self.counters["fills"] += 1
        fill = Fill(order_id, report.order_no, report.fill_no, report.code, report.side, report.qty, report.price,
                    _fill_time(self.now, report.time))
        self._emit("fill", {"order_id": order_id, "order_no": report.order_no, "fill_no": report.fill_no,
                            "code": report.code, "side": report.side, "qty": report.qty, "price": report.price,
                            "time": report.time, "fees": report.fees, "realised": report.realised,
                            "position": self.ledger.position(report.code), "cash": self.ledger.cash})
        if self.started:
            self._call("on_fill", self.ctx, fill)

    def on_order_event(self, order_id: str, event: Mapping[str, Any]) -> None:
        """A lifecycle event of one of our orders (the broker's order stream): state, number, fills."""
        order = self.orders.get(order_id)
        if order is None:
            return
        if event.get("order_no"):
            order.order_no = str(event["order_no"])
            self._by_order_no[order.order_no] = order_id
        if isinstance(event.get("filled_qty"), int):
            order.filled_qty = max(order.filled_qty, event["filled_qty"])
        state = event.get("state")
        if isinstance(state, str) and state and order.open:
            order.state = state
            if state in ("rejected", "failed"):
                self.counters["rejected"] += 1
                self._emit("rejected", {"order_id": order_id, "message": str(event.get("message") or ""),
                                        "code": order.record.code})

    def on_order_error(self, order_id: str, error: BaseException) -> None:
        """The broker refused the order (RiskRejected, InvalidRequest, ...) or its stream failed."""
        order = self.orders.get(order_id)
        if order is None or not order.open:
            return
        order.state = "rejected"
        self.counters["rejected"] += 1
        log.warning("order %s refused by the broker: %s", order_id, error)
        self._emit("rejected", {"order_id": order_id, "message": str(error), "kind": type(error).__name__,
                                "code": order.record.code})

    # ---- orders --------------------------------------------------------------------------------------

    def submit(self, side: str, code: str, qty: int, price: Optional[int]) -> Optional[str]:
        """Check the limits, journal an id, hand the order to `send`; the id, or None when refused."""
        if self.failed is not None or self.closed:
            return None
        code = str(code)
        qty = int(qty)
        held = self.ledger.position(code)
        open_buy = sum(o.record.qty - o.filled_qty for o in self.orders.values()
                       if o.open and o.record.code == code and o.record.side == "buy")
        open_sell = sum(o.record.qty - o.filled_qty for o in self.orders.values()
                        if o.open and o.record.code == code and o.record.side == "sell")
        refusal = self.gate.check(side, code, qty, held=held, open_buy=open_buy, open_sell=open_sell,
                                  pnl=self.ledger.pnl, now_s=self.now_s)
        if refusal is not None:
            self.counters["refused"] += 1
            log.warning("%s %s %d %s refused: %s", self.name, side, qty, code, refusal.message)
            self._emit("refused", {"side": side, "code": code, "qty": qty, "price": price or 0, **refusal.to_body()})
            return None
        hoga, krw = (HOGA_MARKET, 0) if price is None else (HOGA_LIMIT, int(price))
        try:
            record = self.journal.allocate(side, code, qty, krw, hoga, self.now_s)
        except OSError as exc:  # not durable: not sent
            self.counters["refused"] += 1
            self._emit("refused", {"side": side, "code": code, "qty": qty, "limit": "journal", "message": str(exc)})
            return None
        self.gate.record(self.now_s)
        self.orders[record.id] = _Order(record)
        self.counters["sent"] += 1
        self._emit("order", {"order_id": record.id, **record.to_request()})
        self._send(record)
        return record.id

    def cancel(self, order_id: str) -> None:
        order = self.orders.get(order_id)
        if order is not None and order.open:
            self._cancel(order.record, order.order_no)

    def open_orders(self, code: Optional[str] = None) -> List[OrderInfo]:
        return [o.info() for o in self.orders.values() if o.open and (code is None or o.record.code == code)]

    # ---- hooks ---------------------------------------------------------------------------------------

    def _call(self, hook: str, *args: Any) -> None:
        if self.failed is not None:
            return
        try:
            getattr(self.strategy, hook)(*args)
        except Exception as exc:  # the strategy's own bug: stop it, never half-run
            self.failed = exc
            self.failed_hook = hook
            log.error("strategy %s raised in %s: %r", self.name, hook, exc)
            self._emit("error", {"hook": hook, "error": type(exc).__name__, "message": str(exc)[:500],
                                 "traceback": "".join(traceback.format_exception(type(exc), exc,
                                                                                  exc.__traceback__))[-4000:]})

    def summary(self) -> Dict[str, Any]:
        orders = list(self.orders.values())
        return {**self.ledger.summary(), "orders": {
            **self.counters, "open": sum(1 for o in orders if o.open), "known": len(orders),
            "filled": sum(1 for o in orders if o.state == "filled")}}


class HostContext(Context):
    """The `ctx` every hook receives: reads from the host's ledger, orders through its limits."""

    def __init__(self, host: StrategyHost):
        self._host = host
        self.name = host.name
        self.account = host.account
        self.params = host.strategy.params
        self.log = logging.getLogger(f"koabus.strategy.{host.name}")

    @property
    def now(self) -> datetime:
        return self._host.now

    @property
    def cash(self) -> int:
        return self._host.ledger.cash

    @property
    def pnl(self) -> int:
        return self._host.ledger.pnl

    def position(self, code: str) -> int:
        return self._host.ledger.position(code)

    def positions(self) -> Dict[str, Position]:
        return dict(self._host.ledger.positions)

    def last_price(self, code: str) -> Optional[int]:
        return self._host.ledger.last_price.get(code)

    def open_orders(self, code: Optional[str] = None) -> List[OrderInfo]:
        return self._host.open_orders(code)

    def buy(self, code: str, qty: int, price: Optional[int] = None) -> Optional[str]:
        return self._host.submit("buy", code, qty, price)

    def sell(self, code: str, qty: int, price: Optional[int] = None) -> Optional[str]:
        return self._host.submit("sell", code, qty, price)

    def cancel(self, order_id: str) -> None:
        self._host.cancel(order_id)


def _fill_time(now: datetime, hms: str) -> Optional[datetime]:
    digits = hms.replace(":", "")
    if len(digits) != 6 or not digits.isdigit():
        return now
    return now.replace(hour=int(digits[:2]), minute=int(digits[2:4]), second=int(digits[4:]), microsecond=0)


def _plain(params: Mapping[str, Any]) -> Dict[str, Any]:
    return {str(k): v if isinstance(v, (str, int, float, bool, type(None))) else str(v) for k, v in params.items()}
