"""The one KRX trading calendar: the SDK, the CLI, the simulator and the broker all ask this module.

Stdlib only, because the broker (32-bit Windows) may have neither exchange_calendars nor pandas. A day's
hours come from, in order:

1. `OVERLAY`: the special days KRX announces (수능 late opens, first-trading-day 10:00 opens, year-end
   closures, election days, temporary holidays), each named in its note. It wins over everything.
2. For `TABLE_YEARS`: weekdays minus `HOLIDAYS` (the regular public holidays, a stdlib copy of
   exchange_calendars' XKRX; a test checks the two agree day by day), so the common case never loads
   pandas and a broker without the library answers the same.
3. 2006-2036 outside them: XKRX's sessions, kept as stdlib data in `krx_history` (generated from
   exchange_calendars, checked against it day by day by a test), so no process loads the library.
4. Other years, or `library=False`: weekdays minus the fixed-date solar holidays (lunar holidays and
   elections are then not known).

The session timetable (auctions, continuous trading, after-hours) follows each day's open and close, so a
late-open day shifts its auctions with it; `Phase` names where the market is at any instant.
"""
from __future__ import annotations

import bisect
import enum
import threading
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any, Dict, Iterable, List, Optional, Tuple

from koabus.common import krx_history
from koabus.common.clock import KST

STANDARD_OPEN = time(9, 0)
STANDARD_CLOSE = time(15, 30)
LATE_OPEN = time(10, 0)
EXAM_CLOSE = time(16, 30)

#: the years whose sessions come from the stdlib tables below (no library needed)
TABLE_YEARS = range(2024, 2028)
#: the span of exchange_calendars' XKRX that krx_history holds (and its generator asks for)
LIB_START = date(2006, 1, 2)
LIB_END = date(2036, 12, 31)
_SEARCH_DAYS = 40

Hours = Tuple[time, time]


class NoSession(LookupError, ValueError):
    """No session within the search window (LookupError for the SDK, ValueError for older callers)."""


@dataclass(frozen=True)
class SpecialDay:
    """One date's correction: `closed`, or the session's `open`/`close` (KST; None keeps the usual)."""

    day: date
    open: Optional[time] = None
    close: Optional[time] = None
    closed: bool = False
    note: str = ""


def _exam(day: date, note: str) -> SpecialDay:
    return SpecialDay(day, LATE_OPEN, EXAM_CLOSE, note=f"수능 (college entrance exam): 10:00-16:30; {note}")


def _first(day: date) -> SpecialDay:
    return SpecialDay(day, LATE_OPEN, STANDARD_CLOSE,
                      note=f"first trading day of {day.year} (개장일): opens 10:00; XKRX agrees")


def _closed(day: date, note: str) -> SpecialDay:
    return SpecialDay(day, closed=True, note=note)


