"""KRX trading calendar: sessions from exchange_calendars (XKRX) plus a small overlay, and the
session timetable (auctions, continuous trading, after-hours) with the phase at any instant.

Outside the library's range (or without the library) weekdays minus fixed-date public holidays are
sessions. The overlay fixes what the library lacks: exam-day (수능) late opens since 2021 and
election days.
"""
from __future__ import annotations

import bisect
import enum
import threading
import warnings
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Dict, List, Optional, Tuple

from koabus.common.clock import KST

LIB_START = date(2006, 1, 2)
LIB_END = date(2036, 12, 31)

STANDARD_OPEN = time(9, 0)
STANDARD_CLOSE = time(15, 30)

# Days the library gets wrong. date -> (open, close) or None when the market is closed.
SPECIAL_DAYS: Dict[date, Optional[Tuple[time, time]]] = {
    # 수능: everything one hour later (10:00-16:30). The library stops at 2020.
    date(2021, 11, 18): (time(10, 0), time(16, 30)),
    date(2022, 11, 17): (time(10, 0), time(16, 30)),
    date(2023, 11, 16): (time(10, 0), time(16, 30)),
    date(2024, 11, 14): (time(10, 0), time(16, 30)),
    date(2025, 11, 13): (time(10, 0), time(16, 30)),
    date(2026, 11, 19): (time(10, 0), time(16, 30)),
    date(2027, 11, 18): (time(10, 0), time(16, 30)),  # plausible date
    # The 2017 exam was postponed the evening before (earthquake): the market kept normal hours.
    date(2017, 11, 16): (STANDARD_OPEN, time(15, 30)),
    # Local elections (market closed).
    date(2026, 6, 3): None,
}

# Fixed-date holidays for the weekday fallback (solar dates only; lunar holidays are not modelled).
_FIXED_HOLIDAYS = ((1, 1), (3, 1), (5, 5), (6, 6), (8, 15), (10, 3), (10, 9), (12, 25), (12, 31))


class Phase(enum.Enum):
    """Where the market is in its day."""

    CLOSED = "closed"
    PRE_MARKET = "pre_market"                 # 08:00-08:30 (orders not yet accepted on mock)
    PRE_OPEN_AUCTION = "pre_open_auction"     # 08:30-09:00 장전 동시호가 (+ 장전시간외 08:30-08:40)
    CONTINUOUS = "continuous"                 # 09:00-15:20
    CLOSING_AUCTION = "closing_auction"       # 15:20-15:30 장마감 동시호가
    POST_CLOSE = "post_close"                 # 15:30-15:40
    AFTER_HOURS_CLOSE = "after_hours_close"   # 15:40-16:00 장후시간외종가
    AFTER_HOURS_SINGLE = "after_hours_single"  # 16:00-18:00 시간외단일가

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


_LIB_LOCK = threading.Lock()
_LIB_CACHE: Dict[str, object] = {}


def _library_sessions() -> Optional[Tuple[List[int], Dict[int, Tuple[time, time]]]]:
    """(sorted session ordinals, {ordinal: (open, close)} for non-standard days) from the library,
    loaded once per process; None when exchange_calendars is unavailable."""
    with _LIB_LOCK:
        if "xkrx" in _LIB_CACHE:
            return _LIB_CACHE["xkrx"]  # type: ignore[return-value]
        try:
            import exchange_calendars as xcals
        except ImportError:  # pragma: no cover - the library is a declared dependency
            _LIB_CACHE["xkrx"] = None
            return None
        with warnings.catch_warnings():  # the library's pandas deprecation noise is not ours
            warnings.simplefilter("ignore")
            cal = xcals.get_calendar("XKRX", start=LIB_START.isoformat(), end=LIB_END.isoformat())
            opens = cal.opens.dt.tz_convert("Asia/Seoul")
            closes = cal.closes.dt.tz_convert("Asia/Seoul")
        ordinals: List[int] = []
        special: Dict[int, Tuple[time, time]] = {}
        for label, o, c in zip(cal.sessions, opens, closes):
            ordinal = label.date().toordinal()
            ordinals.append(ordinal)
            ot, ct = o.time(), c.time()
            if ot != STANDARD_OPEN or ct != STANDARD_CLOSE:
                special[ordinal] = (ot, ct)
        result = (ordinals, special)
        _LIB_CACHE["xkrx"] = result
        return result


