"""KRX trading calendar: exchange_calendars' XKRX plus an overlay for what the library gets wrong or lacks.

The overlay holds per-date overrides (closed, or different open/close times). The default overlay
carries the college-entrance-exam (수능) days, on which KRX opens an hour late (10:00) and closes an
hour late (16:30) but which exchange_calendars lists with regular hours. Dates outside the library's
range fall back to weekdays with regular hours (09:00-15:30), overlay applied.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Dict, Iterable, List, Optional, Tuple

import pandas as pd

from koabus.common.clock import KST

REGULAR_OPEN = time(9, 0)
REGULAR_CLOSE = time(15, 30)
_SEARCH_DAYS = 30


@dataclass(frozen=True)
class SessionOverride:
    """One date's correction: `closed`, or the session's `open`/`close` times (KST)."""

    day: date
    open: Optional[time] = None
    close: Optional[time] = None
    closed: bool = False
    note: str = ""


#: 수능 (CSAT) days: the market opens at 10:00 and closes at 16:30
EXAM_DAYS = (date(2021, 11, 18), date(2022, 11, 17), date(2023, 11, 16), date(2024, 11, 14),
             date(2025, 11, 13), date(2026, 11, 19))
DEFAULT_OVERLAY: Tuple[SessionOverride, ...] = tuple(
    SessionOverride(d, time(10, 0), time(16, 30), note="수능 late open") for d in EXAM_DAYS)


@lru_cache(maxsize=1)
def _xkrx():
    import exchange_calendars

    with warnings.catch_warnings():  # the library's own pandas deprecations, not ours to fix
        warnings.simplefilter("ignore")
        return exchange_calendars.get_calendar("XKRX")


def _as_date(value: object = None) -> date:
    if value is None:
        return datetime.now(KST).date()
    if isinstance(value, datetime):
        return (value.astimezone(KST) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(str(value)).date()


class TradingCalendar:
    """Session questions for KRX: is it open now, the last/next session, a session's hours."""

    def __init__(self, overlay: Iterable[SessionOverride] = DEFAULT_OVERLAY):
        self.overlay: Dict[date, SessionOverride] = {o.day: o for o in overlay}

    def _library_hours(self, day: date) -> Optional[Tuple[datetime, datetime]]:
        cal = _xkrx()
        stamp = pd.Timestamp(day)
        if cal.first_session <= stamp <= cal.last_session:
            with warnings.catch_warnings():  # the library's own pandas deprecations, not ours to fix
                warnings.simplefilter("ignore")
                if not cal.is_session(stamp):
                    return None
                return (cal.session_open(stamp).tz_convert(KST).to_pydatetime(),
                        cal.session_close(stamp).tz_convert(KST).to_pydatetime())
        if day.weekday() >= 5:
            return None
        return (datetime.combine(day, REGULAR_OPEN, KST), datetime.combine(day, REGULAR_CLOSE, KST))

    def session_hours(self, day: object = None) -> Optional[Tuple[datetime, datetime]]:
        """(open, close) as KST datetimes, or None when `day` is not a session."""
        day = _as_date(day)
        hours = self._library_hours(day)
        override = self.overlay.get(day)
        if override is None:
            return hours
        if override.closed:
            return None
        open_t = override.open or (hours[0].timetz() if hours else REGULAR_OPEN)
        close_t = override.close or (hours[1].timetz() if hours else REGULAR_CLOSE)
        return (datetime.combine(day, open_t.replace(tzinfo=None), KST),
                datetime.combine(day, close_t.replace(tzinfo=None), KST))

    def is_session(self, day: object = None) -> bool:
        return self.session_hours(day) is not None

    def is_open(self, at: Optional[datetime] = None) -> bool:
        """True while the regular session is trading at `at` (default now)."""
        at = at or datetime.now(KST)
        at = at.astimezone(KST) if at.tzinfo else at.replace(tzinfo=KST)
        hours = self.session_hours(at.date())
        return hours is not None and hours[0] <= at < hours[1]

    def last_session(self, day: object = None) -> date:
        """The latest session on or before `day` (default today)."""
        day = _as_date(day)
        for i in range(_SEARCH_DAYS):
            candidate = day - timedelta(days=i)
            if self.is_session(candidate):
                return candidate
        raise LookupError(f"no session in the {_SEARCH_DAYS} days before {day}")

    def previous_session(self, day: object = None) -> date:
        return self.last_session(_as_date(day) - timedelta(days=1))

    def next_session(self, day: object = None) -> date:
        """The first session strictly after `day` (default today)."""
        day = _as_date(day)
        for i in range(1, _SEARCH_DAYS + 1):
            candidate = day + timedelta(days=i)
            if self.is_session(candidate):
                return candidate
        raise LookupError(f"no session in the {_SEARCH_DAYS} days after {day}")

    def sessions(self, start: object, end: object) -> List[date]:
        first, last = _as_date(start), _as_date(end)
        days = (last - first).days
        return [first + timedelta(days=i) for i in range(days + 1) if self.is_session(first + timedelta(days=i))]


def calendar() -> TradingCalendar:
    """A TradingCalendar with the default overlay."""
    return TradingCalendar()
