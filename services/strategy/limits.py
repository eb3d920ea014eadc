"""Per-strategy risk limits, checked before an order id is even allocated (no I/O, explicit clock).

A refusal is a `Refusal` (which limit, and the numbers); the host reports it and sends nothing.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, Optional

from .config import LimitSettings

WINDOW_S = 60.0


@dataclass(frozen=True)
class Refusal:
    limit: str  # max_position | max_orders_per_minute | max_daily_loss | no_position
    message: str
    details: Dict[str, Any]

    def to_body(self) -> Dict[str, Any]:
        return {"limit": self.limit, "message": self.message, **self.details}


class RiskGate:
    """The strategy's limits. `check()` says whether one order may go; `record()` counts a sent one.

    - `max_position`: held + open buys + this buy may not exceed it (shares per code; 0 = none);
    - selling more than held minus open sells is refused (the host does not sell short);
    - `max_orders_per_minute`: orders sent in the trailing 60 s of the broker's clock (0 = none);
    - `max_daily_loss`: once realised + unrealised P&L is at or below minus this (KRW; 0 = none), only
      orders that reduce a position pass (the stop is sticky for the day: `stopped`).
    """

    def __init__(self, limits: LimitSettings):
        self.limits = limits
        self._sent: Deque[float] = deque()
        self.stopped = False

    def check(self, side: str, code: str, qty: int, *, held: int, open_buy: int, open_sell: int, pnl: int,
              now_s: float) -> Optional[Refusal]:
        lim = self.limits
        if qty <= 0:
            return Refusal("qty", f"quantity must be positive, not {qty}", {"qty": qty})
        if lim.max_daily_loss and pnl <= -lim.max_daily_loss:
            self.stopped = True
        if side == "sell" and qty > held - open_sell:
            return Refusal("no_position", f"sell {qty} {code}: only {held - open_sell} held and not being sold",
                           {"code": code, "qty": qty, "held": held, "open_sell": open_sell})
        if self.stopped and side == "buy":
            return Refusal("max_daily_loss", f"daily loss stop: P&L {pnl:,} KRW is past -{lim.max_daily_loss:,}",
                           {"code": code, "pnl": pnl, "max_daily_loss": lim.max_daily_loss})
        if side == "buy" and lim.max_position and held + open_buy + qty > lim.max_position:
            return Refusal("max_position", f"buy {qty} {code}: {held} held + {open_buy} on order would pass "
                           f"max_position {lim.max_position}",
                           {"code": code, "qty": qty, "held": held, "open_buy": open_buy,
                            "max_position": lim.max_position})
        self._expire(now_s)
        if lim.max_orders_per_minute and len(self._sent) >= lim.max_orders_per_minute:
            return Refusal("max_orders_per_minute", f"{len(self._sent)} orders in the last minute "
                           f"(max_orders_per_minute {lim.max_orders_per_minute})",
                           {"code": code, "sent_last_minute": len(self._sent),
                            "max_orders_per_minute": lim.max_orders_per_minute})
        return None

    def record(self, now_s: float) -> None:
        self._sent.append(now_s)
        self._expire(now_s)

    def _expire(self, now_s: float) -> None:
        while self._sent and self._sent[0] <= now_s - WINDOW_S:
            self._sent.popleft()
