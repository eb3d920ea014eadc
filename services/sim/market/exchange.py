"""A matching engine over the simulated market, with the mock server's rules and reason texts.

On the mock server (`ExchangeConfig.mock`, the default) a market order during continuous trading
does not walk the book: it fills whole at the current price (the last print). That is the recorded
trace (facts §5.5: a market buy accepted at 14:29:40 with 현재가 77,000, ask 77,100 and bid 77,000
filled at 77,000, not at the ask). The recorded fill came a second after the acceptance
(14:29:41); `Exchange(market_fill_delay_s=1.0)` reproduces that, the default (0) fills at once so a
frozen virtual clock still sees the fill. Other orders arriving during continuous trading take liquidity from the visible book at
once; what is left rests and fills against later prints of the trade path (at the order's price, after the
displayed queue ahead of it at that price is used up). Orders entered during an auction wait for
its single price. Day orders expire after the closing auction. Every change comes back as events
in the real order: accepted, then per fill a `filled` event followed by a BalanceChange.

Call `advance(t)` as virtual time passes (before submitting at t, to keep events chronological);
`submit`/`cancel`/`modify` also match everything up to their own instant first and queue those
events for the next `advance`.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from typing import Dict, List, Optional, Tuple, Union

from . import ticks
from .accounts import Accounts, Deposit, Position
from .calendar import Phase
from .config import ExchangeConfig
from .market import Instant, Market
from .models import CLOSE_AUCTION, CONTINUOUS, OPEN_AUCTION, Trade

BUY, SELL = "buy", "sell"
LIMIT, MARKET = "00", "03"
NO_PRICE_HOGA = ("03", "06", "07", "13", "16", "23", "26", "61", "81")
ACCEPTING_PHASES = (Phase.PRE_OPEN_AUCTION, Phase.CONTINUOUS, Phase.CLOSING_AUCTION)
# Accepted at 14:29:40, filled at 14:29:41 in the recorded mock-server trace (facts §5.5); the
# default fills at once (a frozen virtual clock never reaches a later instant).
RECORDED_MARKET_FILL_DELAY_S = 1.0
FILL_NO_BASE = 1_000_000  # 체결번호 of the day's first fill is 1000001

# Reason -> mock-server message. `observed` texts were seen from the mock server (OpenAPI+ or its
# REST sibling); the others keep the same style but their codes are [unc] inventions.
REJECTIONS: Dict[str, Tuple[str, bool]] = {
    "closed": ("[00Z218] 모의투자 장종료 상태입니다", True),
    "before_open": ("[00Z217] 모의투자 장시작전입니다", True),
    "price_not_allowed": ("[00Z237] 모의투자 단가를 입력하지 않는 호가입니다.", True),
    "cancel_exceeds": ("[00Z924] 모의투자 취소수량이 취소가능수량을 초과합니다", True),
    "price_limit": ("[RC4027] 모의투자 상/하한가 오류입니다.", True),
    "tick": ("[RC4003] 모의투자 호가단위 오류입니다.", True),
    "deposit": ("[RC4025] 모의투자 주문가능금액을 확인하세요.", True),
    "holdings": ("[800033] 모의투자 매도가능수량이 부족합니다.", True),
    "nothing_to_change": ("[00Z925] 모의투자 정정/취소할 수량이 없습니다", False),
    "same_price": ("[00Z926] 모의투자 정정가격이 원주문가격과 같습니다", False),
    "modify_exceeds": ("[00Z923] 모의투자 정정수량이 정정가능수량을 초과합니다", False),
    "hoga": ("[00Z236] 모의투자 지원하지 않는 호가구분입니다", False),
    "qty": ("[00Z101] 모의투자 주문수량을 확인하세요", False),
    "code": ("[00Z102] 모의투자 종목코드를 확인하세요", False),
    "account": ("[00Z103] 모의투자 계좌번호를 확인하세요", False),
}
ACCEPTED_MESSAGES = {
    BUY: "[100000] 모의투자 매수주문완료",   # observed
    SELL: "[100000] 모의투자 매도주문완료",  # observed (REST sibling)
    "change": "[00Z112] 모의투자 정상처리 되었습니다",  # observed text; its use for cancel/modify is [unc]
}


@dataclass(frozen=True)
class Order:
    """A snapshot of an order. action: "new", "modify" or "cancel" (a cancel/modify is an order of
    its own whose orig_order_no is the order it changes). status: "accepted", "partial",
    "filled", "cancelled", "modified" (all of it moved to a modify order), "confirmed" (a
    cancel/modify record), "expired" (day over)."""

    order_no: str
    account: str
    code: str
    side: str
    action: str
    hoga: str
    qty: int
    price: int
    t: float
    day: date
    filled_qty: int
    filled_value: int
    remaining: int
    fee: int
    tax: int
    status: str
    orig_order_no: str = ""

    @property
    def avg_fill_price(self) -> int:
        return int(round(self.filled_value / self.filled_qty)) if self.filled_qty else 0


@dataclass(frozen=True)
class Fill:
    """One execution. fee/tax are this fill's share of the order's cumulative fee/tax."""

    fill_no: str
    order_no: str
    account: str
    code: str
    side: str
    t: float
    day: date
    price: int
    qty: int
    fee: int
    tax: int


@dataclass(frozen=True)
class OrderEvent:
    """kind: "accepted" | "filled" | "confirmed" | "rejected". `orig` is the changed order's
    snapshot for a confirmed cancel/modify."""

    kind: str
    t: float
    account: str
    order: Optional[Order]
    fill: Optional[Fill] = None
    orig: Optional[Order] = None
    message: str = ""
    reason: str = ""


@dataclass(frozen=True)
class BalanceChange:
    """The holding and cash after a fill (chejan gubun 1)."""

    t: float
    account: str
    code: str
    position: Optional[Position]
    deposit: Deposit


Event = Union[OrderEvent, BalanceChange]


@dataclass(frozen=True)
class OrderResult:
    """ok with order_no, or a rejection with the mock server's message and a short reason key."""

    ok: bool
    order_no: str
    message: str
    reason: str = ""
    events: Tuple[Event, ...] = ()