#: KRX's special days. Each note names the day and says whether XKRX already knows it.
OVERLAY: Tuple[SpecialDay, ...] = (
    SpecialDay(date(2017, 11, 16), STANDARD_OPEN, STANDARD_CLOSE,
               note="2018학년도 수능 postponed the evening before (Pohang earthquake): regular hours; "
                    "XKRX says 10:00-16:30"),
    _exam(date(2021, 11, 18), "2022학년도; XKRX lacks it"),
    _exam(date(2022, 11, 17), "2023학년도; XKRX lacks it"),
    _exam(date(2023, 11, 16), "2024학년도; XKRX lacks it"),
    # 2024
    _first(date(2024, 1, 2)),
    _closed(date(2024, 4, 10), "22nd National Assembly election (국회의원 선거); XKRX agrees"),
    _closed(date(2024, 10, 1), "Armed Forces Day, temporary public holiday (국군의 날 임시공휴일); XKRX agrees"),
    _exam(date(2024, 11, 14), "2025학년도; XKRX lacks it"),
    _closed(date(2024, 12, 31), "year-end closure (연말 휴장일); XKRX agrees"),
    # 2025
    _first(date(2025, 1, 2)),
    _closed(date(2025, 1, 27), "temporary public holiday before Seollal (설 연휴 임시공휴일); XKRX agrees"),
    _closed(date(2025, 6, 3), "21st presidential election (대통령 선거); XKRX agrees"),
    _exam(date(2025, 11, 13), "2026학년도; XKRX lacks it"),
    _closed(date(2025, 12, 31), "year-end closure (연말 휴장일); XKRX agrees"),
    # 2026
    _first(date(2026, 1, 2)),
    _closed(date(2026, 6, 3), "9th local elections (전국동시지방선거); XKRX lacks it"),
    _exam(date(2026, 11, 19), "2027학년도; XKRX lacks it"),
    _closed(date(2026, 12, 31), "year-end closure (연말 휴장일); XKRX agrees"),
    # 2027
    _first(date(2027, 1, 4)),
    _exam(date(2027, 11, 18), "2028학년도, the planned date (not yet confirmed by KRX); XKRX lacks it"),
    _closed(date(2027, 12, 31), "year-end closure (연말 휴장일); XKRX agrees"),
)

#: regular public holidays on weekdays in TABLE_YEARS (the overlay holds the special closures)
HOLIDAYS: Dict[date, str] = {
    date(2024, 1, 1): "New Year's Day", date(2024, 2, 9): "Seollal",
    date(2024, 2, 12): "Seollal (substitute)", date(2024, 3, 1): "Independence Movement Day",
    date(2024, 5, 1): "Labour Day", date(2024, 5, 6): "Children's Day (substitute)",
    date(2024, 5, 15): "Buddha's Birthday", date(2024, 6, 6): "Memorial Day",
    date(2024, 8, 15): "Liberation Day", date(2024, 9, 16): "Chuseok", date(2024, 9, 17): "Chuseok",
    date(2024, 9, 18): "Chuseok", date(2024, 10, 3): "National Foundation Day",
    date(2024, 10, 9): "Hangul Day", date(2024, 12, 25): "Christmas",
    date(2025, 1, 1): "New Year's Day", date(2025, 1, 28): "Seollal", date(2025, 1, 29): "Seollal",
    date(2025, 1, 30): "Seollal", date(2025, 3, 3): "Independence Movement Day (substitute)",
    date(2025, 5, 1): "Labour Day", date(2025, 5, 5): "Children's Day and Buddha's Birthday",
    date(2025, 5, 6): "Buddha's Birthday (substitute)", date(2025, 6, 6): "Memorial Day",
    date(2025, 8, 15): "Liberation Day", date(2025, 10, 3): "National Foundation Day",
    date(2025, 10, 6): "Chuseok", date(2025, 10, 7): "Chuseok", date(2025, 10, 8): "Chuseok (substitute)",
    date(2025, 10, 9): "Hangul Day", date(2025, 12, 25): "Christmas",
    date(2026, 1, 1): "New Year's Day", date(2026, 2, 16): "Seollal", date(2026, 2, 17): "Seollal",
    date(2026, 2, 18): "Seollal", date(2026, 3, 2): "Independence Movement Day (substitute)",
    date(2026, 5, 1): "Labour Day", date(2026, 5, 5): "Children's Day",
    date(2026, 5, 25): "Buddha's Birthday (substitute)", date(2026, 8, 17): "Liberation Day (substitute)",
    date(2026, 9, 24): "Chuseok", date(2026, 9, 25): "Chuseok",
    date(2026, 10, 5): "National Foundation Day (substitute)", date(2026, 10, 9): "Hangul Day",
    date(2026, 12, 25): "Christmas",
    date(2027, 1, 1): "New Year's Day", date(2027, 2, 8): "Seollal", date(2027, 2, 9): "Seollal (substitute)",
    date(2027, 3, 1): "Independence Movement Day", date(2027, 5, 5): "Children's Day",
    date(2027, 5, 13): "Buddha's Birthday", date(2027, 8, 16): "Liberation Day (substitute)",
    date(2027, 9, 14): "Chuseok", date(2027, 9, 15): "Chuseok", date(2027, 9, 16): "Chuseok",
    date(2027, 10, 4): "National Foundation Day (substitute)", date(2027, 10, 11): "Hangul Day (substitute)",
    date(2027, 12, 27): "Christmas (substitute)",
}

