"""The simulator's view of the KRX calendar: the shared `koabus.common.krx_calendar`, so the simulated
market, the broker and the SDK agree on every session, late open and holiday."""
from __future__ import annotations

from datetime import date, time
from typing import Dict, Optional, Tuple

from koabus.common.krx_calendar import (
    LIB_END,
    LIB_START,
    OVERLAY,
    STANDARD_CLOSE,
    STANDARD_OPEN,
    Phase,
    SessionTimes,
    SpecialDay,
)
from koabus.common.krx_calendar import KrxCalendar as _SharedCalendar

__all__ = ["KrxCalendar", "LIB_END", "LIB_START", "Phase", "SPECIAL_DAYS", "STANDARD_CLOSE", "STANDARD_OPEN",
           "SessionTimes"]

#: the shared overlay as date -> (open, close), or None when the market is closed
SPECIAL_DAYS: Dict[date, Optional[Tuple[time, time]]] = {
    s.day: None if s.closed else (s.open or STANDARD_OPEN, s.close or STANDARD_CLOSE) for s in OVERLAY}


class KrxCalendar(_SharedCalendar):
    """The shared calendar; `special_days` (date -> (open, close) or None) lays more days over it."""

    def __init__(self, special_days: Optional[Dict[date, Optional[Tuple[time, time]]]] = None):
        extra = [SpecialDay(d, closed=True) if h is None else SpecialDay(d, h[0], h[1])
                 for d, h in (special_days or {}).items()]
        super().__init__(extra)
