"""What a TR responder receives and returns, and the registry that maps TR codes to responders."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

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
