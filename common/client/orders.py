"""Order handles: one submitted order, its live state and its lifecycle events, fed by the order stream."""
from __future__ import annotations

import asyncio
import logging
import operator
from functools import lru_cache
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Tuple

from koabus.common.errors import InvalidRequest, KiwoomError, KoabusError, Timeout
from koabus.metadata import catalog

from .core import _END, RequestStream

log = logging.getLogger(__name__)

#: final order states that mean the order did not go through
FAILED_STATES = frozenset({"rejected", "failed"})
HOGA_LIMIT, HOGA_MARKET = "00", "03"


@lru_cache(maxsize=None)
def _price_zero_hoga() -> FrozenSet[str]:
    """sHogaGb codes that take no price (market, best, after-hours close...), from the metadata."""
    return frozenset(catalog().enum("hoga_price_zero"))


def order_price(price: Any, hoga: Optional[str], market: bool = False, *, drop_price: bool = False
                ) -> Tuple[str, int]:
    """The (hoga, price) an order goes out with. A market order only when asked for (`market=True` or a
    hoga that takes no price, such as "03"); a limit order needs a positive price: price 0 is never
    read as "market". `drop_price` sends 0 for a hoga that takes no price whatever price came with
    it (KOAPY's SendOrder style); otherwise such a price is refused."""
    if market:
        if hoga not in (None, "", HOGA_MARKET):
            raise InvalidRequest(f"market=True conflicts with hoga {hoga!r}", details={"field": "hoga", "hoga": hoga})
        hoga = HOGA_MARKET
    hoga = hoga or HOGA_LIMIT
    if hoga in _price_zero_hoga():
        if price and not drop_price:
            raise InvalidRequest(f"hoga {hoga} (market-type) takes no price; pass price 0",
                                 details={"field": "price", "price": price, "hoga": hoga})
        return hoga, 0
    krw = _whole(price)
    if krw is None or krw <= 0:
        raise InvalidRequest(f"a limit order (hoga {hoga}) needs a positive price, not {price!r}; "
                             "for a market order pass market=True (hoga 03)",
                             details={"field": "price", "price": krw if krw is not None else str(price),
                                      "hoga": hoga})
    return hoga, krw


def _whole(value: Any) -> Optional[int]:
    """An int from an int-like (numpy ints included) or a whole float; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    try:
        return operator.index(value)
    except TypeError:
        return None


class OrderRejected(KoabusError):
    """The control or the server refused the order and gave no Kiwoom return code (the server's
    message, e.g. "[RC4027] 모의투자 상/하한가 오류입니다.", says why). With a code it is a KiwoomError."""

    kind = "OrderRejected"


def rejection_of(state: Dict[str, Any]) -> Optional[KoabusError]:
    """The error a final order state stands for (None when the order did not fail)."""
    if state.get("state") not in FAILED_STATES:
        return None
    code = state.get("error_code")
    message = str(state.get("message") or state.get("reason") or "")
    details = {k: state.get(k) for k in ("client_order_id", "order_no", "state") if state.get(k) is not None}
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return KiwoomError(code, message, details=details)
    return OrderRejected(message or f"the order was {state.get('state')}", details=details)


class OrderHandle:
    """What `AsyncClient.order()` returns once the broker took the order.

    `state` is the broker's latest summary (state, order_no, filled_qty, remaining_qty,
    avg_fill_price, done, ...); `events()` iterates lifecycle events (accepted, fill, confirmed,
    balance, rejected, message, ...); `wait()` returns when the order is done. A lost stream (broker
    restart) ends `events()`; `refresh()` asks the broker for the order's status again.

    `error` is set when the order failed: the broker refused it (an ERROR such as RiskRejected,
    DuplicateOrder, KiwoomError), it ended rejected (KiwoomError with the control's return code, else
    OrderRejected with the server's message), or its stream was lost (Unavailable, ...). `wait()`
    raises it.
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
        self._detached = False
        self._callbacks: List[Callable[[Dict[str, Any]], Any]] = []
        self._task = asyncio.ensure_future(self._pump())

    @property
    def order_no(self) -> str:
        return str(self.state.get("order_no", "") or "")

    @property
    def done(self) -> bool:
        """The order reached a final state (filled, cancelled, rejected); not just its stream ended."""
        return bool(self.state.get("done"))

    @property
    def following(self) -> bool:
        """Events may still come: the stream is open (not ended, failed or detached)."""
        return not self._done.is_set()

    @property
    def filled_qty(self) -> int:
        return int(self.state.get("filled_qty") or 0)

    def add_callback(self, callback: Callable[[Dict[str, Any]], Any]) -> None:
        self._callbacks.append(callback)

    @property
    def replayed(self) -> bool:
        """The broker already knew this client_order_id: nothing was sent, its events were replayed."""
        return bool(self.history) and bool(self.history[0].get("replayed"))

    async def _pump(self) -> None:
        try:
            async for event in self._stream:
                if isinstance(event, dict):
                    self._apply(event)
            result = self._stream.result
            if isinstance(result, dict):
                self.state.update({k: v for k, v in result.items() if k not in ("event", "detached")})
            if not self._detached and not (isinstance(result, dict) and result.get("detached")):
                self.state["done"] = True
            self.error = rejection_of(self.state)
        except KoabusError as exc:
            self.error = exc
            log.info("order %s stream ended: %s", self.client_order_id, exc)
        finally:
            self._done.set()
            self._queue.put_nowait(_END)

    def _apply(self, event: Dict[str, Any]) -> None:
        self.history.append(event)
        fields = {k: v for k, v in event.items() if k not in ("event", "replayed")}
        if event.get("event") == "rejected" and not isinstance(fields.get("code"), str):
            # a rejected event's `code` is the control's return code, not the stock code
            code = fields.pop("code", None)
            if code is not None:
                fields["error_code"] = code
        self.state.update(fields)
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
        """Wait until the order is done; returns the final state.

        Raises `error` when the order failed (refused, rejected, stream lost), Timeout after `timeout_s`.
        """
        try:
            await asyncio.wait_for(self._done.wait(), timeout_s)
        except asyncio.TimeoutError:
            raise Timeout(f"order {self.client_order_id}: not done within {timeout_s:g} s "
                          f"(state {self.state.get('state')})") from None
        if self.error is not None:
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
        self._detached = True
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
