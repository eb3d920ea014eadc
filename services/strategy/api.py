"""What a strategy is written against: the `Strategy` base class, the `Context` its hooks receive, and
the small typed records (`Fill`, `Position`, `OrderInfo`) the context hands out.

Hooks are plain (synchronous) methods called on the host's event loop, one at a time: they must not
block. Orders go out through `ctx.buy`/`ctx.sell`, which return the order's client order id at once
(the order is sent in the background) or None when a limit refused it. A hook that raises stops the
strategy (docs/consumers.md "Writing a strategy").
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Dict, List, Optional, Tuple


@dataclass(frozen=True)
class Fill:
    """One execution of one of the strategy's orders (a 체결 chejan event)."""

    order_id: str
    order_no: str
    fill_no: str
    code: str
    side: str  # "buy" | "sell"
    qty: int
    price: int
    time: Optional[datetime]


@dataclass(frozen=True)
class Position:
    """Shares held in one code and their average price (the account's, from the TRs and chejan)."""

    code: str
    qty: int
    avg_price: int


@dataclass(frozen=True)
class OrderInfo:
    """One of the strategy's orders as the host knows it."""

    order_id: str
    code: str
    side: str
    qty: int
    price: int
    filled_qty: int
    state: str
    order_no: str = ""

    @property
    def open(self) -> bool:
        return self.state not in FINAL_STATES

    @property
    def remaining_qty(self) -> int:
        return max(0, self.qty - self.filled_qty)


#: order states after which nothing more fills
FINAL_STATES = frozenset({"filled", "cancelled", "modified", "rejected", "failed", "refused", "abandoned"})


class Context:
    """The strategy's view of the world and its hands; the host implements it (host.HostContext)."""

    name: str
    account: str
    params: Dict[str, Any]
    log: logging.Logger

    @property
    def now(self) -> datetime:  # the broker's clock (virtual on the simulator and in a replay)
        raise NotImplementedError

    @property
    def cash(self) -> int:
        raise NotImplementedError

    @property
    def pnl(self) -> int:
        """Today's realised plus unrealised profit and loss, KRW, fees included."""
        raise NotImplementedError

    def position(self, code: str) -> int:
        raise NotImplementedError

    def positions(self) -> Dict[str, Position]:
        raise NotImplementedError

    def last_price(self, code: str) -> Optional[int]:
        raise NotImplementedError

    def open_orders(self, code: Optional[str] = None) -> List[OrderInfo]:
        raise NotImplementedError

    def buy(self, code: str, qty: int, price: Optional[int] = None) -> Optional[str]:
        """A buy order: market without `price`, else a limit at `price`. The order id, or None if refused."""
        raise NotImplementedError

    def sell(self, code: str, qty: int, price: Optional[int] = None) -> Optional[str]:
        raise NotImplementedError

    def cancel(self, order_id: str) -> None:
        raise NotImplementedError


class Strategy:
    """Subclass it and override the hooks you need; `params` are defaults the config may override.

    `params["code"]` (one code) or `params["codes"]` (a list) says what to watch; `params["interval"]`
    ("1m", "5m", ...; default "1m") the bars `on_bar` receives.
    """

    params: Dict[str, Any] = {}

    def __init__(self, params: Optional[Dict[str, Any]] = None):
        self.params = {**type(self).params, **(params or {})}

    @property
    def codes(self) -> Tuple[str, ...]:
        codes = self.params.get("codes")
        if codes is None:
            code = self.params.get("code")
            codes = [code] if code else []
        return tuple(str(c) for c in codes)

    @property
    def interval(self) -> str:
        return str(self.params.get("interval", "1m"))

    def on_start(self, ctx: Context) -> None:
        """Once, after the account is reconciled and before the first bar or tick."""

    def on_bar(self, ctx: Context, bar: Any) -> None:
        """A final bar of `interval` for one of the codes (koabus.services.bars.core.Bar)."""

    def on_tick(self, ctx: Context, tick: Any) -> None:
        """A live trade (koabus.common.client.RealtimeEvent of 주식체결) for one of the codes."""

    def on_fill(self, ctx: Context, fill: Fill) -> None:
        """An execution of one of this strategy's orders; positions and cash already include it."""

    def on_stop(self, ctx: Context) -> None:
        """Once, at an orderly stop (not after a hook raised)."""
