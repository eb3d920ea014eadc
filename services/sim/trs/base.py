"""What a TR responder receives and returns, and the registry that maps TR codes to responders."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from ..market.models import CLOSE_AUCTION, TRADE_KINDS

Row = Dict[str, str]


@dataclass(frozen=True)
class TrRequest:
    """One CommRqData/CommKwRqData as the responder sees it."""

    tr_code: str  # lower case, as in the catalog
    inputs: Mapping[str, str]
    screen: str
    rq_name: str
    cursor: Any = None  # None for a first page, else what the previous page returned as next_cursor
    spec: Any = None
    t: float = 0.0  # virtual epoch seconds of the request

    def get(self, name: str, default: str = "") -> str:
        return str(self.inputs.get(name, default) or default).strip()


@dataclass(frozen=True)
class TrPage:
    """One page: single-record values by name, multi rows by name, and the cursor of the next page."""

    single: Row = field(default_factory=dict)
    rows: List[Row] = field(default_factory=list)
    next_cursor: Any = None
    message: Optional[str] = None  # overrides the usual "조회가 완료되었습니다" message


Responder = Callable[[Any, TrRequest], TrPage]

RESPONDERS: Dict[str, Responder] = {}


def responds_to(*codes: str) -> Callable[[Responder], Responder]:
    """Register a responder for TR codes (case-insensitive)."""
    def register(func: Responder) -> Responder:
        for code in codes:
            RESPONDERS[code.lower()] = func
        return func
    return register


def paginate(items: List[Any], cursor: Any, per_page: int):
    """Slice `items` (already newest first) into a page; returns (page, next_cursor or None)."""
    start = int(cursor or 0)
    page = items[start:start + per_page]
    nxt = start + per_page
    return page, (nxt if nxt < len(items) else None)


def traded_value(world: Any, code: str, t: float) -> int:
    """Cumulative traded value (KRW) of the code's session up to t: the sum of price x size of its
    prints, the same figure the realtime FID 14 누적거래대금 adds up print by print, so 거래대금 of
    a TR and of the stream agree (both in 백만원 once divided)."""
    path = world.market.path(code, world.session_key(t))
    if path is None:
        return 0
    i = path.index_at(t)
    if i < 0:
        return 0
    sizes = abs(path.qty[:i + 1]).astype("int64")  # int64: int32 products overflow
    return int(sizes @ path.price[:i + 1].astype("int64"))


def last_auction(world: Any, code: str, t: float, quote: Any) -> Tuple[int, int]:
    """(예상체결가, 예상체결량) as OPTKWFID reports them: the indicative price and quantity while an
    auction runs, afterwards the price and size of the day's last auction print (the opening one
    during the session: recorded rows show 예상체결가 equal to 시가 at 14:29), (0, 0) before any."""
    if quote.expected_price:
        return int(quote.expected_price), int(quote.expected_qty)
    path = world.market.path(code, world.session_key(t))
    if path is None or path.reg_first < 0:
        return 0, 0
    i = path.index_at(t)
    if i < path.reg_first:
        return 0, 0
    j = path.reg_last if i >= path.reg_last and TRADE_KINDS[int(path.kind[path.reg_last])] == CLOSE_AUCTION \
        else path.reg_first
    return int(path.price[j]), abs(int(path.qty[j]))
