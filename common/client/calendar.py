"""KRX trading calendar for SDK users: the shared `koabus.common.krx_calendar` (XKRX plus KRX's special
days) with answers as KST datetimes and lenient date arguments.

It imports no pandas and no exchange_calendars: the shared tables and XKRX's 2006-2036 history
(`koabus.common.krx_history`, stdlib data) answer, so `koabus calendar` answers at once for any date.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Iterable, List, Optional, Tuple

from koabus.common.clock import KST
from koabus.common.krx_calendar import OVERLAY, KrxCalendar, Phase, SessionTimes, SpecialDay, parse_day

REGULAR_OPEN = time(9, 0)
REGULAR_CLOSE = time(15, 30)

#: one date's correction (`closed`, or `open`/`close`), the shared overlay's record
SessionOverride = SpecialDay

#: 수능 (CSAT) days in the shared overlay: the market opens at 10:00 and closes at 16:30
EXAM_DAYS = tuple(s.day for s in OVERLAY if s.note.startswith("수능"))
DEFAULT_OVERLAY: Tuple[SessionOverride, ...] = OVERLAY


def _as_date(value: object = None) -> date:
    if value is None:
        return datetime.now(KST).date()
    if isinstance(value, datetime):
        return (value.astimezone(KST) if value.tzinfo else value).date()
    if isinstance(value, date):
        return value
    try:
        return parse_day(str(value))
    except ValueError:
        pass
    import pandas as pd  # noqa: PLC0415 - only for the odd formats the stdlib does not read

    return pd.Timestamp(str(value)).date()


def _as_kst(at: Optional[datetime]) -> datetime:
    at = at or datetime.now(KST)
    return at.astimezone(KST) if at.tzinfo else at.replace(tzinfo=KST)


class TradingCalendar:
    """Session questions for KRX: is it open now, the last/next session, a session's hours and phase.

    `overlay` entries are laid over the shared special days (same date: the given one wins)."""

    def __init__(self, overlay: Iterable[SessionOverride] = ()):
        self.shared = KrxCalendar(overlay)
        self.overlay = self.shared.overlay

    def session_hours(self, day: object = None) -> Optional[Tuple[datetime, datetime]]:
        """(open, close) as KST datetimes, or None when `day` is not a session."""
        day = _as_date(day)
        hours = self.shared.hours(day)
        if hours is None:
            return None
        return datetime.combine(day, hours[0], KST), datetime.combine(day, hours[1], KST)

    def session_times(self, day: object = None) -> Optional[SessionTimes]:
        """The whole timetable of a session (auctions, after-hours), or None when it is not one."""
        return self.shared.session_times(_as_date(day))

    def is_session(self, day: object = None) -> bool:
        return self.shared.is_session(_as_date(day))

    def phase(self, at: Optional[datetime] = None) -> Phase:
        """Where the market is at `at` (default now): pre_open_auction, continuous, closing_auction, ..."""
        return self.shared.phase(_as_kst(at).timestamp())

    def is_open(self, at: Optional[datetime] = None) -> bool:
        """True while the regular session is trading at `at` (default now): open <= at < close."""
        at = _as_kst(at)
        hours = self.session_hours(at.date())
        return hours is not None and hours[0] <= at < hours[1]

    def last_session(self, day: object = None) -> date:
        """The latest session on or before `day` (default today)."""
        return self.shared.session_on_or_before(_as_date(day))

    def previous_session(self, day: object = None) -> date:
        return self.shared.previous_session(_as_date(day))

    def next_session(self, day: object = None) -> date:
        """The first session strictly after `day` (default today)."""
        return self.shared.next_session(_as_date(day))

    def sessions(self, start: object, end: object) -> List[date]:
        return self.shared.sessions_between(_as_date(start), _as_date(end))


def calendar() -> TradingCalendar:
    """A TradingCalendar with the shared overlay."""
    return TradingCalendar()