#: solar-date holidays for years neither the table nor the library covers
_FIXED_HOLIDAYS = ((1, 1), (3, 1), (5, 1), (5, 5), (6, 6), (8, 15), (10, 3), (10, 9), (12, 25), (12, 31))


class Phase(enum.Enum):
    """Where the market is in its day (the one vocabulary of the simulator, the broker and the SDK)."""

    CLOSED = "closed"
    PRE_MARKET = "pre_market"                 # open-60min .. open-30min (orders not yet accepted on mock)
    PRE_OPEN_AUCTION = "pre_open_auction"     # open-30min .. open: 장전 동시호가 (+ 장전시간외)
    CONTINUOUS = "continuous"                 # open .. close-10min: the regular continuous session
    CLOSING_AUCTION = "closing_auction"       # close-10min .. close: 장마감 동시호가
    POST_CLOSE = "post_close"                 # close .. close+10min
    AFTER_HOURS_CLOSE = "after_hours_close"   # close+10min .. close+30min: 장후시간외종가
    AFTER_HOURS_SINGLE = "after_hours_single"  # close+30min .. close+150min: 시간외단일가

    @property
    def is_regular(self) -> bool:
        return self in (Phase.PRE_OPEN_AUCTION, Phase.CONTINUOUS, Phase.CLOSING_AUCTION)


@dataclass(frozen=True)
class SessionTimes:
    """The timetable of one session (KST datetimes). Offsets follow the open and the close, so a
    late-open day shifts the auctions with it."""

    day: date
    pre_market: datetime
    pre_open_auction: datetime
    pre_market_close_start: datetime
    pre_market_close_end: datetime
    open: datetime
    closing_auction: datetime
    close: datetime
    after_hours_close_start: datetime
    after_hours_close_end: datetime
    after_hours_single_start: datetime
    after_hours_single_end: datetime

    @classmethod
    def build(cls, day: date, open_at: time, close_at: time) -> SessionTimes:
        o = datetime.combine(day, open_at, KST)
        c = datetime.combine(day, close_at, KST)
        m = timedelta(minutes=1)
        return cls(
            day=day, pre_market=o - 60 * m, pre_open_auction=o - 30 * m,
            pre_market_close_start=o - 30 * m, pre_market_close_end=o - 20 * m, open=o,
            closing_auction=c - 10 * m, close=c, after_hours_close_start=c + 10 * m,
            after_hours_close_end=c + 30 * m, after_hours_single_start=c + 30 * m,
            after_hours_single_end=c + 150 * m,
        )

    @cached_property
    def _bounds(self) -> Tuple[float, ...]:
        return tuple(x.timestamp() for x in (
            self.pre_market, self.pre_open_auction, self.open, self.closing_auction, self.close,
            self.after_hours_close_start, self.after_hours_single_start, self.after_hours_single_end,
        ))

    @property
    def open_t(self) -> float:
        return self._bounds[2]

    @property
    def close_t(self) -> float:
        return self._bounds[4]

    @property
    def day_end_t(self) -> float:
        """End of the last (after-hours single price) session."""
        return self._bounds[7]

    def t(self, name: str) -> float:
        """Epoch seconds of one of the timetable fields, e.g. t("closing_auction")."""
        return getattr(self, name).timestamp()

    def phase(self, ts: float) -> Phase:
        order = (
            Phase.CLOSED, Phase.PRE_MARKET, Phase.PRE_OPEN_AUCTION, Phase.CONTINUOUS,
            Phase.CLOSING_AUCTION, Phase.POST_CLOSE, Phase.AFTER_HOURS_CLOSE,
            Phase.AFTER_HOURS_SINGLE, Phase.CLOSED,
        )
        return order[bisect.bisect_right(self._bounds, ts)]


