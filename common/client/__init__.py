"""The koabus client SDK: `AsyncClient` (asyncio) and `Client` (blocking), speaking only to the bus;
`Lake` (SQL over the recorded Parquet lake) loads DuckDB only when first used."""
from __future__ import annotations

from typing import Any

from .aclient import AsyncClient
from .blocking import Client
from .events import ConditionEvent, ConnectionEvent, RealtimeEvent
from .options import ClientOptions, CurveKeys
from .orders import OrderHandle, OrderRejected
from .requests import TrPage
from .streams import StreamOverflow

__all__ = [
    "AsyncClient", "Client", "ClientOptions", "ConditionEvent", "ConnectionEvent", "CurveKeys", "Lake",
    "OrderHandle", "OrderRejected", "RealtimeEvent", "StreamOverflow", "TrPage",
]


def __getattr__(name: str) -> Any:
    if name == "Lake":  # lazily: the bus SDK must not pay for (or need) DuckDB
        from .lake import Lake

        return Lake
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
