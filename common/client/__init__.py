"""The koabus client SDK: `AsyncClient` (asyncio) and `Client` (blocking), speaking only to the bus."""
from __future__ import annotations

from .aclient import AsyncClient
from .blocking import Client
from .events import ConditionEvent, ConnectionEvent, RealtimeEvent
from .options import ClientOptions, CurveKeys
from .orders import OrderHandle, OrderRejected
from .requests import TrPage
from .streams import StreamOverflow

__all__ = [
    "AsyncClient", "Client", "ClientOptions", "ConditionEvent", "ConnectionEvent", "CurveKeys",
    "OrderHandle", "OrderRejected", "RealtimeEvent", "StreamOverflow", "TrPage",
]