# -- the library, loaded at most once per process --------------------------------------------------

@dataclass(frozen=True)
class LibrarySessions:
    """XKRX's sessions as ordinals, and the hours of its non-standard days."""

    ordinals: Tuple[int, ...]
    special: Dict[int, Hours]

    @cached_property
    def days(self) -> frozenset:
        return frozenset(self.ordinals)

    def covers(self, day: date) -> bool:
        return bool(self.ordinals) and self.ordinals[0] <= day.toordinal() <= self.ordinals[-1]

    def hours(self, day: date) -> Optional[Hours]:
        o = day.toordinal()
        if o not in self.days:
            return None
        return self.special.get(o, (STANDARD_OPEN, STANDARD_CLOSE))


_LIB_LOCK = threading.Lock()
_LIB_CACHE: Dict[str, Optional[LibrarySessions]] = {}


def library_sessions() -> Optional[LibrarySessions]:
    """XKRX from exchange_calendars for LIB_START..LIB_END, built once per process; None without it.
    The calendar itself answers from `krx_history`; this is for regenerating and checking that table."""
    with _LIB_LOCK:
        if "xkrx" not in _LIB_CACHE:
            _LIB_CACHE["xkrx"] = _load_library()
        return _LIB_CACHE["xkrx"]


def _load_library() -> Optional[LibrarySessions]:
    try:
        import exchange_calendars as xcals  # noqa: PLC0415 - optional, and slow to import
    except ImportError:
        return None
    with warnings.catch_warnings():  # the library's pandas deprecation noise is not ours
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar("XKRX", start=LIB_START.isoformat(), end=LIB_END.isoformat())
        opens = cal.opens.dt.tz_convert("Asia/Seoul")
        closes = cal.closes.dt.tz_convert("Asia/Seoul")
    ordinals: List[int] = []
    special: Dict[int, Hours] = {}
    for label, o, c in zip(cal.sessions, opens, closes):
        ordinal = label.date().toordinal()
        ordinals.append(ordinal)
        hours = (o.time(), c.time())
        if hours != (STANDARD_OPEN, STANDARD_CLOSE):
            special[ordinal] = hours
    return LibrarySessions(tuple(ordinals), special)


# -- stdlib rules -----------------------------------------------------------------------------------

def _is_weekday_session(day: date) -> bool:
    if day.weekday() >= 5:
        return False
    if day.year in TABLE_YEARS:
        return day not in HOLIDAYS
    return (day.month, day.day) not in _FIXED_HOLIDAYS


def stdlib_hours(day: date) -> Optional[Hours]:
    """A day's hours without the library or the overlay: weekdays minus holidays, and the year's first
    session opening at 10:00 (KRX's 개장일)."""
    if not _is_weekday_session(day):
        return None
    first = date(day.year, 1, 1)
    while not _is_weekday_session(first):
        first += timedelta(days=1)
    return (LATE_OPEN if day == first else STANDARD_OPEN, STANDARD_CLOSE)


def parse_day(text: str) -> date:
    """A date from 'YYYY-MM-DD' (a time after it is ignored) or 'YYYYMMDD'; ValueError otherwise."""
    text = str(text).strip()
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return date.fromisoformat(text[:10])


# -- the calendar -----------------------------------------------------------------------------------

