"""Simulated brokerage accounts: cash with D+2 settlement, holdings at average cost, today's trading
figures and the reservations that open orders hold. Numbers only; the Exchange drives it."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from koabus.common.errors import NotFound

from .calendar import KrxCalendar
from .config import ExchangeConfig


@dataclass(frozen=True)
class Position:
    """One holding (opw00018 / chejan gubun 1 figures). avg_price excludes fees (as on the mock
    server: 2 shares at 77,300 and 77,000 -> 77,150). orderable_qty = qty minus open sell orders."""

    account: str
    code: str
    qty: int
    avg_price: int
    cost: int
    orderable_qty: int
    today_buy_qty: int
    today_sell_qty: int
    today_buy_value: int
    today_sell_value: int
    realized_pnl_today: int
    fees_today: int
    taxes_today: int
    prev_qty: int

    @property
    def today_net_buy_qty(self) -> int:
        return self.today_buy_qty - self.today_sell_qty


@dataclass(frozen=True)
class Deposit:
    """Cash of an account on `day` (KRW). cash = settled 예수금; d1/d2 = estimated after D+1/D+2
    settlement; reserved = held by open buy orders; orderable = d2 - reserved."""

    account: str
    day: date
    cash: int
    d1: int
    d2: int
    reserved: int
    orderable: int
    withdrawable: int
    buy_amount_today: int
    sell_amount_today: int
    fees_today: int
    taxes_today: int
    realized_pnl_today: int


@dataclass(frozen=True)
class _Trade:
    day: date
    code: str
    side: str
    qty: int
    price: int
    fee: int
    tax: int
    pnl: int


class _Book:
    """Mutable state of one account."""

    def __init__(self, cash: int):
        self.initial = cash
        self.flows: List[Tuple[int, int]] = []  # (settlement ordinal, signed KRW)
        self.holdings: Dict[str, List[int]] = {}  # code -> [qty, cost]
        self.trades: List[_Trade] = []
        self.cash_reserved: Dict[str, int] = {}  # order no -> KRW
        self.qty_reserved: Dict[str, Tuple[str, int]] = {}  # order no -> (code, shares)


class Accounts:
    """The simulated accounts. All amounts are KRW ints."""

    def __init__(self, numbers: Sequence[str] = ("8123456711",), initial_deposit: int = 500_000_000,
                 calendar: Optional[KrxCalendar] = None, settlement_sessions: int = 2,
                 deposits: Optional[Mapping[str, int]] = None):
        """`deposits` gives some accounts their own starting cash; the others get initial_deposit."""
        self._calendar = calendar or KrxCalendar()
        self._settlement = settlement_sessions
        own = dict(deposits or {})
        self._books: Dict[str, _Book] = {n: _Book(int(own.get(n, initial_deposit))) for n in numbers}
        self._lock = threading.RLock()
        self._today: Optional[Callable[[], date]] = None

    def bind_today(self, today: Callable[[], date]) -> None:
        """Where `day=None` reads the current session from (the Exchange binds the market's)."""
        self._today = today

    def _day(self, day: Optional[date]) -> date:
        if day is not None:
            return day
        if self._today is None:
            raise ValueError("no day given and no current session bound")
        return self._today()

    @classmethod
    def from_config(cls, config: ExchangeConfig, calendar: Optional[KrxCalendar] = None) -> Accounts:
        return cls(config.accounts, config.initial_deposit, calendar, config.settlement_sessions,
                   dict(config.deposits))

    def numbers(self) -> List[str]:
        return list(self._books)

    def has(self, account: str) -> bool:
        return account in self._books

    def _book(self, account: str) -> _Book:
        try:
            return self._books[account]
        except KeyError:
            raise NotFound(f"unknown account {account!r}") from None

    # -- reads -------------------------------------------------------------------------------
    def deposit(self, account: str, day: Optional[date] = None) -> Deposit:
        day = self._day(day)
        with self._lock:
            b = self._book(account)
            d1 = self._calendar.next_session(day)
            d2 = day
            for _ in range(self._settlement):
                d2 = self._calendar.next_session(d2)

            def settled_by(d: date) -> int:
                return b.initial + sum(a for o, a in b.flows if o <= d.toordinal())

            cash, est1, est2 = settled_by(day), settled_by(d1), settled_by(d2)
            reserved = sum(b.cash_reserved.values())
            today = [t for t in b.trades if t.day == day]
            return Deposit(
                account=account, day=day, cash=cash, d1=est1, d2=est2, reserved=reserved,
                orderable=max(0, est2 - reserved), withdrawable=max(0, min(cash, est2) - reserved),
                buy_amount_today=sum(t.qty * t.price for t in today if t.side == "buy"),
                sell_amount_today=sum(t.qty * t.price for t in today if t.side == "sell"),
                fees_today=sum(t.fee for t in today), taxes_today=sum(t.tax for t in today),
                realized_pnl_today=sum(t.pnl for t in today),
            )

    def orderable_cash(self, account: str, day: Optional[date] = None) -> int:
        return self.deposit(account, day).orderable

    def sellable_qty(self, account: str, code: str) -> int:
        with self._lock:
            b = self._book(account)
            held = b.holdings.get(code, [0, 0])[0]
            return held - sum(q for c, q in b.qty_reserved.values() if c == code)

    def position(self, account: str, code: str, day: Optional[date] = None) -> Optional[Position]:
        day = self._day(day)
        with self._lock:
            b = self._book(account)
            qty, cost = b.holdings.get(code, [0, 0])
            today = [t for t in b.trades if t.day == day and t.code == code]
            if qty == 0 and not today:
                return None
            buy_q = sum(t.qty for t in today if t.side == "buy")
            sell_q = sum(t.qty for t in today if t.side == "sell")
            return Position(
                account=account, code=code, qty=qty, avg_price=int(round(cost / qty)) if qty else 0,
                cost=cost, orderable_qty=self.sellable_qty(account, code), today_buy_qty=buy_q,
                today_sell_qty=sell_q,
                today_buy_value=sum(t.qty * t.price for t in today if t.side == "buy"),
                today_sell_value=sum(t.qty * t.price for t in today if t.side == "sell"),
                realized_pnl_today=sum(t.pnl for t in today), fees_today=sum(t.fee for t in today),
                taxes_today=sum(t.tax for t in today), prev_qty=qty - buy_q + sell_q,
            )

    def positions(self, account: str, day: Optional[date] = None) -> List[Position]:
        """Holdings (and codes traded on `day`), in the order they were first bought."""
        day = self._day(day)
        with self._lock:
            b = self._book(account)
            codes = list(b.holdings) + [t.code for t in b.trades if t.day == day]
            seen: List[str] = []
            for c in codes:
                if c not in seen:
                    seen.append(c)
            out = [self.position(account, c, day) for c in seen]
            return [p for p in out if p is not None]

    # -- writes (the Exchange) ------------------------------------------------------------------
    def reserve_cash(self, account: str, order_no: str, amount: int) -> None:
        with self._lock:
            b = self._book(account)
            if amount > 0:
                b.cash_reserved[order_no] = int(amount)
            else:
                b.cash_reserved.pop(order_no, None)

    def reserve_qty(self, account: str, order_no: str, code: str, qty: int) -> None:
        with self._lock:
            b = self._book(account)
            if qty > 0:
                b.qty_reserved[order_no] = (code, int(qty))
            else:
                b.qty_reserved.pop(order_no, None)

    def record_fill(self, account: str, code: str, side: str, qty: int, price: int, fee: int, tax: int,
                    day: date) -> int:
        """Book a fill: holdings, cash flow settling D+2, today's figures. Returns the realised P&L
        of a sell (proceeds - average cost - fee - tax), 0 for a buy."""
        with self._lock:
            b = self._book(account)
            held = b.holdings.setdefault(code, [0, 0])
            amount = qty * price
            settle = day
            for _ in range(self._settlement):
                settle = self._calendar.next_session(settle)
            pnl = 0
            if side == "buy":
                held[0] += qty
                held[1] += amount
                b.flows.append((settle.toordinal(), -(amount + fee)))
            else:
                removed = int(round(held[1] * qty / held[0])) if held[0] else 0
                held[0] -= qty
                held[1] -= removed
                pnl = amount - removed - fee - tax
                b.flows.append((settle.toordinal(), amount - fee - tax))
            if held[0] == 0:
                del b.holdings[code]
            b.trades.append(_Trade(day, code, side, qty, price, fee, tax, pnl))
            return pnl
