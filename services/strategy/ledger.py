"""Positions, cash and profit and loss kept from chejan events, seeded by the account TRs (no I/O).

Positions are the account's: the TRs (opw00018) seed them and every balance chejan (gubun 1) sets a
code's quantity and average price as the server reports them, so a missed or doubled fill event can not
drift them. Cash (주문가능금액, opw00001 `orderable` at start) and realised profit move with each fill
(체결 chejan): its unit quantity and price, plus the change in the order's commission and tax. A fill is
counted once by (order number, fill number).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Set, Tuple

from .api import Position

BUY, SELL = "buy", "sell"


@dataclass(frozen=True)
class FillReport:
    """A 체결 chejan event read: what one execution did to the account."""

    order_no: str
    fill_no: str
    code: str
    side: str
    qty: int
    price: int
    fees: int  # commission + tax this fill added to its order
    realised: int  # profit realised by this fill (sells), fees deducted
    time: str  # HH:MM:SS as the control gives it


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def side_of(values: Mapping[str, Any]) -> str:
    """'buy' or 'sell' from FID 907 매도수구분 (1 sell, 2 buy), else from 주문구분's sign (+매수/-매도)."""
    side = str(values.get("side") or "")
    if side in ("1", "2"):
        return SELL if side == "1" else BUY
    return SELL if str(values.get("order_kind") or "").startswith("-") else BUY


class Ledger:
    """The account as the strategy sees it: cash, positions, last prices, realised profit, fees."""

    def __init__(self) -> None:
        self.cash = 0
        self.positions: Dict[str, Position] = {}
        self.last_price: Dict[str, int] = {}
        self.realised = 0
        self.fees = 0
        self.fills = 0
        self._seen: Set[Tuple[str, str]] = set()
        self._order_fees: Dict[str, int] = {}

    # ---- seeding --------------------------------------------------------------------------------

    def reconcile(self, cash: int, holdings: Iterable[Mapping[str, Any]], realised: int = 0) -> None:
        """Start from the account TRs: `cash` (opw00001 orderable), `holdings` (opw00018 rows: code,
        holding_qty, avg_price, current_price) and the realised profit already journaled today."""
        self.cash = int(cash)
        self.realised = int(realised)
        self.positions = {}
        for row in holdings:
            code = str(row.get("code") or "").lstrip("A")
            qty = _int(row.get("holding_qty"))
            if code and qty:
                self.positions[code] = Position(code, qty, _int(row.get("avg_price")))
            if code and _int(row.get("current_price")):
                self.last_price[code] = abs(_int(row.get("current_price")))

    # ---- chejan -----------------------------------------------------------------------------------

    def on_order_event(self, values: Mapping[str, Any]) -> Optional[FillReport]:
        """A gubun-0 chejan (`ch.<account>.order` values): a FillReport for a new 체결, else None."""
        qty = _int(values.get("unit_fill_qty"))
        order_no = str(values.get("order_no") or "")
        fill_no = str(values.get("fill_no") or "")
        if qty <= 0 or not fill_no or (order_no, fill_no) in self._seen:
            return None
        self._seen.add((order_no, fill_no))
        price = abs(_int(values.get("unit_fill_price")))
        code = str(values.get("code") or "").lstrip("A")
        side = side_of(values)
        order_fees = _int(values.get("commission_today")) + _int(values.get("tax_today"))
        fees = max(0, order_fees - self._order_fees.get(order_no, 0))
        self._order_fees[order_no] = max(order_fees, self._order_fees.get(order_no, 0))
        held = self.positions.get(code, Position(code, 0, 0))
        realised = -fees
        if side == BUY:
            self.cash -= price * qty + fees
            total = held.qty + qty
            avg = (held.avg_price * held.qty + price * qty) // total if total else 0
            self.positions[code] = Position(code, total, avg)
        else:
            self.cash += price * qty - fees
            realised += (price - held.avg_price) * min(qty, held.qty)
            left = held.qty - qty
            if left > 0:
                self.positions[code] = Position(code, left, held.avg_price)
            else:
                self.positions.pop(code, None)
        self.realised += realised
        self.fees += fees
        self.fills += 1
        self.last_price[code] = price
        return FillReport(order_no, fill_no, code, side, qty, price, fees, realised,
                          str(values.get("order_time") or ""))

    def note_order_event(self, values: Mapping[str, Any]) -> None:
        """A 체결 the account TRs already counted (it came before their answer): remembered as seen (and
        its order's fees so far), not applied again."""
        qty = _int(values.get("unit_fill_qty"))
        order_no = str(values.get("order_no") or "")
        fill_no = str(values.get("fill_no") or "")
        if qty > 0 and fill_no:
            self._seen.add((order_no, fill_no))
            fees = _int(values.get("commission_today")) + _int(values.get("tax_today"))
            self._order_fees[order_no] = max(fees, self._order_fees.get(order_no, 0))

    def on_balance_event(self, values: Mapping[str, Any]) -> None:
        """A gubun-1 chejan: the server's word on one code's holding (quantity, average price)."""
        code = str(values.get("code") or "").lstrip("A")
        if not code:
            return
        qty = _int(values.get("holding_qty"))
        if qty > 0:
            self.positions[code] = Position(code, qty, _int(values.get("avg_price")))
        else:
            self.positions.pop(code, None)
        price = abs(_int(values.get("current_price")))
        if price:
            self.last_price[code] = price

    # ---- marks --------------------------------------------------------------------------------

    def mark(self, code: str, price: int) -> None:
        if price:
            self.last_price[code] = abs(int(price))

    def position(self, code: str) -> int:
        held = self.positions.get(code)
        return held.qty if held else 0

    @property
    def unrealised(self) -> int:
        return sum((self.last_price.get(p.code, p.avg_price) - p.avg_price) * p.qty for p in self.positions.values())

    @property
    def pnl(self) -> int:
        """Realised (fees deducted) plus unrealised, KRW: what the daily loss stop reads."""
        return self.realised + self.unrealised

    def summary(self) -> Dict[str, Any]:
        return {"cash": self.cash, "realised": self.realised, "unrealised": self.unrealised, "pnl": self.pnl,
                "fees": self.fees, "fills": self.fills,
                "positions": {c: {"qty": p.qty, "avg_price": p.avg_price, "last": self.last_price.get(c)}
                              for c, p in sorted(self.positions.items())}}
