"""XKRX's sessions for 2006-2036 as stdlib data, so that no process loads exchange_calendars (and pandas,
2.5-25 s of CPU) to answer a date outside krx_calendar.TABLE_YEARS, and a broker without the library
knows those years' lunar holidays too.

The block between the markers is generated from exchange_calendars by `python -m
koabus.common.krx_history` (that needs the library); tests/common/test_krx_calendar.py checks it against
XKRX day by day. Corrections KRX announces go to krx_calendar.OVERLAY, not here.
"""
from __future__ import annotations

import sys
from datetime import date, time, timedelta
from pathlib import Path
from typing import Dict, List, Optional, Tuple

Hours = Tuple[time, time]

# --- generated: begin ---
#: where the data came from
SOURCE = "exchange_calendars 4.13.2 XKRX"
FIRST_YEAR, LAST_YEAR = 2006, 2036
#: the regular close moved from 15:00 to 15:30 on this day
REGULAR_CLOSE_CHANGE = date(2016, 8, 1)

#: per year, the weekdays (MMDD) that are not sessions
CLOSED: Dict[int, str] = {
    2006: "0130 0301 0501 0505 0531 0606 0717 0815 1003 1005 1006 1225 1229",
    2007: "0101 0219 0301 0501 0524 0606 0717 0815 0924 0925 0926 1003 1219 1225 1231",
    2008: "0101 0206 0207 0208 0409 0501 0505 0512 0606 0815 0915 1003 1225 1231",
    2009: "0101 0126 0127 0501 0505 1002 1225 1231",
    2010: "0101 0215 0301 0505 0521 0602 0921 0922 0923 1231",
    2011: "0202 0203 0204 0301 0505 0510 0606 0815 0912 0913 1003 1230",
    2012: "0123 0124 0301 0411 0501 0528 0606 0815 1001 1003 1219 1225 1231",
    2013: "0101 0211 0301 0501 0517 0606 0815 0918 0919 0920 1003 1009 1225 1231",
    2014: "0101 0130 0131 0501 0505 0506 0604 0606 0815 0908 0909 0910 1003 1009 1225 1231",
    2015: "0101 0218 0219 0220 0501 0505 0525 0814 0928 0929 1009 1225 1231",
    2016: "0101 0208 0209 0210 0301 0413 0505 0506 0606 0815 0914 0915 0916 1003 1230",
    2017: "0127 0130 0301 0501 0503 0505 0509 0606 0815 1002 1003 1004 1005 1006 1009 1225 1229",
    2018: "0101 0215 0216 0301 0501 0507 0522 0606 0613 0815 0924 0925 0926 1003 1009 1225 1231",
    2019: "0101 0204 0205 0206 0301 0501 0506 0606 0815 0912 0913 1003 1009 1225 1231",
    2020: "0101 0124 0127 0415 0430 0501 0505 0817 0930 1001 1002 1009 1225 1231",
    2021: "0101 0211 0212 0301 0505 0519 0816 0920 0921 0922 1004 1011 1231",
    2022: "0131 0201 0202 0301 0309 0505 0601 0606 0815 0909 0912 1003 1010 1230",
    2023: "0123 0124 0301 0501 0505 0529 0606 0815 0928 0929 1002 1003 1009 1225 1229",
    2024: "0101 0209 0212 0301 0410 0501 0506 0515 0606 0815 0916 0917 0918 1001 1003 1009 1225 1231",
    2025: "0101 0127 0128 0129 0130 0303 0501 0505 0506 0603 0606 0815 1003 1006 1007 1008 1009 1225 1231",
    2026: "0101 0216 0217 0218 0302 0501 0505 0525 0817 0924 0925 1005 1009 1225 1231",
    2027: "0101 0208 0209 0301 0505 0513 0816 0914 0915 0916 1004 1011 1227 1231",
    2028: "0126 0127 0128 0301 0501 0502 0505 0606 0815 1002 1003 1004 1005 1009 1225 1229",
    2029: "0101 0212 0213 0214 0301 0501 0507 0521 0606 0815 0921 0924 1003 1009 1225 1231",
    2030: "0101 0204 0205 0301 0501 0506 0509 0606 0815 0911 0912 0913 1003 1009 1225 1231",
    2031: "0101 0122 0123 0124 0303 0501 0505 0528 0606 0815 0930 1001 1002 1003 1009 1225 1231",
    2032: "0101 0210 0211 0212 0301 0505 0816 0920 0921 1004 1011 1231",
    2033: "0131 0201 0202 0301 0505 0506 0606 0815 0907 0908 0909 1003 1010 1230",
    2034: "0220 0221 0301 0501 0505 0525 0606 0815 0926 0927 0928 1003 1009 1225 1229",
    2035: "0101 0207 0208 0209 0301 0501 0507 0515 0606 0815 0917 0918 1003 1009 1225 1231",
    2036: "0101 0128 0129 0130 0303 0501 0505 0606 0815 1003 1006 1009 1225 1231",
}

