"""Immutable values the market hands out: quotes, trades, order books and bars (KRW ints)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, Tuple

from .calendar import Phase

# Trade kinds, in the order they happen during a day.
PRE_MARKET_CLOSE = "pre_market_close"  # 장전시간외종가, at the reference price
OPEN_AUCTION = "open_auction"          # the 09:00 single price
CONTINUOUS = "continuous"
CLOSE_AUCTION = "close_auction"        # the 15:30 single price
AFTER_HOURS_CLOSE = "after_hours_close"  # 장후시간외종가, at the close
AFTER_HOURS_SINGLE = "after_hours_single"  # 시간외단일가, matched every 10 minutes
TRADE_KINDS = (PRE_MARKET_CLOSE, OPEN_AUCTION, CONTINUOUS, CLOSE_AUCTION, AFTER_HOURS_CLOSE,
               AFTER_HOURS_SINGLE)
REGULAR_KINDS = (OPEN_AUCTION, CONTINUOUS, CLOSE_AUCTION)


@dataclass(frozen=True)
class Trade:
    """One print. qty is signed: + buy-initiated (매수체결), - sell-initiated. volume/value are the
    day's cumulative shares and KRW after this trade (all sessions of the day)."""

    t: float
    price: int
    qty: int
    volume: int
    value: int
    kind: str = CONTINUOUS

    @property
    def is_regular(self) -> bool:
        return self.kind in REGULAR_KINDS


class TradingState(NamedTuple):
    """The regular-session prints of one instrument at an instant, without the book: what the
    condition searches scan across the whole listing (a Quote's fields of the same names)."""

    code: str
    last: int
    high: int
    volume: int
    rate: float


@dataclass(frozen=True)
class Quote:
    """The state of one instrument at instant `t`.

    Before the day's opening auction: last = ref, open/high/low = 0 (volume counts only the
    pre-market after-hours prints). last/high/low/open only move with regular-session trades;
    after_hours_price is the latest 시간외단일가 print (FID 10010), 0 if none.
    sign follows FID 25: 1 upper limit, 2 up, 3 unchanged, 4 lower limit, 5 down.
    Times (open_time, high_time, low_time, upper_time, lower_time) are epoch seconds, 0.0 if none.
    """

    code: str
    t: float
    session_date: date
    phase: Phase
    last: int
    open: int
    high: int
    low: int
    ref: int
    upper: int
    lower: int
    volume: int
    value: int
    change: int
    rate: float
    sign: int
    last_qty: int
    last_time: float
    ask1: int
    bid1: int
    ask1_qty: int
    bid1_qty: int
    open_time: float
    high_time: float
    low_time: float
    upper_time: float
    lower_time: float
    trade_count_buy: int
    trade_count_sell: int
    buy_volume: int
    sell_volume: int
    expected_price: int
    expected_qty: int
    after_hours_price: int
    prev_volume: int
    prev_value: int


@dataclass(frozen=True)
class Book:
    """Ten levels each side, best first; levels that cannot exist (beyond the limits, or no book at
    all) are (0, 0). During auctions the levels sit around the expected price."""

    code: str
    t: float
    asks: Tuple[Tuple[int, int], ...]
    bids: Tuple[Tuple[int, int], ...]
    total_ask_qty: int
    total_bid_qty: int
    expected_price: int = 0
    expected_qty: int = 0

    @property
    def ask1(self) -> int:
        return self.asks[0][0] if self.asks else 0

    @property
    def bid1(self) -> int:
        return self.bids[0][0] if self.bids else 0


@dataclass(frozen=True)
class DailyBar:
    """One session's bar. ref is the reference price (기준가: the previous close, adjusted on event
    days); event_flags are opt10081 수정주가구분 bits on the event's first day and adj_ratio the
    price ratio of that event (1.0 otherwise). value is KRW (indices: million KRW); index prices
    and volumes are x100 levels and thousand shares."""

    date: date
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    ref: int
    event_flags: int = 0
    adj_ratio: float = 1.0


@dataclass(frozen=True)
class IntradayBar:
    """A minute or tick bar. t is the bar's label (epoch seconds): for minute bars the end of the
    interval (the 09:00:xx trades are in the 09:01 bar; the closing auction is labelled 15:30)."""

    t: float
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    ref: int = 0
