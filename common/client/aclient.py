"""AsyncClient: the one implementation of every SDK call, on asyncio (the blocking Client wraps it).

Three layers, all on the same `Connection`:
- protocol: `request(op, args)`, `call(method, *args)` (and `client.GetMasterCodeName(code)` sugar
  for every control method the metadata lists), `tr()` pages, realtime/condition streams, orders;
- pythonic helpers with type hints: `daily()`, `minute()`, `codes()`, `deposit()`, ...;
- KOAPY-compatible names (`GetDailyStockDataAsDataFrame`, ...) so KOAPY scripts port with an import change.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any, AsyncIterator, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import pandas as pd

from koabus.common.errors import InvalidRequest, KiwoomError, NotFound
from koabus.metadata import catalog

from . import frames
from .core import Connection, State
from .events import ConditionEvent, ConnectionEvent
from .options import ClientOptions, CurveKeys
from .orders import HOGA_LIMIT, OrderHandle, order_price
from .requests import TrPage, TrStream
from .streams import ConditionStream, RealtimeStream, TopicStream

DateLike = Union[str, date, datetime, pd.Timestamp, None]
#: markets by name for `codes(market=...)`; GetCodeListByMarket takes the number
MARKETS = {"kospi": "0", "kosdaq": "10", "elw": "3", "etf": "8", "konex": "50", "fund": "4",
           "warrant": "5", "reit": "6", "highyield": "9", "kotc": "30", "all": ""}
_GATHER_CHUNK = 200
#: order events that settle a cancel/modify request
_DECIDING = frozenset({"confirmed", "rejected", "failed", "cancelled"})


def _ymd(value: DateLike) -> Optional[str]:
    stamp = frames.to_timestamp(value)
    return None if stamp is None else stamp.strftime("%Y%m%d")


class AsyncClient:
    """An asyncio client of one koabus broker. Use `async with AsyncClient(router, pub) as client:`."""

    def __init__(self, router: Optional[str] = None, pub: Optional[str] = None, *,
                 timeout_s: Optional[float] = None, options: Optional[ClientOptions] = None,
                 curve: Optional[CurveKeys] = None, english: Optional[bool] = None,
                 client_name: Optional[str] = None, context: Any = None):
        base = options or ClientOptions()
        self.options = base.with_(router=router, pub=pub, timeout_s=timeout_s, curve=curve,
                                  english=english, client_name=client_name)
        self._context = context
        self._conn: Optional[Connection] = None
        self._name_cache: Dict[str, str] = {}

    # ---- lifecycle and connection events ------------------------------------------------------

    async def connect(self) -> AsyncClient:
        """Open the sockets and complete the HELLO/WELCOME handshake (Unavailable if no broker)."""
        if self._conn is None or self._conn.state == State.CLOSED:
            self._conn = Connection(self.options, self._context)
            await self._conn.start()
        return self

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()

    async def __aenter__(self) -> AsyncClient:
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise InvalidRequest("the client is not connected; use `async with` or `await connect()`")
        return self._conn

    @property
    def epoch(self) -> Optional[int]:
        return None if self._conn is None else self._conn.epoch

    @property
    def state(self) -> str:
        return State.IDLE.value if self._conn is None else self._conn.state.value

    @property
    def server(self) -> Dict[str, Any]:
        """What the broker said about itself in WELCOME (backend, login state, ...)."""
        welcome = None if self._conn is None else self._conn.welcome
        return dict(welcome.server) if welcome is not None else {}

    def on_epoch_change(self, callback: Callable[[ConnectionEvent], Any]) -> Callable[[], None]:
        """`callback(event)` after a broker restart (new epoch); streams resubscribe by themselves."""
        return self.connection.on("epoch", callback)

    def on_gap(self, callback: Callable[[ConnectionEvent], Any]) -> Callable[[], None]:
        """`callback(event)` when a stream lost publications (event.topic, event.missing)."""
        return self.connection.on("gap", callback)

    def on_state(self, callback: Callable[[ConnectionEvent], Any]) -> Callable[[], None]:
        return self.connection.on("state", callback)

    def on_throttle(self, callback: Callable[[Dict[str, Any]], Any]) -> Callable[[], None]:
        """`callback(body)` for the broker's pacing notices (sys.throttle: state, kind, wait_s, ...)."""
        return self.connection.on("throttle", callback)

    # ---- protocol layer -----------------------------------------------------------------------

    async def request(self, op: str, args: Optional[Dict[str, Any]] = None, *,
                      timeout_s: Optional[float] = None, idem_key: Optional[str] = None) -> Any:
        """Any broker operation (docs/protocol.md); the ERROR kinds raise koabus.common.errors."""
        return await self.connection.request(op, args, timeout_s=timeout_s, idem_key=idem_key)

    async def status(self) -> Dict[str, Any]:
        return await self.request("status")

    async def market_phase(self) -> str:
        """The KRX phase at the broker's clock (virtual on the simulator): `status()["market_phase"]`."""
        return (await self.status())["market_phase"]

    async def meta(self, kind: str, key: Any) -> Any:
        return await self.request("meta", {"kind": kind, "key": key})

    async def call(self, method: str, *args: Any, timeout_s: Optional[float] = None) -> Any:
        """Call a control method by name, e.g. `await client.call("GetMasterCodeName", "005930")`."""
        return await self.request("call", {"method": method, "args": list(args)}, timeout_s=timeout_s)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or not name[:1].isupper():
            raise AttributeError(name)
        try:
            method = catalog().method(name)
        except NotFound:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} "
                                 "(and it is not a control method)") from None

        async def control_method(*args: Any, timeout_s: Optional[float] = None) -> Any:
            return await self.call(method.name, *args, timeout_s=timeout_s)

        control_method.__name__ = method.name
        control_method.__doc__ = method.doc
        return control_method

    async def login(self, timeout_s: Optional[float] = None) -> Any:
        """Make sure the broker's control is logged in (a no-op when it already is)."""
        return await self.request("login", {}, timeout_s=timeout_s or max(60.0, self.options.timeout_s))

    def tr(self, code: str, inputs: Optional[Dict[str, Any]] = None, *, all_pages: bool = False,
           max_pages: Optional[int] = None, stop: Optional[Dict[str, Any]] = None, typed: bool = True,
           deadline_s: Optional[float] = None) -> TrStream:
        """The pages of one TR as an async iterator of `TrPage`.

        `stop` = {field, op ("<", "<=", ">", ">=", "=="), value}: the broker stops paging after the
        page holding the first row that meets it (e.g. {"field": "일자", "op": "<", "value": "20200101"}).
        """
        args: Dict[str, Any] = {"code": code, "inputs": {k: str(v) for k, v in (inputs or {}).items()},
                                "all_pages": bool(all_pages), "typed": bool(typed)}
        if max_pages is not None:
            args["max_pages"] = int(max_pages)
        if stop is not None:
            args["stop"] = dict(stop)

        async def opener() -> Any:
            return await self.connection.open_stream("tr", args, deadline_s=deadline_s,
                                                     idle_timeout_s=None if deadline_s else None)

        return TrStream(opener, code)

    async def tr_frame(self, code: str, inputs: Optional[Dict[str, Any]] = None, *, all_pages: bool = False,
                       max_pages: Optional[int] = None, stop: Optional[Dict[str, Any]] = None,
                       english: Optional[bool] = None,
                       on_page: Optional[Callable[[TrPage], Any]] = None) -> Tuple[Dict[str, Any], pd.DataFrame]:
        """A TR collected: (single record as a typed dict, multi record as a typed DataFrame)."""
        english = self.options.english if english is None else english
        builder = frames.FrameBuilder(code, english)
        pages = await self._pages(code, inputs, all_pages=all_pages, max_pages=max_pages, stop=stop,
                                  on_page=on_page, builder=builder)
        single, _ = frames.rows_of(p.as_dict() for p in pages)
        return frames.single_dict(code, single, english), builder.frame()

    async def _pages(self, code: str, inputs: Optional[Dict[str, Any]], *, all_pages: bool = False,
                     max_pages: Optional[int] = None, stop: Optional[Dict[str, Any]] = None,
                     on_page: Optional[Callable[[TrPage], Any]] = None,
                     builder: Optional[frames.FrameBuilder] = None) -> List[TrPage]:
        """The pages; `builder` gets each page's rows as it arrives (its frame is built while the
        broker fetches the next page)."""
        stream = self.tr(code, inputs, all_pages=all_pages, max_pages=max_pages, stop=stop)
        if builder is not None:
            stream.add_callback(lambda page: builder.add(page.multi))
        if on_page is not None:
            stream.add_callback(on_page)
        return await stream.collect()

    async def kwfid(self, codes: Sequence[str], *, english: Optional[bool] = None,
                    on_part: Optional[Callable[[int], Any]] = None) -> pd.DataFrame:
        """OPTKWFID snapshot of any number of codes (the broker sends chunks of 100)."""
        english = self.options.english if english is None else english
        builder = frames.FrameBuilder("optkwfid", english)  # each chunk's frame while the next is fetched
        stream = await self.connection.open_stream("kwfid", {"codes": list(codes), "typed": True})
        async for part in stream:
            chunk = part.get("rows", part.get("multi")) if isinstance(part, dict) else None
            chunk = [r for r in chunk if isinstance(r, dict)] if isinstance(chunk, list) else []
            builder.add(chunk)
            if on_part is not None:
                on_part(len(chunk))
        return builder.frame()

    # ---- streams --------------------------------------------------------------------------------

    def realtime(self, codes: Union[str, Iterable[str]], types: Union[str, Iterable[str]] = ("trade",), *,
                 fids: Optional[Sequence[int]] = None, snapshot: bool = True,
                 batched: bool = False) -> RealtimeStream:
        """Realtime events (`RealtimeEvent`) for `codes` and realtime `types` (slugs or Korean names).

        Starts on first iteration (or `await stream.start()` / `async with`); a late join gets the
        last value of each topic first (`event.from_snapshot`). `close()` unsubscribes the pairs no
        other stream of this client still holds. `batched=True` takes the events from the broker's
        positional batches (docs/protocol.md §4.4): cheaper per event for hundreds of codes.
        """
        codes = [codes] if isinstance(codes, str) else list(codes)
        types = [types] if isinstance(types, str) else list(types)
        slugs = [catalog().realtype(t).slug for t in types]
        return RealtimeStream(self.connection, codes, slugs, fids=fids, snapshot=snapshot, batched=batched)

    def bars(self, codes: Union[str, Iterable[str], None] = None, interval: Union[str, int] = "1m", *,
             snapshot: bool = True) -> TopicStream:
        """`BarEvent`s from a bars service (connect this client to its endpoints, common/client/bars.py):
        the bars in progress first (late join), then live partial and final bars."""
        from .bars import bar_stream

        return bar_stream(self.connection, codes, interval, snapshot=snapshot)

    def chejan(self, account: Optional[str] = None, *, snapshot: bool = False) -> TopicStream:
        """Order/fill and balance publications (`ch.<account>.*`) as raw Publications."""
        prefix = f"ch.{account}." if account else "ch."
        return TopicStream(self.connection, prefixes=[prefix], snapshot=snapshot)

    # ---- conditions -----------------------------------------------------------------------------

    async def conditions(self) -> List[Tuple[int, str]]:
        """The user's saved conditions as (index, name), loading them first."""
        await self.request("condition_load")
        result = await self.request("condition_list")
        return _condition_pairs(result)

    async def _condition_index(self, name: str, index: Optional[int]) -> int:
        if index is not None:
            return int(index)
        for idx, cname in await self.conditions():
            if cname == name:
                return idx
        raise NotFound(f"no condition named {name!r}")

    async def condition_search(self, name: str, index: Optional[int] = None) -> List[str]:
        idx = await self._condition_index(name, index)
        result = await self.request("condition_search", {"name": name, "index": idx})
        codes = result.get("codes", []) if isinstance(result, dict) else result
        return [str(c) for c in codes or []]

    async def condition_stream(self, name: str, index: Optional[int] = None) -> ConditionStream:
        """Realtime condition: an "initial" event with the search result, then "I"/"D" events."""
        idx = await self._condition_index(name, index)
        return ConditionStream(self.connection, name, idx)

    # ---- orders ---------------------------------------------------------------------------------

    async def order(self, account: str, side: str, code: str, qty: int, price: int = 0, *,
                    hoga: Optional[str] = None, market: bool = False, client_order_id: Optional[str] = None,
                    kind: str = "stock", **extra: Any) -> OrderHandle:
        """Submit an order; returns its handle (live state + events).

        A limit order (the default, hoga "00") needs a positive price on the KRX tick grid; a market
        order is explicit: `market=True` (or hoga "03") with no price. Price 0 is never a market order:
        it raises InvalidRequest before anything is sent.

        `client_order_id` (random unless given) is the order's idempotency key at the broker: a retry
        with the same id and content re-attaches to the known order (its events are replayed, nothing
        is sent again); the same id with other content fails with DuplicateOrder. A refused or
        rejected order shows in `handle.error`, and `handle.wait()` raises it.
        """
        if side not in ("buy", "sell"):
            raise InvalidRequest("side must be 'buy' or 'sell'")
        hoga, price = order_price(price, hoga, market)
        args = {"account": account, "side": side, "code": code, "qty": int(qty), "price": price, "hoga": hoga,
                "kind": kind,
                "client_order_id": client_order_id or uuid.uuid4().hex[:20], **extra}
        # no idem_key: the broker's order book dedupes by client_order_id and, unlike the generic
        # idempotency cache, re-attaches a retry to the live order and replays its events
        stream = await self.connection.open_stream("order", args)
        return OrderHandle(self, stream, args)

    async def buy(self, account: str, code: str, qty: int, price: int = 0, **kw: Any) -> OrderHandle:
        return await self.order(account, "buy", code, qty, price, **kw)

    async def sell(self, account: str, code: str, qty: int, price: int = 0, **kw: Any) -> OrderHandle:
        return await self.order(account, "sell", code, qty, price, **kw)

    async def cancel_order(self, account: str, *, order_no: Optional[str] = None,
                           client_order_id: Optional[str] = None, qty: int = 0, **extra: Any) -> Any:
        args = {"account": account, "qty": int(qty), **_order_key(order_no, client_order_id),
                **{k: v for k, v in extra.items() if v is not None}}
        return await self._order_action("cancel_order", args)

    async def modify_order(self, account: str, *, price: int, qty: int, order_no: Optional[str] = None,
                           client_order_id: Optional[str] = None, hoga: str = HOGA_LIMIT, **extra: Any) -> Any:
        hoga, price = order_price(price, hoga)
        args = {"account": account, "qty": int(qty), "price": price, "hoga": hoga,
                **_order_key(order_no, client_order_id), **{k: v for k, v in extra.items() if v is not None}}
        return await self._order_action("modify_order", args)

    async def _order_action(self, op: str, args: Dict[str, Any]) -> Dict[str, Any]:
        """Cancel/modify: the broker's events until the new order is confirmed (or refused).

        Returns the deciding event with every event seen under "events"; the new order's stream is
        then detached (a modified order keeps resting; follow it with `order_status`).
        """
        stream = await self.connection.open_stream(op, args, idle_timeout_s=self.options.timeout_s)
        events: List[Any] = []
        decided: Optional[Dict[str, Any]] = None
        async for event in stream:
            events.append(event)
            if isinstance(event, dict) and (event.get("event") in _DECIDING or event.get("done")):
                decided = event
                break
        if decided is None:
            decided = stream.result if isinstance(stream.result, dict) else (events[-1] if events else {})
        else:
            await stream.cancel()
        return {**decided, "events": events} if isinstance(decided, dict) else {"result": decided, "events": events}

    async def order_status(self, *, order_no: Optional[str] = None,
                           client_order_id: Optional[str] = None) -> Dict[str, Any]:
        return await self.request("order_status", _order_key(order_no, client_order_id))

    # ---- pythonic helpers -------------------------------------------------------------------------

    async def codes(self, market: Union[str, int, None] = None) -> List[str]:
        """Codes of a market: number ("0", "10") or name (kospi, kosdaq, etf, ...); None = all."""
        key = "" if market is None else str(market)
        key = MARKETS.get(key.lower(), key)
        text = await self.call("GetCodeListByMarket", key)
        return _split(text)

    async def name(self, code: str) -> str:
        if code not in self._name_cache:
            self._name_cache[code] = str(await self.call("GetMasterCodeName", code) or "")
        return self._name_cache[code]

    async def names(self, codes: Sequence[str]) -> List[str]:
        """Names of many codes, asked concurrently."""
        out: List[str] = []
        for i in range(0, len(codes), _GATHER_CHUNK):
            out += await asyncio.gather(*(self.name(c) for c in codes[i:i + _GATHER_CHUNK]))
        return out

    async def code_of(self, name: str, market: Union[str, int, None] = None) -> List[str]:
        """Codes whose name is `name` (exact; case-insensitive fallback to substring matches)."""
        codes = await self.codes(market)
        names = await self.names(codes)
        exact = [c for c, n in zip(codes, names) if n == name]
        if exact:
            return exact
        folded = name.casefold()
        return [c for c, n in zip(codes, names) if folded in n.casefold()]

    async def accounts(self) -> List[str]:
        return _split(await self.call("GetLoginInfo", "ACCLIST"))

    async def is_simulation(self) -> bool:
        return str(await self.call("GetLoginInfo", "GetServerGubun")).strip() == "1"

    async def _account(self, account: Optional[str]) -> str:
        if account:
            return account
        accounts = await self.accounts()
        if not accounts:
            raise NotFound("the logged-in user has no account")
        return accounts[0]

    async def basic_info(self, code: str, *, english: Optional[bool] = None) -> Dict[str, Any]:
        """opt10001 as a typed dict."""
        single, _ = await self.tr_frame("opt10001", {"종목코드": code}, english=english)
        return single

    async def quotes(self, codes: Sequence[str], *, english: Optional[bool] = None) -> pd.DataFrame:
        return await self.kwfid(codes, english=english)

    async def daily(self, code: str, start: DateLike = None, end: DateLike = None, *, adjusted: bool = False,
                    english: Optional[bool] = None, on_page: Optional[Callable[[TrPage], Any]] = None,
                    cached: bool = False, lake: Any = None) -> pd.DataFrame:
        """Daily bars [start, end] (inclusive), oldest first; fetches only the pages the range needs.

        `adjusted=False` (the default, as KOAPY's `adjusted_price`) gives prices as traded; True
        gives 수정주가, earlier prices scaled across splits, bonus issues and other corporate events.
        `cached=True` reads final sessions from the history store in the lake (`lake`, default ./data),
        asking the broker only for what it lacks (prices as traded only).
        """
        if cached:
            return await self._cached_bars("opt10081", code, 0, start, end, adjusted, english, lake, on_page)
        return await self._dated_bars("opt10081", code, start, end, adjusted, english, on_page)

    async def weekly(self, code: str, start: DateLike = None, end: DateLike = None, *, adjusted: bool = False,
                     english: Optional[bool] = None, on_page: Optional[Callable[[TrPage], Any]] = None) -> pd.DataFrame:
        return await self._dated_bars("opt10082", code, start, end, adjusted, english, on_page)

    async def monthly(self, code: str, start: DateLike = None, end: DateLike = None, *, adjusted: bool = False,
                      english: Optional[bool] = None, on_page: Optional[Callable[[TrPage], Any]] = None) -> pd.DataFrame:
        return await self._dated_bars("opt10083", code, start, end, adjusted, english, on_page)

    async def minute(self, code: str, interval: int = 1, start: DateLike = None, end: DateLike = None, *,
                     adjusted: bool = False, english: Optional[bool] = None, max_pages: Optional[int] = None,
                     on_page: Optional[Callable[[TrPage], Any]] = None, cached: bool = False,
                     lake: Any = None) -> pd.DataFrame:
        """Minute bars of `interval` minutes; without `start` only the newest page unless max_pages says more.

        `cached=True` (needs `start`): final sessions from the history store, as `daily(cached=True)`."""
        if cached:
            return await self._cached_bars("opt10080", code, interval, start, end, adjusted, english, lake, on_page)
        return await self._timed_bars("opt10080", code, interval, start, end, adjusted, english, max_pages, on_page)

    async def tick(self, code: str, interval: int = 1, start: DateLike = None, end: DateLike = None, *,
                   adjusted: bool = False, english: Optional[bool] = None, max_pages: Optional[int] = None,
                   on_page: Optional[Callable[[TrPage], Any]] = None) -> pd.DataFrame:
        return await self._timed_bars("opt10079", code, interval, start, end, adjusted, english, max_pages, on_page)

    async def _dated_bars(self, tr_code: str, code: str, start: DateLike, end: DateLike, adjusted: bool,
                          english: Optional[bool], on_page: Optional[Callable[[TrPage], Any]]) -> pd.DataFrame:
        newest = frames.to_timestamp(end, end_of_day=True) if end is not None else None
        oldest = frames.to_timestamp(start)
        english = self.options.english if english is None else english
        builder = frames.BarsBuilder(tr_code, english, oldest, newest)  # each page's bars on arrival
        await self._dated_rows(tr_code, code, oldest, newest, adjusted, on_page, builder)
        return builder.bars()

    async def _dated_rows(self, tr_code: str, code: str, oldest: Optional[pd.Timestamp],
                          newest: Optional[pd.Timestamp], adjusted: bool,
                          on_page: Optional[Callable[[TrPage], Any]],
                          builder: Optional[frames.FrameBuilder] = None) -> List[Any]:
        inputs: Dict[str, Any] = {"종목코드": code, "기준일자": (newest or pd.Timestamp.now(frames.TZ)).strftime("%Y%m%d"),
                                  "수정주가구분": "1" if adjusted else "0"}
        if tr_code in ("opt10082", "opt10083"):
            inputs["끝일자"] = oldest.strftime("%Y%m%d") if oldest is not None else ""
        stop = {"field": "일자", "op": "<", "value": oldest.strftime("%Y%m%d")} if oldest is not None else None
        pages = await self._pages(tr_code, inputs, all_pages=True, stop=stop, on_page=on_page, builder=builder)
        return frames.rows_of(p.as_dict() for p in pages)[1]

    async def _timed_bars(self, tr_code: str, code: str, interval: int, start: DateLike, end: DateLike,
                          adjusted: bool, english: Optional[bool], max_pages: Optional[int],
                          on_page: Optional[Callable[[TrPage], Any]]) -> pd.DataFrame:
        oldest = frames.to_timestamp(start)
        newest = frames.to_timestamp(end, end_of_day=True)
        english = self.options.english if english is None else english
        builder = frames.BarsBuilder(tr_code, english, oldest, newest)
        await self._timed_rows(tr_code, code, interval, oldest, newest, adjusted, max_pages, on_page, builder)
        return builder.bars()

    async def _timed_rows(self, tr_code: str, code: str, interval: int, oldest: Optional[pd.Timestamp],
                          newest: Optional[pd.Timestamp], adjusted: bool, max_pages: Optional[int],
                          on_page: Optional[Callable[[TrPage], Any]],
                          builder: Optional[frames.FrameBuilder] = None) -> List[Any]:
        inputs = {"종목코드": code, "틱범위": str(int(interval)), "수정주가구분": "1" if adjusted else "0"}
        stop = ({"field": "체결시간", "op": "<", "value": oldest.strftime("%Y%m%d%H%M%S")}
                if oldest is not None else None)
        all_pages = oldest is not None or (max_pages is not None and max_pages > 1)
        pages = await self._pages(tr_code, inputs, all_pages=all_pages, max_pages=max_pages, stop=stop,
                                  on_page=on_page, builder=builder)
        return frames.rows_of(p.as_dict() for p in pages)[1]

    async def _cached_bars(self, tr_code: str, code: str, interval: int, start: DateLike, end: DateLike,
                           adjusted: bool, english: Optional[bool], lake: Any,
                           on_page: Optional[Callable[[TrPage], Any]]) -> pd.DataFrame:
        if adjusted:
            raise InvalidRequest("the history store keeps prices as traded: cached bars cannot be adjusted")
        from koabus.common.lake.history_sync import cached_bars  # pyarrow: only when asked

        return await cached_bars(self, tr_code, code, interval, start, end, english=english, lake=lake,
                                 on_page=on_page)

    async def deposit(self, account: Optional[str] = None, *, estimate: bool = False,
                      english: Optional[bool] = None) -> Dict[str, Any]:
        """opw00001 (예수금상세현황) single record."""
        account = await self._account(account)
        single, _ = await self.tr_frame("opw00001", {"계좌번호": account, "비밀번호": "", "비밀번호입력매체구분": "00",
                                                     "조회구분": "3" if estimate else "2"}, english=english)
        return single

    async def balance(self, account: Optional[str] = None, *, per_lot: bool = False,
                      english: Optional[bool] = None) -> Tuple[Dict[str, Any], pd.DataFrame]:
        """opw00018: (account totals, holdings DataFrame), every page."""
        account = await self._account(account)
        return await self.tr_frame("opw00018", {"계좌번호": account, "비밀번호": "", "비밀번호입력매체구분": "00",
                                                "조회구분": "2" if per_lot else "1"},
                                   all_pages=True, english=english)

    async def open_orders(self, account: Optional[str] = None, *, side: str = "0", status: str = "0",
                          code: Optional[str] = None, english: Optional[bool] = None) -> pd.DataFrame:
        """opt10075 미체결: side 0 all/1 sell/2 buy; status 0 all/1 unfilled/2 filled."""
        account = await self._account(account)
        _, frame = await self.tr_frame("opt10075", {"계좌번호": account, "전체종목구분": "1" if code else "0",
                                                    "매매구분": side, "종목코드": code or "", "체결구분": status},
                                       all_pages=True, english=english)
        return frame

    # ---- KOAPY-compatible names -----------------------------------------------------------------
    # Same names and arguments as KOAPY's entrypoint; values come back typed, bars oldest first.

    async def EnsureConnected(self) -> int:  # noqa: N802 - KOAPY name
        """0 once the control is logged in, else the Kiwoom error code."""
        try:
            if int(await self.call("GetConnectState") or 0) == 1:
                return 0
            await self.login()
        except KiwoomError as exc:
            return exc.code
        return 0

    async def GetCodeListByMarketAsList(self, market: Union[str, int, None] = None) -> List[str]:  # noqa: N802
        return await self.codes(market)

    async def GetNameListByMarketAsList(self, market: Union[str, int, None] = None) -> List[str]:  # noqa: N802
        return await self.names(await self.codes(market))

    async def GetStockBasicInfoAsDict(self, code: str, rqname: Any = None, scrno: Any = None) -> Dict[str, Any]:  # noqa: N802
        return await self.basic_info(code)

    async def _koapy_bars(self, method: Callable[..., Any], code: str, start_date: DateLike, end_date: DateLike,
                          include_end: bool, **kw: Any) -> pd.DataFrame:
        # KOAPY: start_date is the newest date wanted, end_date the oldest (exclusive unless include_end)
        oldest = end_date
        if end_date is not None and not include_end:
            stamp = frames.to_timestamp(end_date)
            oldest = stamp + (pd.Timedelta(days=1) if _is_date_only(end_date) else pd.Timedelta(seconds=1))
        return await method(code, start=oldest, end=start_date, **kw)

    async def GetDailyStockDataAsDataFrame(self, code: str, start_date: DateLike = None, end_date: DateLike = None,  # noqa: N802
                                           include_end: bool = False, adjusted_price: bool = False,
                                           rqname: Any = None, scrno: Any = None) -> pd.DataFrame:
        return await self._koapy_bars(self.daily, code, start_date, end_date, include_end, adjusted=adjusted_price)

    async def GetWeeklyStockDataAsDataFrame(self, code: str, start_date: DateLike = None, end_date: DateLike = None,  # noqa: N802
                                            include_end: bool = False, adjusted_price: bool = False,
                                            rqname: Any = None, scrno: Any = None) -> pd.DataFrame:
        return await self._koapy_bars(self.weekly, code, start_date, end_date, include_end, adjusted=adjusted_price)

    async def GetMonthlyStockDataAsDataFrame(self, code: str, start_date: DateLike = None, end_date: DateLike = None,  # noqa: N802
                                             include_end: bool = False, adjusted_price: bool = False,
                                             rqname: Any = None, scrno: Any = None) -> pd.DataFrame:
        return await self._koapy_bars(self.monthly, code, start_date, end_date, include_end, adjusted=adjusted_price)

    async def GetMinuteStockDataAsDataFrame(self, code: str, interval: int = 1, start_date: DateLike = None,  # noqa: N802
                                            end_date: DateLike = None, include_end: bool = False,
                                            adjusted_price: bool = False, rqname: Any = None,
                                            scrno: Any = None) -> pd.DataFrame:
        async def method(code: str, start: DateLike, end: DateLike, adjusted: bool) -> pd.DataFrame:
            return await self.minute(code, interval, start, end, adjusted=adjusted)
        return await self._koapy_bars(method, code, start_date, end_date, include_end, adjusted=adjusted_price)

    async def GetTickStockDataAsDataFrame(self, code: str, interval: int = 1, start_date: DateLike = None,  # noqa: N802
                                          end_date: DateLike = None, include_end: bool = False,
                                          adjusted_price: bool = False, rqname: Any = None,
                                          scrno: Any = None) -> pd.DataFrame:
        async def method(code: str, start: DateLike, end: DateLike, adjusted: bool) -> pd.DataFrame:
            return await self.tick(code, interval, start, end, adjusted=adjusted)
        return await self._koapy_bars(method, code, start_date, end_date, include_end, adjusted=adjusted_price)

    async def GetStockQuoteInfoAsDataFrame(self, codes: Union[str, Sequence[str], None] = None,  # noqa: N802
                                           rqname: Any = None, scrno: Any = None) -> pd.DataFrame:
        if codes is None:
            codes = await self.codes("0") + await self.codes("10")
        elif isinstance(codes, str):
            codes = [codes]
        return await self.kwfid(list(codes))

    async def GetDepositInfo(self, account_no: str, lookup_type: Optional[str] = None, with_multi: bool = False,  # noqa: N802
                             rqname: Any = None, scrno: Any = None) -> Any:
        single, multi = await self.tr_frame("opw00001", {"계좌번호": account_no, "비밀번호": "",
                                                         "비밀번호입력매체구분": "00",
                                                         "조회구분": lookup_type or "2"})
        series = pd.Series(single, dtype=object)
        return (series, multi) if with_multi else series

    async def GetAccountEvaluationBalanceAsSeriesAndDataFrame(self, account_no: str,  # noqa: N802
                                                              lookup_type: Optional[str] = None, rqname: Any = None,
                                                              scrno: Any = None) -> Tuple[pd.Series, pd.DataFrame]:
        single, multi = await self.tr_frame("opw00018", {"계좌번호": account_no, "비밀번호": "",
                                                         "비밀번호입력매체구분": "00",
                                                         "조회구분": str(lookup_type or "2")}, all_pages=True)
        return pd.Series(single, dtype=object), multi

    async def GetOrderLogAsDataFrame1(self, account_no: str, order_type: Optional[str] = None,  # noqa: N802
                                      status_type: Optional[str] = None, code: Optional[str] = None,
                                      rqname: Any = None, scrno: Any = None) -> pd.DataFrame:
        return await self.open_orders(account_no, side=order_type or "0", status=status_type or "0", code=code)

    async def GetCodeListByCondition(self, condition_name: str, condition_index: Optional[int] = None,  # noqa: N802
                                     with_info: bool = False, **_: Any) -> Any:
        codes = await self.condition_search(condition_name, condition_index)
        if with_info:
            return codes, (await self.kwfid(codes) if codes else pd.DataFrame())
        return codes

    async def GetCodeListByConditionAsStream(self, condition_name: str, condition_index: Optional[int] = None,  # noqa: N802
                                             with_info: bool = False, **_: Any) -> AsyncIterator[Tuple[List[str], List[str]]]:
        """(inserted, deleted) code lists: the search result first, then realtime changes."""
        stream = await self.condition_stream(condition_name, condition_index)
        return _koapy_condition_pairs(stream)

    def WatchRealDataForCodesAsStream(self, codes: Union[str, Sequence[str]], fids: Optional[Sequence[int]] = None,  # noqa: N802
                                      realtype: Optional[str] = None, **_: Any) -> TopicStream:
        types = [realtype] if realtype and realtype not in ("0", "1") else ["trade"]
        return self.realtime(codes, types, fids=fids)

    async def OrderCall(self, rqname: str, scrno: str, account: str, order_type: int, code: str,  # noqa: N802
                        quantity: int, price: int, quote_type: str,
                        original_order_no: Optional[str] = None) -> AsyncIterator[Dict[str, Any]]:
        """order_type 1/2 new buy/sell, 3/4 cancel, 5/6 modify; yields the order's events.

        As KOAPY users write it: quote_type "03" (or another type without a price) is a market-type
        order and its price is sent as 0; "00" is a limit order and needs a positive price."""
        order_type = int(order_type)
        if order_type in (1, 5, 2, 6):
            hoga, price = order_price(int(price or 0), quote_type or HOGA_LIMIT, drop_price=True)
        if order_type in (1, 2):
            handle = await self.order(account, "buy" if order_type == 1 else "sell", code, int(quantity),
                                      price, hoga=hoga)
            return handle.events()
        if order_type in (3, 4):
            result = await self.cancel_order(account, order_no=original_order_no, qty=int(quantity or 0), code=code)
        elif order_type in (5, 6):
            result = await self.modify_order(account, order_no=original_order_no, qty=int(quantity),
                                             price=price, hoga=hoga, code=code)
        else:
            raise InvalidRequest(f"order_type must be 1-6, not {order_type}")
        return _aiter_list(result.get("events") or [result])

    async def GetAccountList(self) -> List[str]:  # noqa: N802
        return await self.accounts()

    async def IsSimulationServer(self) -> bool:  # noqa: N802
        return await self.is_simulation()


