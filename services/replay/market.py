"""RecordedMarket: the simulated market's interface answered from a recorded day instead of the model.

The simulator's exchange (matching, accounts, fees) and TR responders read the market through a
small set of calls: the calendar and listing, the reference price and limits, prints between two
instants, the book and the quote at an instant, daily and minute bars. Here prints, books and quotes
come from the recorded rows (trades -> `Trade`, 주식호가잔량/주식우선호가 -> `Book`), bars from the
lake's history store when it has them; nothing falls back to the model, so what a client sees during
a replay is recorded data or nothing. Codes must be in the simulator's listing to be traded (its
instruments carry the tick grid and kind the exchange checks orders against).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from koabus.common.clock import Clock
from koabus.common.errors import NotFound
from koabus.services.sim.market import ticks
from koabus.services.sim.market.calendar import KrxCalendar, Phase, SessionTimes
from koabus.services.sim.market.listing import Instrument, Listing
from koabus.services.sim.market.models import (
    AFTER_HOURS_SINGLE,
    CLOSE_AUCTION,
    CONTINUOUS,
    OPEN_AUCTION,
    PRE_MARKET_CLOSE,
    Book,
    DailyBar,
    IntradayBar,
    Quote,
    Trade,
    TradingState,
)

from .day import RecordedDay, RecordedRow
from .history import HistoryStore

Instant = Union[None, float, datetime]
_EMPTY_LEVELS = tuple((0, 0) for _ in range(10))
_SIGNS = {"1": 1, "2": 2, "3": 3, "4": 4, "5": 5}


class RecordedMarket:
    """Prints, books, quotes and bars of one recorded day (plus the lake's history)."""

    def __init__(self, day: RecordedDay, clock: Clock, listing: Listing, history: Optional[HistoryStore] = None):
        self.recorded = day
        self.clock = clock
        self.listing = RecordedListing(listing, day.refs)
        self.calendar = KrxCalendar()
        self.history_store = history or HistoryStore(None)
        self._trades: Dict[str, List[Trade]] = {}
        table = day.table("trade")
        if table is not None:
            fields = [table.column(n) for n in ("current_price", "volume", "cum_volume", "cum_trade_value", "session")]
            for i, (code, values) in enumerate(zip(table.codes, zip(*fields))):
                if values[0]:
                    self._trades.setdefault(code, []).append(trade_of(table.times[i], *values, self.calendar))
        self._trade_t = {code: [t.t for t in trades] for code, trades in self._trades.items()}

    # -- time ---------------------------------------------------------------------------------
    def _ts(self, t: Instant) -> float:
        if t is None:
            return self.clock.time()
        if isinstance(t, datetime):
            return t.timestamp()
        return float(t)

    def phase(self, t: Instant = None) -> Phase:
        return self.calendar.phase(self._ts(t))

    def session_date(self, t: Instant = None) -> date:
        return self.calendar.session_date(self._ts(t))

    def session_times(self, day: date) -> Optional[SessionTimes]:
        return self.calendar.session_times(day)

    # -- instruments, reference, limits --------------------------------------------------------
    def instrument(self, code: str) -> Instrument:
        inst = self.listing.get(code)
        if inst is None:
            raise NotFound(f"unknown code {code!r}")
        return inst

    def reference_price(self, code: str, day: Optional[date] = None) -> int:
        """기준가 as the recorded trades give it (price - change); NotFound without a recorded trade."""
        ref = self.recorded.refs.get(code)
        if ref is None:
            raise NotFound(f"no recorded trade of {code} on {self.recorded.day}")
        return ref

    def limits(self, code: str, day: Optional[date] = None) -> Tuple[int, int]:
        return ticks.limits(self.reference_price(code, day), self.instrument(code).kind)

    # -- prints, books, quotes -----------------------------------------------------------------
    def trades_between(self, code: str, t0: Instant, t1: Instant) -> List[Trade]:
        """Recorded prints with t0 < t <= t1 (t: the recorded receive time), in recorded order."""
        import bisect  # noqa: PLC0415

        a, b = self._ts(t0), self._ts(t1)
        times = self._trade_t.get(code)
        if not times or b <= a:
            return []
        return self._trades[code][bisect.bisect_right(times, a):bisect.bisect_right(times, b)]

    def book(self, code: str, t: Instant = None) -> Book:
        """The last recorded 주식호가잔량 at t, else the last best quotes (without sizes), else empty."""
        ts = self._ts(t)
        row = self.recorded.last_row(code, "book", ts)
        if row is not None:
            v = row.values
            asks = tuple((int(v.get(f"ask_price_{i}") or 0), int(v.get(f"ask_qty_{i}") or 0)) for i in range(1, 11))
            bids = tuple((int(v.get(f"bid_price_{i}") or 0), int(v.get(f"bid_qty_{i}") or 0)) for i in range(1, 11))
            return Book(code, ts, asks, bids, sum(q for _, q in asks), sum(q for _, q in bids))
        ask, bid = self.best(code, ts)
        asks = ((ask, 0),) + _EMPTY_LEVELS[1:]
        bids = ((bid, 0),) + _EMPTY_LEVELS[1:]
        return Book(code, ts, asks, bids, 0, 0)

    def best(self, code: str, t: Instant = None) -> Tuple[int, int]:
        """(best ask, best bid): the latest of the recorded 주식우선호가, book and trade rows at t."""
        ts = self._ts(t)
        latest: Optional[RecordedRow] = None
        for slug in ("best", "trade", "book"):  # at one instant the book is the latest word
            row = self.recorded.last_row(code, slug, ts)
            if row is not None and (latest is None or row.t >= latest.t):
                latest = row
        if latest is None:
            return 0, 0
        v = latest.values
        if latest.slug == "book":
            return int(v.get("ask_price_1") or 0), int(v.get("bid_price_1") or 0)
        return int(v.get("ask") or 0), int(v.get("bid") or 0)

    def index_quote(self, code: str, t: Instant = None) -> Any:
        return None

    def expected(self, code: str, t: Instant = None) -> Tuple[int, int]:
        return 0, 0

    def book_refreshes(self, code: str, t0: Instant, t1: Instant, changes_only: bool = False) -> list:
        return []

    def vi_between(self, code: str, t0: Instant, t1: Instant) -> list:
        return []

    def trading_state(self, code: str, t: Instant = None) -> TradingState:
        """The last recorded regular print at t (the exchange fills a mock-server market order at it);
        before the day's first print, the reference price, as the simulator does."""
        ts = self._ts(t)
        ref = self.reference_price(code)
        row = self.recorded.last_row(code, "trade", ts)
        v = row.values if row is not None else {}
        last = int(v.get("current_price") or ref)
        rate = round((last - ref) * 100.0 / ref, 2) if ref else 0.0
        return TradingState(code, last, int(v.get("high") or 0), int(v.get("cum_volume") or 0), rate)

    def path(self, code: str, day: date) -> None:
        """No model path behind a recorded day: callers that read one (the chejan's 10010, the
        after-hours single-price 현재가) take their documented fallback, the previous close
        (today's reference), because the recording holds no after-hours print of the day before."""
        return None

    def history(self, code: str) -> RecordedHistory:
        """The daily history opt10001's period figures are anchored on: the lake's bars (see
        RecordedHistory)."""
        return RecordedHistory(self, code)

    def quote(self, code: str, t: Instant = None) -> Quote:
        """The code's state at t from its last recorded trade (NotFound before any)."""
        ts = self._ts(t)
        ref = self.reference_price(code)
        inst = self.instrument(code)
        upper, lower = ticks.limits(ref, inst.kind)
        row = self.recorded.last_row(code, "trade", ts)
        v = row.values if row is not None else {}
        last = int(v.get("current_price") or ref)
        ask, bid = self.best(code, ts)
        book = self.book(code, ts)
        prev = self.daily_bar(code, self.calendar.previous_session(self.recorded.day))
        return Quote(
            code=code, t=ts, session_date=self.recorded.day, phase=self.phase(ts), last=last,
            open=int(v.get("open") or 0), high=int(v.get("high") or 0), low=int(v.get("low") or 0), ref=ref,
            upper=upper, lower=lower, volume=int(v.get("cum_volume") or 0),
            value=int(v.get("cum_trade_value") or 0) * 1_000_000, change=last - ref,
            rate=float(v.get("change_rate") or 0.0), sign=_SIGNS.get(str(v.get("change_sign") or ""), 3),
            last_qty=int(v.get("volume") or 0), last_time=row.t if row is not None else 0.0,
            ask1=ask, bid1=bid, ask1_qty=book.asks[0][1], bid1_qty=book.bids[0][1],
            open_time=0.0, high_time=0.0, low_time=0.0, upper_time=0.0, lower_time=0.0,
            trade_count_buy=int(v.get("buy_trade_count") or 0), trade_count_sell=int(v.get("sell_trade_count") or 0),
            buy_volume=int(v.get("buy_trade_volume") or 0), sell_volume=int(v.get("sell_trade_volume") or 0),
            expected_price=0, expected_qty=0, after_hours_price=0,
            prev_volume=prev.volume if prev else 0, prev_value=prev.value if prev else 0,
        )

    # -- bars (the lake's history store) ---------------------------------------------------------
    def daily_bar(self, code: str, day: date) -> Optional[DailyBar]:
        bars = self.history_store.daily(code, day, 1)
        return bars[0] if bars and bars[0].date == day else None

    def daily_bars(self, code: str, end: date, count: int, adjusted: bool = False) -> List[DailyBar]:
        return self.history_store.daily(code, end, count)

    def minute_bars(self, code: str, interval_min: int, end_t: Instant, count: int,
                    adjusted: bool = False) -> List[IntradayBar]:
        return self.history_store.minutes(code, interval_min, self._ts(end_t), count)


class RecordedHistory:
    """The part of the simulator's DailyHistory its TR responders use (opt10001's EPS/BPS anchor),
    answered from the lake: the earliest stored daily bar, else a bar at the recorded reference price
    on the recorded day. A recording knows no corporate events, so the adjustment factor is 1 (the
    lake's bars are stored as synced, already adjusted)."""

    def __init__(self, market: RecordedMarket, code: str):
        self._market = market
        self._code = code

    def ensure(self, day: date) -> None:
        """Nothing to generate: the lake holds what it holds."""

    def bar_at(self, i: int, adjusted: bool = False) -> DailyBar:
        bars = self._market.history_store.daily(self._code, self._market.recorded.day, 1_000_000)
        if bars:
            return sorted(bars, key=lambda b: b.date)[i]
        ref = self._market.reference_price(self._code)
        return DailyBar(self._market.recorded.day, ref, ref, ref, ref, 0, 0, ref)

    def adj_factor(self, day: date) -> float:
        return 1.0


class RecordedListing:
    """The listing as the exchange sees it during a replay: only codes with recorded trades exist
    (an order for any other is rejected as an unknown code: there is no price to fill it at)."""

    def __init__(self, listing: Listing, codes: Iterable[str]):
        self._listing = listing
        self._codes = frozenset(codes)

    def get(self, code: str) -> Optional[Instrument]:
        return self._listing.get(code) if code in self._codes else None

    def __contains__(self, code: object) -> bool:
        return code in self._codes and code in self._listing


def trade_of(t: float, price: int, qty: Optional[int], volume: Optional[int], value_m: Optional[int],
             session: Optional[str], calendar: KrxCalendar) -> Trade:
    """A recorded 주식체결 row (delivered at t) as the exchange's print: signed quantity (+ buy-initiated),
    its kind from the session field (290: 1 pre-market, 2 regular, 3 after hours) and the phase of the day."""
    session = str(session or "2").strip()
    if session == "1":
        kind = PRE_MARKET_CLOSE
    elif session not in ("", "2"):
        kind = AFTER_HOURS_SINGLE
    else:
        phase = calendar.phase(t)
        kind = {Phase.CONTINUOUS: CONTINUOUS, Phase.PRE_OPEN_AUCTION: OPEN_AUCTION,
                Phase.CLOSING_AUCTION: CLOSE_AUCTION}.get(phase, CONTINUOUS)
        times = calendar.session_times(calendar.session_date(t))
        if times is not None and kind == CONTINUOUS and t >= times.close_t:
            kind = CLOSE_AUCTION
    return Trade(t=t, price=int(price), qty=int(qty or 0), volume=int(volume or 0),
                 value=int(value_m or 0) * 1_000_000, kind=kind)