def _fallback_is_session(day: date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in _FIXED_HOLIDAYS


class KrxCalendar:
    """Sessions and timetables of the KRX; pure functions of the date, cached per date."""

    def __init__(self, special_days: Optional[Dict[date, Optional[Tuple[time, time]]]] = None):
        self._special = dict(SPECIAL_DAYS if special_days is None else special_days)
        lib = _library_sessions()
        self._lib_ordinals: List[int] = list(lib[0]) if lib else []
        self._lib_special: Dict[int, Tuple[time, time]] = dict(lib[1]) if lib else {}
        self._lib_set = set(self._lib_ordinals)
        self._lib_range = (
            (self._lib_ordinals[0], self._lib_ordinals[-1]) if self._lib_ordinals else (1, 0)
        )
        self._times: Dict[date, Optional[SessionTimes]] = {}

    # -- sessions ---------------------------------------------------------------------------
    def is_session(self, day: date) -> bool:
        if day in self._special:
            return self._special[day] is not None
        o = day.toordinal()
        if self._lib_range[0] <= o <= self._lib_range[1]:
            return o in self._lib_set
        return _fallback_is_session(day)

    def session_times(self, day: date) -> Optional[SessionTimes]:
        """The timetable of `day`, or None when it is not a session."""
        if day in self._times:
            return self._times[day]
        times: Optional[SessionTimes] = None
        if self.is_session(day):
            hours = self._special.get(day) or self._lib_special.get(day.toordinal())
            open_at, close_at = hours if hours else (STANDARD_OPEN, STANDARD_CLOSE)
            times = SessionTimes.build(day, open_at, close_at)
        self._times[day] = times
        return times

    def previous_session(self, day: date) -> date:
        """The last session strictly before `day`."""
        d = day - timedelta(days=1)
        for _ in range(40):
            if self.is_session(d):
                return d
            d -= timedelta(days=1)
        raise ValueError(f"no session in the 40 days before {day}")

    def next_session(self, day: date) -> date:
        """The first session strictly after `day`."""
        d = day + timedelta(days=1)
        for _ in range(40):
            if self.is_session(d):
                return d
            d += timedelta(days=1)
        raise ValueError(f"no session in the 40 days after {day}")

    def session_on_or_before(self, day: date) -> date:
        return day if self.is_session(day) else self.previous_session(day)

    def session_on_or_after(self, day: date) -> date:
        return day if self.is_session(day) else self.next_session(day)

    def sessions_between(self, first: date, last: date) -> List[date]:
        """Sessions with first <= day <= last, oldest first."""
        out: List[date] = []
        a, b = first.toordinal(), last.toordinal()
        lo, hi = self._lib_range
        o = a
        while o <= b:
            if lo <= o <= hi and o <= b:
                # bulk copy from the library's list, then apply the overlay
                end = min(b, hi)
                i = bisect.bisect_left(self._lib_ordinals, o)
                j = bisect.bisect_right(self._lib_ordinals, end)
                days = [date.fromordinal(x) for x in self._lib_ordinals[i:j]]
                out.extend(d for d in days if self._special.get(d, True) is not None)
                for d, hours in self._special.items():
                    if hours is not None and o <= d.toordinal() <= end and d.toordinal() not in self._lib_set:
                        out.append(d)
                o = end + 1
                continue
            d = date.fromordinal(o)
            if self.is_session(d):
                out.append(d)
            o += 1
        out.sort()
        return out

    # -- instants ---------------------------------------------------------------------------
    def session_date(self, ts: float) -> date:
        """The session a KST instant belongs to: its own date when that is a session, else the last
        session before it."""
        day = datetime.fromtimestamp(ts, KST).date()
        return self.session_on_or_before(day)

    def phase(self, ts: float) -> Phase:
        day = datetime.fromtimestamp(ts, KST).date()
        times = self.session_times(day)
        return times.phase(ts) if times else Phase.CLOSED
