"""Order handles: one submitted order, its live state and its lifecycle events, fed by the order stream."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Dict, List, Optional

from koabus.common.errors import KoabusError

from .core import _END, RequestStream

log = logging.getLogger(__name__)


class OrderHandle:
    """What `AsyncClient.order()` returns once the broker took the order.

    `state` is the broker's latest summary (state, order_no, filled_qty, remaining_qty,
    avg_fill_price, done, ...); `events()` iterates lifecycle events (accepted, fill, confirmed,
    balance, rejected, message, ...); `wait()` returns when the order is done. A lost stream (broker
    restart) ends `events()`; `refresh()` asks the broker for the order's status again.
    """

    def __init__(self, client: Any, stream: RequestStream, request: Dict[str, Any]):
        self._client = client
        self._stream = stream
        self.request = dict(request)
        self.client_order_id: str = str(request.get("client_order_id", ""))
        self.state: Dict[str, Any] = {"state": "queued", "done": False}
        self.history: List[Dict[str, Any]] = []
        self.error: Optional[KoabusError] = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._done = asyncio.Event()
        self._callbacks: List[Callable[[Dict[str, Any]], Any]] = []
        self._task = asyncio.ensure_future(self._pump())

    @property
    def order_no(self) -> str:
        return str(self.state.get("order_no", "") or "")

    @property
    def done(self) -> bool:
        return bool(self.state.get("done")) or self._done.is_set()

    @property
    def filled_qty(self) -> int:
        return int(self.state.get("filled_qty") or 0)

    def add_callback(self, callback: Callable[[Dict[str, Any]], Any]) -> None:
        self._callbacks.append(callback)

    async def _pump(self) -> None:
        try:
            async for event in self._stream:
                if isinstance(event, dict):
                    self._apply(event)
            if isinstance(self._stream.result, dict):
                self.state.update({k: v for k, v in self._stream.result.items() if k != "event"})
            self.state["done"] = True
        except KoabusError as exc:
            self.error = exc
            log.info("order %s stream ended: %s", self.client_order_id, exc)
        finally:
            self._done.set()
            self._queue.put_nowait(_END)

    def _apply(self, event: Dict[str, Any]) -> None:
        self.history.append(event)
        self.state.update({k: v for k, v in event.items() if k != "event"})
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("order callback failed")
        self._queue.put_nowait(event)

    def events(self) -> _OrderEvents:
        """Lifecycle events, live, until the order is done (or its stream is lost)."""
        return _OrderEvents(self._queue)

    async def wait(self, timeout_s: Optional[float] = None) -> Dict[str, Any]:
        """Wait until the order is done; returns the final state. Raises the stream's error if any."""
        await asyncio.wait_for(self._done.wait(), timeout_s)
        if self.error is not None and not self.state.get("done"):
            raise self.error
        return dict(self.state)

    async def refresh(self) -> Dict[str, Any]:
        key = {"order_no": self.order_no} if self.order_no else {"client_order_id": self.client_order_id}
        status = await self._client.request("order_status", key)
        if isinstance(status, dict):
            self.state.update(status)
        return dict(self.state)

    async def cancel(self, qty: int = 0) -> Any:
        """Cancel the rest (qty 0) or `qty` shares of this order."""
        return await self._client.cancel_order(self.request.get("account", ""), order_no=self.order_no or None,
                                               client_order_id=None if self.order_no else self.client_order_id,
                                               qty=qty, code=self.request.get("code"))

    async def modify(self, price: int, qty: int = 0, hoga: str = "00") -> Any:
        return await self._client.modify_order(self.request.get("account", ""), order_no=self.order_no or None,
                                               client_order_id=None if self.order_no else self.client_order_id,
                                               qty=qty or int(self.state.get("remaining_qty") or 0),
                                               price=price, hoga=hoga, code=self.request.get("code"))

    async def detach(self) -> None:
        """Stop following the order (it stays live at the broker)."""
        await self._stream.cancel()

    def __repr__(self) -> str:
        return (f"OrderHandle({self.client_order_id!r}, order_no={self.order_no!r}, "
                f"state={self.state.get('state')!r}, filled={self.filled_qty})")


class _OrderEvents:
    def __init__(self, queue: asyncio.Queue):
        self._queue = queue
        self._ended = False

    def __aiter__(self) -> _OrderEvents:
        return self

    async def __anext__(self) -> Dict[str, Any]:
        if self._ended:
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is _END:
            self._ended = True
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        return item