@dataclass
class _Live:
    order_no: str
    account: str
    code: str
    side: str
    action: str
    hoga: str
    qty: int
    price: int
    t: float
    day: date
    kind: str
    reserve_price: int = 0
    orig_order_no: str = ""
    filled_qty: int = 0
    filled_value: int = 0
    removed_qty: int = 0  # cancelled or moved by a modify
    fee: int = 0
    tax: int = 0
    status: str = "accepted"
    queue_ahead: int = 0
    seen_t: float = 0.0
    fill_at: float = 0.0  # a mock-server market order: when it fills at the current price
    fills: List[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> int:
        if self.action == "cancel":
            return 0
        return self.qty - self.filled_qty - self.removed_qty

    @property
    def is_open(self) -> bool:
        return self.action != "cancel" and self.remaining > 0 and self.status in ("accepted", "partial")

    def snapshot(self) -> Order:
        return Order(
            order_no=self.order_no, account=self.account, code=self.code, side=self.side,
            action=self.action, hoga=self.hoga, qty=self.qty, price=self.price, t=self.t, day=self.day,
            filled_qty=self.filled_qty, filled_value=self.filled_value, remaining=self.remaining,
            fee=self.fee, tax=self.tax, status=self.status, orig_order_no=self.orig_order_no,
        )

    def marketable(self, price: int) -> bool:
        if self.hoga == MARKET:
            return True
        return price <= self.price if self.side == BUY else price >= self.price


class Exchange:
    """Orders against `market` for the `accounts`. Not thread-safe across calls of one order
    flow by design (the control's thread drives it); a lock keeps the state consistent."""

    def __init__(self, market: Market, accounts: Optional[Accounts] = None,
                 config: Optional[ExchangeConfig] = None, market_fill_delay_s: float = 0.0):
        """`market_fill_delay_s`: how long after its acceptance a mock-server market order fills
        (RECORDED_MARKET_FILL_DELAY_S reproduces the recorded trace)."""
        self.market = market
        self.market_fill_delay_s = float(market_fill_delay_s)
        self.config = config or ExchangeConfig()
        self.accounts = accounts or Accounts.from_config(self.config, market.calendar)
        self.accounts.bind_today(lambda: market.session_date())
        self._orders: Dict[str, _Live] = {}  # key: f"{day}:{order_no}"
        self._by_day: Dict[date, List[_Live]] = {}
        self._order_counter: Dict[date, int] = {}
        self._fill_counter: Dict[date, int] = {}
        self._book_taken: Dict[Tuple[str, int, int], int] = {}
        self._queue: List[Event] = []
        self._last_t = 0.0
        self._lock = threading.RLock()

    # -- public ---------------------------------------------------------------------------------
    def submit(self, account: str, side: str, code: str, qty: int, price: int, hoga: str = LIMIT,
               t: Instant = None) -> OrderResult:
        """A new order. side "buy"/"sell"; hoga "00" limit or "03" market (price must be 0)."""
        with self._lock:
            ts = self.market._ts(t)
            self._run(ts)
            day = self.market.session_date(ts)
            reason = self._check_new(account, side, code, qty, price, hoga, ts, day)
            if reason:
                return self._reject(reason, ts, account)
            inst = self.market.instrument(code)
            upper, _ = self.market.limits(code, day)
            live = _Live(
                order_no=self._next_order_no(day), account=account, code=code, side=side, action="new",
                hoga=hoga, qty=int(qty), price=int(price) if hoga != MARKET else 0, t=ts, day=day,
                kind=inst.kind, reserve_price=upper if hoga == MARKET else int(price), seen_t=ts,
            )
            self._add(live)
            self._update_reservation(live)
            events: List[Event] = [OrderEvent("accepted", ts, account, live.snapshot(),
                                              message=ACCEPTED_MESSAGES[side])]
            events += self._on_arrival(live, ts)
            return OrderResult(True, live.order_no, ACCEPTED_MESSAGES[side], "", tuple(events))

    def cancel(self, account: str, orig_order_no: str, qty: int = 0, t: Instant = None) -> OrderResult:
        """Cancel `qty` (0 = all) of the remaining quantity of an open order."""
        with self._lock:
            ts = self.market._ts(t)
            self._run(ts)
            day = self.market.session_date(ts)
            orig, qty, reason = self._check_change(account, orig_order_no, qty, ts, day, "cancel_exceeds")
            if orig is None:
                return self._reject(reason, ts, account)
            record = _Live(
                order_no=self._next_order_no(day), account=account, code=orig.code, side=orig.side,
                action="cancel", hoga=orig.hoga, qty=qty, price=0, t=ts, day=day, kind=orig.kind,
                orig_order_no=orig.order_no, status="confirmed", seen_t=ts,
            )
            self._add(record)
            orig.removed_qty += qty
            if orig.remaining == 0:
                orig.status = "cancelled"
            self._update_reservation(orig)
            msg = ACCEPTED_MESSAGES["change"]
            events = (
                OrderEvent("accepted", ts, account, record.snapshot(), message=msg),
                OrderEvent("confirmed", ts, account, record.snapshot(), orig=orig.snapshot(), message=msg),
            )
            return OrderResult(True, record.order_no, msg, "", events)

    def modify(self, account: str, orig_order_no: str, qty: int, price: int, hoga: str = LIMIT,
               t: Instant = None) -> OrderResult:
        """Move `qty` (0 = all) of an open order to a new price; the moved part becomes a new order
        (new number, orig_order_no set) and loses its queue position."""
        with self._lock:
            ts = self.market._ts(t)
            self._run(ts)
            day = self.market.session_date(ts)
            orig, qty, reason = self._check_change(account, orig_order_no, qty, ts, day, "modify_exceeds")
            if orig is None:
                return self._reject(reason, ts, account)
            reason = self._check_price(orig.code, price, hoga, day)
            if not reason and hoga == orig.hoga and price == orig.price:
                reason = "same_price"
            upper, _ = self.market.limits(orig.code, day)
            reserve_price = upper if hoga == MARKET else int(price)
            if not reason and orig.side == BUY:
                extra = self._reserve_amount(qty, reserve_price) - self._reserve_amount(qty, orig.reserve_price)
                if extra > self.accounts.orderable_cash(account, day):
                    reason = "deposit"
            if reason:
                return self._reject(reason, ts, account)
            live = _Live(
                order_no=self._next_order_no(day), account=account, code=orig.code, side=orig.side,
                action="modify", hoga=hoga, qty=qty, price=int(price) if hoga != MARKET else 0, t=ts,
                day=day, kind=orig.kind, reserve_price=reserve_price, orig_order_no=orig.order_no, seen_t=ts,
            )
            orig.removed_qty += qty
            if orig.remaining == 0:
                orig.status = "modified"
            self._update_reservation(orig)
            self._add(live)
            self._update_reservation(live)
            msg = ACCEPTED_MESSAGES["change"]
            events: List[Event] = [
                OrderEvent("accepted", ts, account, live.snapshot(), message=msg),
                OrderEvent("confirmed", ts, account, live.snapshot(), orig=orig.snapshot(), message=msg),
            ]
            events += self._on_arrival(live, ts)
            return OrderResult(True, live.order_no, msg, "", tuple(events))

    def advance(self, t: Instant) -> List[Event]:
        """Match resting orders against the prints up to t; returns every event since the last call."""
        with self._lock:
            self._run(self.market._ts(t))
            out, self._queue = self._queue, []
            return out

    def open_orders(self, account: str) -> List[Order]:
        with self._lock:
            return [o.snapshot() for day in sorted(self._by_day) for o in self._by_day[day]
                    if o.account == account and o.is_open]

    def orders(self, account: str, day: Optional[date] = None) -> List[Order]:
        """Every order record of a day (default: the current session), in order-number order."""
        with self._lock:
            d = day or self.market.session_date()
            return [o.snapshot() for o in self._by_day.get(d, []) if o.account == account]

    def order(self, order_no: str, day: Optional[date] = None) -> Optional[Order]:
        with self._lock:
            live = self._orders.get(f"{day or self.market.session_date()}:{order_no}")
            return live.snapshot() if live else None

    def fills(self, account: str, day: Optional[date] = None) -> List[Fill]:
        with self._lock:
            d = day or self.market.session_date()
            return sorted((f for o in self._by_day.get(d, []) if o.account == account for f in o.fills),
                          key=lambda f: f.fill_no)

    def reason_message(self, reason: str) -> str:
        return REJECTIONS[reason][0]

    # -- validation -----------------------------------------------------------------------------
    def _phase_reason(self, ts: float) -> str:
        phase = self.market.phase(ts)
        if phase in ACCEPTING_PHASES:
            return ""
        times = self.market.session_times(self.market.calendar.session_date(ts))
        if times is not None and self.market.calendar.session_date(ts) == times.day and ts < times.open_t:
            return "before_open"
        return "closed"

    def _check_new(self, account: str, side: str, code: str, qty: int, price: int, hoga: str,
                   ts: float, day: date) -> str:
        if not self.accounts.has(account):
            return "account"
        inst = self.market.listing.get(code)
        if inst is None or inst.is_index or side not in (BUY, SELL):
            return "code"
        if qty <= 0:
            return "qty"
        if hoga not in self.config.supported_hoga:
            return "hoga"
        reason = self._phase_reason(ts) or self._check_price(code, price, hoga, day)
        if reason:
            return reason
        if side == BUY:
            upper, _ = self.market.limits(code, day)
            need = self._reserve_amount(qty, upper if hoga == MARKET else price)
            if need > self.accounts.orderable_cash(account, day):
                return "deposit"
        elif qty > self.accounts.sellable_qty(account, code):
            return "holdings"
        return ""

    def _check_price(self, code: str, price: int, hoga: str, day: date) -> str:
        kind = self.market.instrument(code).kind
        if hoga in NO_PRICE_HOGA:
            return "price_not_allowed" if price else ""
        if hoga not in self.config.supported_hoga:
            return "hoga"
        upper, lower = self.market.limits(code, day)
        if not lower <= price <= upper:
            return "price_limit"
        if not ticks.on_tick(price, kind):
            return "tick"
        return ""

    def _check_change(self, account: str, orig_no: str, qty: int, ts: float, day: date,
                      exceeds: str) -> Tuple[Optional[_Live], int, str]:
        """The open order a cancel/modify targets and the quantity it moves (0 = all remaining),
        or (None, 0, reason) for the rejection."""
        if not self.accounts.has(account):
            return None, 0, "account"
        reason = self._phase_reason(ts)
        if reason:
            return None, 0, reason
        orig = self._orders.get(f"{day}:{orig_no}")
        if orig is None or orig.account != account or not orig.is_open:
            return None, 0, "nothing_to_change"
        if qty < 0:
            return None, 0, "qty"
        qty = qty or orig.remaining
        if qty > orig.remaining:
            return None, 0, exceeds
        return orig, qty, ""

    def _reject(self, reason: str, ts: float, account: str) -> OrderResult:
        message = REJECTIONS[reason][0]
        event = OrderEvent("rejected", ts, account, None, message=message, reason=reason)
        return OrderResult(False, "", message, reason, (event,))

    # -- bookkeeping ------------------------------------------------------------------------------
    def _next_order_no(self, day: date) -> str:
        n = self._order_counter.get(day, self.config.first_order_no - 1) + 1
        self._order_counter[day] = n
        return f"{n:07d}"

    def _next_fill_no(self, day: date) -> str:
        """The server's 체결번호: a 7-digit running number of the day (recorded '1234931', facts
        §9.1), not a zero-padded count of this account's fills."""
        n = self._fill_counter.get(day, 0) + 1
        self._fill_counter[day] = n
        return str(FILL_NO_BASE + n)

    def _add(self, live: _Live) -> None:
        self._orders[f"{live.day}:{live.order_no}"] = live
        self._by_day.setdefault(live.day, []).append(live)

    def _reserve_amount(self, qty: int, price: int) -> int:
        return int(qty * price * (1 + self.config.commission_rate))

    def _update_reservation(self, live: _Live) -> None:
        remaining = live.remaining if live.is_open else 0
        if live.side == BUY:
            self.accounts.reserve_cash(live.account, live.order_no, self._reserve_amount(remaining, live.reserve_price))
        else:
            self.accounts.reserve_qty(live.account, live.order_no, live.code, remaining)

    # -- matching ---------------------------------------------------------------------------------
    def _on_arrival(self, live: _Live, ts: float) -> List[Event]:
        """Take liquidity from the visible book during continuous trading; set the queue position."""
        events: List[Event] = []
        continuous = self.market.phase(ts) is Phase.CONTINUOUS
        if continuous and live.hoga == MARKET and self.config.mock:
            if self.market_fill_delay_s > 0:
                live.fill_at = ts + self.market_fill_delay_s
                return events
            return self._fill(live, self._current_price(live.code, ts), live.remaining, ts)
        book = self.market.book(live.code, ts)
        if continuous:
            levels = book.asks if live.side == BUY else book.bids
            for price, qty in levels:
                if not qty or not live.marketable(price) or live.remaining == 0:
                    break
                key = (live.code, int(ts), price)
                take = min(live.remaining, qty - self._book_taken.get(key, 0))
                if take > 0:
                    self._book_taken[key] = self._book_taken.get(key, 0) + take
                    events += self._fill(live, price, take, ts)
        if live.remaining and live.hoga != MARKET:
            same = book.bids if live.side == BUY else book.asks
            live.queue_ahead = next((q for p, q in same if p == live.price), 0)
            best = same[0][0]
            if not live.queue_ahead and best and live.marketable(best) is False:
                live.queue_ahead = max(q for _, q in same)  # behind the visible levels
        return events

    def _run(self, ts: float) -> None:
        """Match every open order against the prints in (its last look, ts]; expire finished days."""
        if ts <= self._last_t:
            return
        queued = len(self._queue)
        by_code: Dict[str, List[_Live]] = {}
        due: List[_Live] = []
        for day in sorted(self._by_day):
            for o in self._by_day[day]:
                if o.is_open:
                    if o.fill_at:
                        if o.fill_at <= ts:
                            due.append(o)
                        continue
                    by_code.setdefault(o.code, []).append(o)
        for o in sorted(due, key=lambda x: (x.fill_at, x.order_no)):
            self._queue += self._fill(o, self._current_price(o.code, o.fill_at), o.remaining, o.fill_at)
            o.seen_t = o.fill_at
        for code, live in by_code.items():
            start = min(o.seen_t for o in live)
            for trade in self.market.trades_between(code, start, ts):
                self._match_print(live, trade)
            for o in live:
                o.seen_t = max(o.seen_t, ts)
        if due:  # delayed market fills and print fills in time order (a stable sort keeps pairs)
            self._queue[queued:] = sorted(self._queue[queued:], key=lambda e: e.t)
        for day, orders in self._by_day.items():
            times = self.market.session_times(day)
            if times is not None and ts >= times.close_t:
                for o in orders:
                    if o.is_open:
                        o.status = "expired"
                        self._update_reservation(o)
        self._last_t = ts

    def _current_price(self, code: str, ts: float) -> int:
        """현재가 at ts: the last regular print (the reference before the first one)."""
        return int(self.market.trading_state(code, ts).last)

    def _match_print(self, orders: List[_Live], trade: Trade) -> None:
        if trade.kind not in (OPEN_AUCTION, CONTINUOUS, CLOSE_AUCTION):
            return
        eligible = [o for o in orders if o.is_open and o.seen_t < trade.t
                    and self.market.calendar.session_date(trade.t) == o.day]
        if not eligible:
            return
        avail = abs(trade.qty)
        eligible.sort(key=lambda o: (_priority(o), o.t, o.order_no))
        for o in eligible:
            if avail <= 0:
                break
            if trade.kind != CONTINUOUS:
                if not o.marketable(trade.price):
                    continue
                take = min(o.remaining, avail)
                self._queue += self._fill(o, trade.price, take, trade.t)
                avail -= take
                continue
            if o.hoga == MARKET:
                price = trade.price
            elif (o.side == BUY and trade.price < o.price) or (o.side == SELL and trade.price > o.price):
                price = o.price
            elif trade.price == o.price and (trade.qty < 0) == (o.side == BUY):
                used = min(o.queue_ahead, avail)
                o.queue_ahead -= used
                avail -= used
                price = o.price
            else:
                continue
            take = min(o.remaining, avail)
            if take > 0:
                self._queue += self._fill(o, price, take, trade.t)
                avail -= take

    def _fill(self, live: _Live, price: int, qty: int, ts: float) -> List[Event]:
        cfg = self.config
        live.filled_qty += qty
        live.filled_value += price * qty
        unit = cfg.commission_unit_krw
        fee_total = int(live.filled_value * cfg.commission_rate) // unit * unit
        tax_total = 0
        if live.side == SELL and live.kind != "etf":
            tax_total = int(live.filled_value * cfg.sell_tax_rate(live.day))
        fee, tax = fee_total - live.fee, tax_total - live.tax
        live.fee, live.tax = fee_total, tax_total
        live.status = "filled" if live.remaining == 0 else "partial"
        fill = Fill(self._next_fill_no(live.day), live.order_no, live.account, live.code, live.side, ts,
                    live.day, price, qty, fee, tax)
        live.fills.append(fill)
        self.accounts.record_fill(live.account, live.code, live.side, qty, price, fee, tax, live.day)
        self._update_reservation(live)
        position = self.accounts.position(live.account, live.code, live.day)
        deposit = self.accounts.deposit(live.account, live.day)
        return [
            OrderEvent("filled", ts, live.account, live.snapshot(), fill=fill),
            BalanceChange(ts, live.account, live.code, position, deposit),
        ]


def _priority(o: _Live) -> int:
    """Price priority: market orders first, then the best price."""
    if o.hoga == MARKET:
        return -(1 << 60)
    return -o.price if o.side == BUY else o.price