#: per year, the sessions whose hours are not the regular ones (MMDD=HHMM-HHMM)
HOURS: Dict[int, str] = {
    2006: "0102=1000-1500 1116=1000-1600",
    2007: "0102=1000-1500 1115=1000-1600",
    2008: "0102=1000-1500 1113=1000-1600",
    2009: "0102=1000-1500 1112=1000-1600",
    2010: "0104=1000-1500 1118=1000-1600",
    2011: "0103=1000-1500 1110=1000-1600",
    2012: "0102=1000-1500 1108=1000-1600",
    2013: "0102=1000-1500 1107=1000-1600",
    2014: "0102=1000-1500 1113=1000-1600",
    2015: "0102=1000-1500 1112=1000-1600",
    2016: "0104=1000-1500 1117=1000-1630",
    2017: "0102=1000-1530 1116=1000-1630 1123=1000-1630",
    2018: "0102=1000-1530 1115=1000-1630",
    2019: "0102=1000-1530 1114=1000-1630",
    2020: "0102=1000-1530 1203=1000-1630",
    2021: "0104=1000-1530",
    2022: "0103=1000-1530",
    2023: "0102=1000-1530",
    2024: "0102=1000-1530",
    2025: "0102=1000-1530",
    2026: "0102=1000-1530",
    2027: "0104=1000-1530",
    2028: "0103=1000-1530",
    2029: "0102=1000-1530",
    2030: "0102=1000-1530",
    2031: "0102=1000-1530",
    2032: "0102=1000-1530",
    2033: "0103=1000-1530",
    2034: "0102=1000-1530",
    2035: "0102=1000-1530",
    2036: "0102=1000-1530",
}
# --- generated: end ---

_BEGIN, _END = "# --- generated: begin ---\n", "# --- generated: end ---\n"


def covers(day: date) -> bool:
    return FIRST_YEAR <= day.year <= LAST_YEAR


def regular_hours(day: date) -> Hours:
    return (time(9, 0), time(15, 0) if day < REGULAR_CLOSE_CHANGE else time(15, 30))


def _closed(year: int) -> frozenset:
    cached = _CLOSED_SETS.get(year)
    if cached is None:
        cached = _CLOSED_SETS[year] = frozenset(CLOSED.get(year, "").split())
    return cached


def _special(year: int) -> Dict[str, Hours]:
    cached = _HOURS_MAPS.get(year)
    if cached is None:
        cached = {}
        for item in HOURS.get(year, "").split():
            mmdd, span = item.split("=")
            o, c = span.split("-")
            cached[mmdd] = (time(int(o[:2]), int(o[2:])), time(int(c[:2]), int(c[2:])))
        _HOURS_MAPS[year] = cached
    return cached


_CLOSED_SETS: Dict[int, frozenset] = {}
_HOURS_MAPS: Dict[int, Dict[str, Hours]] = {}


def hours(day: date) -> Optional[Hours]:
    """XKRX's (open, close) of `day`, None when it is no session; `day` must be covered."""
    mmdd = f"{day.month:02d}{day.day:02d}"
    if day.weekday() >= 5 or mmdd in _closed(day.year):
        return None
    return _special(day.year).get(mmdd) or regular_hours(day)


def render(sessions: Dict[date, Hours], first: date, last: date, source: str) -> str:
    """The generated block for `sessions` (day -> hours) over first..last."""
    closed: Dict[int, List[str]] = {}
    special: Dict[int, List[str]] = {}
    day = first
    while day <= last:
        if day.weekday() < 5:
            mmdd = f"{day.month:02d}{day.day:02d}"
            got = sessions.get(day)
            if got is None:
                closed.setdefault(day.year, []).append(mmdd)
            elif got != regular_hours(day):
                special.setdefault(day.year, []).append(f"{mmdd}={got[0]:%H%M}-{got[1]:%H%M}")
        day += timedelta(days=1)
    lines = ["#: where the data came from", f'SOURCE = "{source}"',
             f"FIRST_YEAR, LAST_YEAR = {first.year}, {last.year}",
             "#: the regular close moved from 15:00 to 15:30 on this day",
             "REGULAR_CLOSE_CHANGE = date(2016, 8, 1)", "", "#: per year, the weekdays (MMDD) that are not sessions",
             "CLOSED: Dict[int, str] = {"]
    lines += [f'    {y}: "{" ".join(closed.get(y, []))}",' for y in range(first.year, last.year + 1)]
    lines += ["}", "", "#: per year, the sessions whose hours are not the regular ones (MMDD=HHMM-HHMM)",
              "HOURS: Dict[int, str] = {"]
    lines += [f'    {y}: "{" ".join(v)}",' for y, v in sorted(special.items())]
    return "\n".join(lines + ["}", ""])


def main() -> int:
    """Rewrite this module's generated block from exchange_calendars' XKRX."""
    import exchange_calendars

    from koabus.common.krx_calendar import LIB_END, LIB_START, library_sessions

    lib = library_sessions()
    sessions = {date.fromordinal(o): lib.hours(date.fromordinal(o)) for o in lib.ordinals}
    block = render(sessions, date(LIB_START.year, 1, 1), date(LIB_END.year, 12, 31),
                   f"exchange_calendars {exchange_calendars.__version__} XKRX")
    path = Path(__file__)
    text = path.read_text(encoding="utf-8")
    before, rest = text.split(_BEGIN, 1)
    after = rest.split(_END, 1)[1]
    path.write_text(before + _BEGIN + block + _END + after, encoding="utf-8")
    print(f"{path}: {len(sessions)} XKRX sessions, {sessions and min(sessions)}..{sessions and max(sessions)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