class KrxCalendar:
    """Sessions, timetables and phases of the KRX; pure functions of the date, cached per date.

    `overlay` entries are laid over `OVERLAY` (same date: the given one wins). `library=False` leaves
    XKRX's history out: the stdlib rules alone answer outside TABLE_YEARS."""

    def __init__(self, overlay: Iterable[SpecialDay] = (), library: bool = True):
        self.overlay: Dict[date, SpecialDay] = {s.day: s for s in OVERLAY}
        self.overlay.update({s.day: s for s in overlay})
        self.library = library
        self._hours: Dict[date, Optional[Hours]] = {}
        self._times: Dict[date, Optional[SessionTimes]] = {}

    # -- one day ------------------------------------------------------------------------------
    def _base_hours(self, day: date) -> Optional[Hours]:
        if day.year not in TABLE_YEARS and self.library and krx_history.covers(day):
            return krx_history.hours(day)
        return stdlib_hours(day)

    def hours(self, day: date) -> Optional[Hours]:
        """(open, close) KST times of `day`, or None when it is not a session."""
        if day in self._hours:
            return self._hours[day]
        base = self._base_hours(day)
        special = self.overlay.get(day)
        if special is None:
            hours = base
        elif special.closed:
            hours = None
        else:
            open_t, close_t = base or (STANDARD_OPEN, STANDARD_CLOSE)
            hours = (special.open or open_t, special.close or close_t)
        self._hours[day] = hours
        return hours

    def is_session(self, day: date) -> bool:
        return self.hours(day) is not None

    def session_times(self, day: date) -> Optional[SessionTimes]:
        """The timetable of `day`, or None when it is not a session."""
        if day not in self._times:
            hours = self.hours(day)
            self._times[day] = SessionTimes.build(day, *hours) if hours else None
        return self._times[day]

    # -- neighbours and ranges ----------------------------------------------------------------
    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        for i in range(1, _SEARCH_DAYS + 1):
            if self.is_session(day - timedelta(days=i)):
                return day - timedelta(days=i)
        raise NoSession(f"no session in the {_SEARCH_DAYS} days before {day}")

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        for i in range(1, _SEARCH_DAYS + 1):
            if self.is_session(day + timedelta(days=i)):
                return day + timedelta(days=i)
        raise NoSession(f"no session in the {_SEARCH_DAYS} days after {day}")

    def session_on_or_before(self, day: date) -> date:
        return day if self.is_session(day) else self.previous_session(day)

    def session_on_or_after(self, day: date) -> date:
        return day if self.is_session(day) else self.next_session(day)

    def sessions_between(self, first: date, last: date) -> List[date]:
        """Sessions with first <= day <= last, oldest first."""
        days = (date.fromordinal(o) for o in range(first.toordinal(), last.toordinal() + 1))
        return [d for d in days if self.is_session(d)]

    # -- instants -----------------------------------------------------------------------------
    def session_date(self, ts: float) -> date:
        """The session a KST instant belongs to: its own date when that is a session, else the last
        session before it."""
        return self.session_on_or_before(datetime.fromtimestamp(ts, KST).date())

    def phase(self, ts: float) -> Phase:
        times = self.session_times(datetime.fromtimestamp(ts, KST).date())
        return times.phase(ts) if times else Phase.CLOSED

    def market_state(self, ts: float) -> Dict[str, Any]:
        """What `status` reports: `market_phase` at `ts` and today's session (None when closed)."""
        times = self.session_times(datetime.fromtimestamp(ts, KST).date())
        session = None if times is None else {
            "date": times.day.isoformat(), "open": times.open.isoformat(), "close": times.close.isoformat()}
        return {"market_phase": (times.phase(ts) if times else Phase.CLOSED).value, "market_session": session}


_DEFAULT: Dict[str, KrxCalendar] = {}


def default_calendar() -> KrxCalendar:
    """The process-wide calendar with the standard overlay (its per-date caches are shared)."""
    cal = _DEFAULT.get("cal")
    if cal is None:
        cal = _DEFAULT.setdefault("cal", KrxCalendar())
    return cal
