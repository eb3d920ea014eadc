"""The strategy host: run a user strategy (a `Strategy` subclass) as its own process on the bus."""
from __future__ import annotations

from .api import Context, Fill, OrderInfo, Position, Strategy

__all__ = ["Context", "Fill", "OrderInfo", "Position", "Strategy"]
