"""World: the one adapter between the simulated control and the simulated market (`sim/market/`).

Every read of prices, trades, books, bars, phases, accounts and conditions goes through here, so
the control's services speak in Kiwoom terms (codes, epoch seconds, KRW ints) and the market's
API is touched in one place. The market is built lazily on first use.

With a store (`SimConfig.state_dir`, `store.py`) the exchange is the simulated server's persistent
state: every order input is written to the store before SendOrder returns, and a new World rebuilds
the exchange by replaying the stored inputs through a fresh one (market and exchange are
deterministic), then advances it to the resumed clock with the events of the downtime discarded.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Optional, Sequence, Tuple

from koabus.common.clock import KST, Clock

from . import formats as fmt
from .config import SimConfig
from .fidvalues import InstrumentInfo
from .market.calendar import KrxCalendar, Phase
from .market.listing import Listing
from .store import ACTIONS, ClockAnchor, InputRecord, StoreMismatch, StoreWriter

log = logging.getLogger(__name__)

# FID 215 장운영구분 by market phase (facts §10.2).
_STATUS_BY_PHASE = {
    Phase.PRE_MARKET: "0",
    Phase.PRE_OPEN_AUCTION: "0",
    Phase.CONTINUOUS: "3",
    Phase.CLOSING_AUCTION: "2",
    Phase.POST_CLOSE: "4",
    Phase.AFTER_HOURS_CLOSE: "a",
    Phase.AFTER_HOURS_SINGLE: "b",
}


@dataclass(frozen=True)
class OrderTicket:
    """An order as the client sent it through SendOrder/SendOrderCredit."""

    rq_name: str
    screen: str
    account: str
    order_type: int  # 1 buy, 2 sell, 3 cancel buy, 4 cancel sell, 5 modify buy, 6 modify sell
    code: str
    qty: int
    price: int
    hoga: str
    org_order_no: str
    credit: str
    tr_name: str
    t: float


@dataclass(frozen=True)
class Position:
    """One holding in Kiwoom terms (KRW ints)."""

    code: str
    qty: int
    avg_price: int
    cost: int
    orderable: int
    today_buy: int = 0
    today_sell: int = 0
    today_net: int = 0
    realized_today: int = 0


@dataclass(frozen=True)
class OrderEvent:
    """A change the exchange reports: an order update (kind accepted/filled/confirmed/updated, with
    `status` the 913 text) or a balance change (kind "balance", with `position`)."""

    kind: str
    t: float
    account: str
    code: str
    order_no: int = 0
    org_order_no: int = 0
    order_type: int = 1
    side: str = "2"
    hoga: str = "00"
    status: str = ""
    qty: int = 0
    price: int = 0
    unfilled: int = 0
    filled_qty: int = 0
    filled_amount: int = 0
    fill_no: str = ""
    fill_price: int = 0
    fill_qty: int = 0
    commission: int = 0
    tax: int = 0
    screen: str = ""
    position: Optional[Position] = None


@dataclass(frozen=True)
class SubmitResult:
    """What the exchange answered to a submission: rejected with the server's message, or an order
    number and the events it produced at once."""

    rejected: bool
    message: str = ""
    order_no: int = 0
    events: Tuple[OrderEvent, ...] = ()


@dataclass(frozen=True)
class Cash:
    deposit: int
    orderable: int
    withdrawable: int
    d1: int
    d2: int


@dataclass(frozen=True)
class OrderView:
    """An order as the account TRs list it."""

    order_no: int
    org_order_no: int
    code: str
    side: str
    order_type: int
    hoga: str
    status: str
    qty: int
    price: int
    unfilled: int
    filled_qty: int
    filled_amount: int
    last_fill_no: str
    last_fill_price: int
    last_fill_qty: int
    commission: int
    tax: int
    t: float


def replay_start(now: Optional[datetime] = None, calendar: Optional[KrxCalendar] = None) -> datetime:
    """Where "replay" mode starts: now when the real market is in its regular session, otherwise
    09:00 KST of the most recent session that has started (a live-looking session at any hour)."""
    calendar = calendar or KrxCalendar()
    now = (now or datetime.now(KST)).astimezone(KST)
    times = calendar.session_times(now.date())
    if times is not None and times.open <= now < times.close:
        return now
    day = now.date()
    if times is None or now < times.open:
        day = calendar.previous_session(day)
    else:
        day = times.day
    session = calendar.session_times(day)
    return session.open if session is not None else now


class World:
    """Market access in Kiwoom terms for one simulated control."""

    def __init__(self, config: SimConfig, clock: Clock, store: Optional[StoreWriter] = None,
                 replay: Sequence[InputRecord] = ()):
        """`store` receives every order input; `replay` (the store's inputs) rebuilds the exchange."""
        self._config = config
        self._clock = clock
        self._store = store
        self._replay: Tuple[InputRecord, ...] = tuple(replay)
        #: order number -> ticket of the replayed orders (their screens for later chejan)
        self.restored_tickets: Dict[str, OrderTicket] = {}
        self.calendar = KrxCalendar()
        self.listing = Listing.default(config.extra_listings)
        self._market: Any = None
        self._exchange: Any = None
        self._conditions: Any = None
        self._infos: Dict[Tuple[str, date], InstrumentInfo] = {}
        self._stock_codes: Optional[Tuple[str, ...]] = None

    # -- lazily built market -------------------------------------------------------------------
    @property
    def market(self) -> Any:
        if self._market is None:
            self._build()
        return self._market

    @property
    def exchange(self) -> Any:
        if self._exchange is None:
            self._exchange = self._build_exchange()
        return self._exchange

    def _build_exchange(self) -> Any:
        exchange = build_exchange(self._config, self.market)
        if self._replay:
            self.restored_tickets = replay_inputs(exchange, self._replay)
            exchange.advance(self._clock.time())  # the downtime's events are never delivered
        return exchange

    @property
    def accounts(self) -> Any:
        return self.exchange.accounts

    def restore(self) -> Dict[str, OrderTicket]:
        """Build the exchange now (replaying the stored inputs); order number -> replayed ticket."""
        if self._exchange is None:
            self._exchange = self._build_exchange()
        return dict(self.restored_tickets)

    def _build(self) -> None:
        from .market import Market, MarketConfig  # noqa: PLC0415 (heavy: numpy paths)

        market_config = self._config.market_config
        if market_config is None:
            market_config = MarketConfig(seed=self._config.seed)
        cadence_bytes = 0
        if self._config.extra_listings:
            market_config, cadence_bytes = self._caches_for_listing(market_config)
        self._market = Market(clock=self._clock, listing=self.listing, config=market_config,
                              cadence_cache_bytes=cadence_bytes)

    def _caches_for_listing(self, market_config: Any) -> Tuple[Any, int]:
        """The market's cache bounds grown with an extended listing (never shrunk), and its cadence byte bound:
        two days of every listed code's path and cadence, and the print and cadence byte bounds scaled by the
        listing's size over the real one's, so streaming every code does not evict and rebuild paths and
        cadences every step (2,500 codes did: ~2 ms of rebuilds per event)."""
        from .market.listing import Listing  # noqa: PLC0415
        from .market.market import CADENCE_CACHE_BYTES  # noqa: PLC0415

        listed = len(self.listing.codes()) + len(self.listing.indices())
        real = Listing.default()
        factor = listed / (len(real.codes()) + len(real.indices()))
        scaled = replace(market_config, path_cache_days=max(market_config.path_cache_days, 2 * listed),
                         path_cache_prints=max(market_config.path_cache_prints,
                                               int(market_config.path_cache_prints * factor)))
        return scaled, max(CADENCE_CACHE_BYTES, int(CADENCE_CACHE_BYTES * factor))

    @property
    def exchange_started(self) -> bool:
        return self._exchange is not None

    # -- instruments ---------------------------------------------------------------------------
    def is_index(self, code: str) -> bool:
        inst = self.listing.get(code)
        return inst is not None and inst.is_index

    def is_stock(self, code: str) -> bool:
        inst = self.listing.get(code)
        return inst is not None and not inst.is_index

    def instrument(self, code: str) -> Any:
        return self.listing.get(code)

    # -- sessions and phases -------------------------------------------------------------------
    def session_key(self, t: float) -> date:
        return self.calendar.session_date(t)

    def session_times(self, t: float):
        return self.calendar.session_times(self.calendar.session_date(t))

    def session_start(self, t: float) -> float:
        """Start of the trading day `t` belongs to (trades before it belong to the previous day)."""
        times = self.session_times(t)
        return times.t("pre_market") if times is not None else t

    def status_code(self, t: float) -> str:
        phase = self.calendar.phase(t)
        if phase == Phase.CLOSED:
            times = self.calendar.session_times(datetime.fromtimestamp(t, KST).date())
            return "9" if times is not None and t >= times.close_t else "0"
        return _STATUS_BY_PHASE.get(phase, "0")

    def status_schedule(self, times: Any) -> List[Tuple[float, str]]:
        """장시작시간 (FID 215) values of one session in time order (facts §10.2): "0" at 08:00 and
        08:30 and every minute 08:40-08:59, "3" at the open, "2" at 15:20 and every minute to
        15:29, "4" at the close, "a"/"b" when after-hours closing-price trading starts/ends, "8"
        30 minutes after the close, "9" at the end of the day (18:00)."""
        schedule = [(times.t("pre_market"), "0"), (times.t("pre_open_auction"), "0")]
        schedule += [(times.open_t - m * 60.0, "0") for m in range(20, 0, -1)]
        schedule.append((times.open_t, "3"))
        schedule += [(times.t("closing_auction") + m * 60.0, "2") for m in range(10)]
        schedule += [(times.close_t, "4"), (times.t("after_hours_close_start"), "a"),
                     (times.t("after_hours_close_end"), "b"), (times.close_t + 30 * 60.0, "8"),
                     (times.day_end_t, "9")]
        schedule.sort(key=lambda x: x[0])  # stable: "b" stays before "8" at 16:00
        return schedule

    def status_changes(self, t0: float, t1: float, last: Optional[str] = None) -> List[Tuple[float, List[str]]]:
        """장시작시간 events in (t0, t1] as (t, [215, 20, 214]); 214 is the time left to the open
        (HHMMSS) while the status is "0", else "000000". `last` is accepted for compatibility."""
        out: List[Tuple[float, List[str]]] = []
        first = self.calendar.session_on_or_after(datetime.fromtimestamp(t0, KST).date())
        for day in self.calendar.sessions_between(first, self.calendar.session_date(t1)):
            times = self.calendar.session_times(day)
            if times is None:
                continue
            for t, code in self.status_schedule(times):
                if not t0 < t <= t1:
                    continue
                remaining = max(0, int(times.open_t - t)) if code == "0" else 0
                left = f"{remaining // 3600:02d}{remaining % 3600 // 60:02d}{remaining % 60:02d}"
                out.append((t, [code, fmt.hhmmss(datetime.fromtimestamp(t, KST)), left]))
        return out

    # -- prices --------------------------------------------------------------------------------
    def instrument_info(self, code: str, t: float) -> InstrumentInfo:
        day = self.session_key(t)
        key = (code, day)
        info = self._infos.get(key)
        if info is None:
            inst = self.listing.get(code)
            ref = self.reference_price(code, t)
            upper, lower = self.limits(code, t)
            prev_volume, prev_value = self.previous_day_volume(code, t)
            info = InstrumentInfo(code, ref, upper, lower, inst.shares if inst else 0, prev_volume, prev_value)
            self._infos[key] = info
        return info

    def reference_price(self, code: str, t: float) -> int:
        return int(self.market.reference_price(code, self.session_key(t)))

    def limits(self, code: str, t: float) -> Tuple[int, int]:
        return self.market.limits(code, self.session_key(t))

    def parse_day(self, text: str, t: float) -> date:
        """A YYYYMMDD input; blank or invalid means the current session."""
        text = (text or "").strip()
        if len(text) == 8 and text.isdigit():
            try:
                return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
            except ValueError:
                pass
        return self.session_key(t)

    def daily_bars(self, code: str, end: date, count: int, adjusted: bool) -> List[Any]:
        return self.market.daily_bars(code, end, count, adjusted)

    def period_bars(self, code: str, period: str, end: date, count: int, adjusted: bool) -> List[Any]:
        return self.market.period_bars(code, period, end, count, adjusted)

    def minute_bars(self, code: str, interval: int, end_t: float, count: int) -> List[Any]:
        return self.market.minute_bars(code, interval, end_t, count)

    def tick_bars(self, code: str, size: int, end_t: float, count: int) -> List[Any]:
        return self.market.tick_bars(code, size, end_t, count)

    def index_daily_bars(self, code: str, end: date, count: int) -> List[Any]:
        return self.market.index_daily_bars(code, end, count)

    def index_quote(self, code: str, t: float) -> Any:
        return self.market.index_quote(code, t)

    @staticmethod
    def index_level(value: int, ref: int) -> str:
        """An x100 index level as the control prints it: '2650.12', signed vs the reference."""
        text = f"{abs(int(value)) / 100:.2f}"
        if value == ref or value == 0:
            return text
        return ("+" if value > ref else "-") + text

    def snapshot_prices(self, code: str, t: float) -> Tuple[int, int, int]:
        """(last, best ask, best bid) at t."""
        q = self.market.quote(code, t)
        return int(q.last), int(q.ask1), int(q.bid1)

    def previous_day_volume(self, code: str, t: float) -> Tuple[int, int]:
        day = self.session_key(t)
        prev = self.calendar.previous_session(day)
        bar = self.market.daily_bar(code, prev)
        if bar is None:
            return 0, 0
        return int(bar.volume), int(bar.value)

    def trades(self, code: str, t0: float, t1: float) -> List[Tuple[float, int, int, bool]]:
        """Trades in (t0, t1] as (t, price, signed qty: + buy-initiated, regular session?)."""
        return [(tr.t, int(tr.price), int(tr.qty), tr.is_regular)
                for tr in self.market.trades_between(code, t0, t1)]

    def best(self, code: str, t: float) -> Tuple[int, int]:
        return self.market.best(code, t)

    def expected(self, code: str, t: float) -> Tuple[int, int]:
        """(예상체결가, 예상체결수량) during the auctions, (0, 0) otherwise."""
        return self.market.expected(code, t)

    def book_refreshes(self, code: str, t0: float, t1: float,
                       changes_only: bool = False) -> List[Tuple[float, int, int, int, int]]:
        """Book changes between prints in (t0, t1]: (t, best ask, best bid, expected price, qty)."""
        return self.market.book_refreshes(code, t0, t1, changes_only)

    def vi_between(self, code: str, t0: float, t1: float) -> List[Tuple[float, bool, Any]]:
        """VI triggers/releases in (t0, t1]: (t, released?, market ViEvent)."""
        return self.market.vi_between(code, t0, t1)

    def stock_codes(self) -> List[str]:
        """The listing's stocks (no ETFs, no indices), in listing order; computed once."""
        if self._stock_codes is None:
            self._stock_codes = tuple(i.code for i in self.listing.instruments() if i.kind == "stock")
        return list(self._stock_codes)

    def book_object(self, code: str, t: float) -> Any:
        return self.market.book(code, t)

    def book(self, code: str, t: float) -> Tuple[Sequence[Tuple[int, int]], Sequence[Tuple[int, int]]]:
        b = self.market.book(code, t)
        return list(b.asks), list(b.bids)

    def quote(self, code: str, t: float) -> Any:
        return self.market.quote(code, t)

    def last_price(self, code: str, t: float) -> int:
        return int(self.market.quote(code, t).last)

    def index_values(self, code: str, t: float, fids: Sequence[int]) -> Optional[List[str]]:
        """업종지수 values (index x100 levels rendered with two decimals, signed vs the reference)."""
        q = self.market.index_quote(code, t)
        if q is None:
            return None
        ref = int(q.ref)

        def level(v: int) -> str:
            return self.index_level(v, ref)

        last = int(q.last)
        values = {
            20: fmt.hhmmss(datetime.fromtimestamp(t, KST)),
            10: level(last),
            11: fmt.rate((last - ref) / 100.0),
            12: fmt.rate(fmt.change_rate(last, ref)),
            15: fmt.signed(int(getattr(q, "last_qty", 0) or 0)),
            13: str(int(getattr(q, "volume", 0) or 0)),
            14: str(int(getattr(q, "value", 0) or 0) // 1_000_000),
            16: level(int(q.open)),
            17: level(int(q.high)),
            18: level(int(q.low)),
            25: fmt.sign_code(last, ref),
            26: "0",
        }
        return [values.get(f, "") for f in fids]

    # -- orders --------------------------------------------------------------------------------
    def submit(self, ticket: OrderTicket) -> SubmitResult:
        """Hand a SendOrder to the exchange; returns the rejection or the order number and events.

        With a store, the input and its result are on disk when this returns (an OSError if the
        write failed: the exchange has the order but a restart will not).
        """
        ex = self.exchange
        result = send_to_exchange(ex, ticket)
        if self._store is not None:
            self._store.append(input_record(ticket, result, self._store.next_seq,
                                            self.session_key(ticket.t).isoformat()))
            self.save_anchor(force=True)
        if not result.ok:
            return SubmitResult(True, result.message)
        return SubmitResult(False, result.message, int(result.order_no),
                            tuple(self._convert(result.events, ticket.screen)))

    def advance_exchange(self, t: float) -> List[OrderEvent]:
        return self._convert(self.exchange.advance(t), "")

    def _convert(self, events: Sequence[Any], screen: str) -> List[OrderEvent]:
        out: List[OrderEvent] = []
        last_side = "2"
        for ev in events:
            if hasattr(ev, "position") and hasattr(ev, "deposit"):  # a BalanceChange
                pos = _position(ev.position) if ev.position is not None else Position(ev.code, 0, 0, 0, 0)
                out.append(OrderEvent("balance", ev.t, ev.account, ev.code, side=last_side, position=pos,
                                      screen=screen))
                continue
            if ev.kind == "rejected" or ev.order is None:
                continue
            order = ev.order
            last_side = "2" if order.side == "buy" else "1"
            views = [(order, _STATUS_BY_KIND.get(ev.kind, "접수"))]
            if ev.kind == "confirmed" and ev.orig is not None:
                views.append((ev.orig, "확인"))
            for snap, status in views:
                fill = ev.fill if snap is order else None
                out.append(OrderEvent(
                    kind=ev.kind, t=ev.t, account=ev.account, code=snap.code, order_no=int(snap.order_no),
                    org_order_no=int(snap.orig_order_no or 0), order_type=_order_type(snap),
                    side="2" if snap.side == "buy" else "1", hoga=snap.hoga, status=status, qty=snap.qty,
                    price=snap.price, unfilled=snap.remaining, filled_qty=snap.filled_qty,
                    filled_amount=snap.filled_value, fill_no=fill.fill_no if fill else "",
                    fill_price=fill.price if fill else 0, fill_qty=fill.qty if fill else 0,
                    commission=snap.fee, tax=snap.tax, screen=screen))
        return out

    def orders(self, account: str, t: float) -> List[OrderView]:
        day = self.session_key(t)
        last_fill: Dict[str, Any] = {}
        for fill in self.exchange.fills(account, day):
            last_fill[fill.order_no] = fill
        views = []
        for o in self.exchange.orders(account, day):
            fill = last_fill.get(o.order_no)
            views.append(OrderView(
                order_no=int(o.order_no), org_order_no=int(o.orig_order_no or 0), code=o.code,
                side="2" if o.side == "buy" else "1", order_type=_order_type(o), hoga=o.hoga,
                status=_STATUS_BY_ORDER.get(o.status, "접수"), qty=o.qty, price=o.price, unfilled=o.remaining,
                filled_qty=o.filled_qty, filled_amount=o.filled_value,
                last_fill_no=fill.fill_no if fill else "", last_fill_price=fill.price if fill else 0,
                last_fill_qty=fill.qty if fill else 0, commission=o.fee, tax=o.tax, t=o.t))
        return views

    # -- the store's clock anchor --------------------------------------------------------------
    def save_anchor(self, force: bool = False) -> None:
        """Rewrite the store's clock anchor (about once a wall second, or now when forced)."""
        store = self._store
        if store is None or store.closed:
            return
        wall = time.time()
        if not force and not store.anchor_due(wall):
            return
        now = self._clock.time()
        try:
            store.write_anchor(ClockAnchor(virtual_t=now, wall_t=wall, speed=float(self._clock.speed),
                                           seed=self._config.seed,
                                           trading_day=self.session_key(now).isoformat(), pid=os.getpid()))
        except OSError as exc:  # the input log is what counts; the anchor only carries time forward
            log.warning("could not write the simulator's clock anchor: %s", exc)

    # -- accounts ------------------------------------------------------------------------------
    def has_account(self, number: str) -> bool:
        return number in {a.number for a in self._config.accounts}

    def cash(self, account: str, t: float) -> Cash:
        d = self.accounts.deposit(account, self.session_key(t))
        return Cash(deposit=d.cash, orderable=d.orderable, withdrawable=d.withdrawable, d1=d.d1, d2=d.d2)

    def positions(self, account: str, t: float) -> List[Position]:
        return [_position(p) for p in self.accounts.positions(account, self.session_key(t))]

    def position(self, account: str, code: str, t: float) -> Position:
        p = self.accounts.position(account, code, self.session_key(t))
        return _position(p) if p is not None else Position(code, 0, 0, 0, 0)

    # -- conditions ----------------------------------------------------------------------------
    @property
    def condition_engine(self) -> Any:
        if self._conditions is None:
            from .market.conditions import Conditions  # noqa: PLC0415

            self._conditions = Conditions(self.market, self._config.conditions)
        return self._conditions

    def conditions(self) -> List[Tuple[int, str]]:
        return [(int(i), str(n)) for i, n in self.condition_engine.conditions()]

    def evaluate_condition(self, index: int, t: float) -> List[str]:
        return list(self.condition_engine.evaluate(index, t))


def next_session_open(calendar: KrxCalendar, t: float) -> float:
    day = datetime.fromtimestamp(t, KST).date()
    times = calendar.session_times(day)
    if times is not None and t < times.open_t:
        return times.open_t
    nxt = calendar.next_session(day + timedelta(days=0))
    return calendar.session_times(nxt).open_t


_STATUS_BY_KIND = {"accepted": "접수", "filled": "체결", "confirmed": "확인"}
_STATUS_BY_ORDER = {"accepted": "접수", "partial": "체결", "filled": "체결", "cancelled": "확인",
                    "modified": "확인", "confirmed": "확인", "expired": "접수"}


def _order_type(order: Any) -> int:
    buy = order.side == "buy"
    if order.action == "cancel":
        return 3 if buy else 4
    if order.action == "modify":
        return 5 if buy else 6
    return 1 if buy else 2


def _position(p: Any) -> Position:
    return Position(code=p.code, qty=p.qty, avg_price=p.avg_price, cost=p.cost, orderable=p.orderable_qty,
                    today_buy=p.today_buy_qty, today_sell=p.today_sell_qty, today_net=p.today_net_buy_qty,
                    realized_today=p.realized_pnl_today)


def send_to_exchange(ex: Any, ticket: OrderTicket) -> Any:
    """The exchange call a SendOrder ticket makes (live and on replay alike)."""
    side = "buy" if ticket.order_type in (1, 3, 5) else "sell"
    if ticket.order_type in (1, 2):
        return ex.submit(ticket.account, side, ticket.code, ticket.qty, ticket.price, ticket.hoga, ticket.t)
    if ticket.order_type in (3, 4):
        return ex.cancel(ticket.account, ticket.org_order_no.zfill(7), ticket.qty, ticket.t)
    return ex.modify(ticket.account, ticket.org_order_no.zfill(7), ticket.qty, ticket.price, ticket.hoga,
                     ticket.t)


def input_record(ticket: OrderTicket, result: Any, seq: int, day: str) -> InputRecord:
    action, side = ACTIONS.get(ticket.order_type, ("new", "buy"))
    return InputRecord(
        seq=seq, t=float(ticket.t), day=day, order_type=ticket.order_type, action=action, side=side,
        account=ticket.account, code=ticket.code, qty=int(ticket.qty), price=int(ticket.price),
        hoga=ticket.hoga, org_order_no=ticket.org_order_no, credit=ticket.credit, screen=ticket.screen,
        rq_name=ticket.rq_name, tr_name=ticket.tr_name, accepted=bool(result.ok),
        order_no=str(result.order_no) if result.ok else "", message=result.message, wall=time.time())


def ticket_of(record: InputRecord) -> OrderTicket:
    return OrderTicket(rq_name=record.rq_name, screen=record.screen, account=record.account,
                       order_type=record.order_type, code=record.code, qty=record.qty, price=record.price,
                       hoga=record.hoga, org_order_no=record.org_order_no, credit=record.credit,
                       tr_name=record.tr_name, t=record.t)


def replay_inputs(ex: Any, records: Sequence[InputRecord]) -> Dict[str, OrderTicket]:
    """Feed stored inputs through a fresh exchange in order; each must come out as it did (same
    acceptance, same order number), else StoreMismatch. Returns order number -> ticket."""
    tickets: Dict[str, OrderTicket] = {}
    for record in records:
        ticket = ticket_of(record)
        result = send_to_exchange(ex, ticket)
        order_no = str(result.order_no) if result.ok else ""
        if bool(result.ok) != record.accepted or order_no != record.order_no:
            raise StoreMismatch(
                f"stored input {record.seq} ({record.action} {record.side} {record.code} x{record.qty} at "
                f"{record.t}) was {'order ' + record.order_no if record.accepted else 'rejected'} and now "
                f"replays as {'order ' + order_no if result.ok else 'rejected: ' + result.message}; the "
                "simulator changed since the state was written. Clear it with `koabus sim reset`",
                details={"seq": record.seq})
        if result.ok:
            tickets[order_no] = ticket
    return tickets


def build_exchange(config: SimConfig, market: Any) -> Any:
    """The simulated exchange with the configured accounts (None until the market provides one)."""
    from .market.accounts import Accounts  # noqa: PLC0415
    from .market.config import ExchangeConfig  # noqa: PLC0415
    from .market.exchange import Exchange  # noqa: PLC0415

    exchange_config = ExchangeConfig(accounts=tuple(a.number for a in config.accounts),
                                     initial_deposit=config.accounts[0].deposit,
                                     deposits=tuple((a.number, int(a.deposit)) for a in config.accounts))
    accounts = Accounts.from_config(exchange_config, market.calendar)
    return Exchange(market, accounts, exchange_config)