# ---- helpers ---------------------------------------------------------------------------------------

def _split(text: Any) -> List[str]:
    if isinstance(text, list):
        return [str(x) for x in text if str(x)]
    return [x for x in str(text or "").strip().split(";") if x]


def _is_date_only(value: Any) -> bool:
    if isinstance(value, datetime) or isinstance(value, pd.Timestamp):
        return False
    if isinstance(value, date):
        return True
    text = str(value).strip()
    return len(text) in (8, 10)


def _order_key(order_no: Optional[str], client_order_id: Optional[str]) -> Dict[str, Any]:
    if order_no:
        return {"order_no": str(order_no)}
    if client_order_id:
        return {"client_order_id": str(client_order_id)}
    raise InvalidRequest("give order_no or client_order_id")


def _condition_pairs(result: Any) -> List[Tuple[int, str]]:
    items = result.get("conditions", result) if isinstance(result, dict) else result
    if isinstance(items, str):
        items = [x.split("^", 1) for x in items.split(";") if "^" in x]
    pairs: List[Tuple[int, str]] = []
    for item in items or []:
        if isinstance(item, dict):
            pairs.append((int(item.get("index", 0)), str(item.get("name", ""))))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            pairs.append((int(item[0]), str(item[1])))
    return pairs


async def _koapy_condition_pairs(stream: ConditionStream) -> AsyncIterator[Tuple[List[str], List[str]]]:
    try:
        async for event in stream:
            assert isinstance(event, ConditionEvent)
            yield list(event.inserted), list(event.deleted)
    finally:
        await stream.close()


async def _aiter_list(items: List[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def default_start(years: int = 1) -> date:
    return frames.today_kst() - timedelta(days=365 * years)
