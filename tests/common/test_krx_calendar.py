"""The one KRX calendar: every special day of 2024-2026 by name, the stdlib tables against XKRX day by day,
the phases of a late-open day, and a broker-like process without exchange_calendars or pandas."""
from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from koabus.common import krx_history
from koabus.common.clock import KST
from koabus.common.krx_calendar import (
    HOLIDAYS,
    OVERLAY,
    TABLE_YEARS,
    KrxCalendar,
    Phase,
    SpecialDay,
    library_sessions,
    stdlib_hours,
)

T = time
CLOSED = None

#: every special day of 2024-2026 and what KRX does on it (open, close) or CLOSED
SPECIAL_2024_2026 = {
    "2024-01-02 first trading day of 2024 opens 10:00": (date(2024, 1, 2), (T(10), T(15, 30))),
    "2024-04-10 22nd National Assembly election": (date(2024, 4, 10), CLOSED),
    "2024-10-01 Armed Forces Day temporary holiday": (date(2024, 10, 1), CLOSED),
    "2024-11-14 수능 (2025학년도) 10:00-16:30": (date(2024, 11, 14), (T(10), T(16, 30))),
    "2024-12-31 year-end closure": (date(2024, 12, 31), CLOSED),
    "2025-01-02 first trading day of 2025 opens 10:00": (date(2025, 1, 2), (T(10), T(15, 30))),
    "2025-01-27 temporary holiday before Seollal": (date(2025, 1, 27), CLOSED),
    "2025-06-03 21st presidential election": (date(2025, 6, 3), CLOSED),
    "2025-11-13 수능 (2026학년도) 10:00-16:30": (date(2025, 11, 13), (T(10), T(16, 30))),
    "2025-12-31 year-end closure": (date(2025, 12, 31), CLOSED),
    "2026-01-02 first trading day of 2026 opens 10:00": (date(2026, 1, 2), (T(10), T(15, 30))),
    "2026-06-03 9th local elections": (date(2026, 6, 3), CLOSED),
    "2026-11-19 수능 (2027학년도) 10:00-16:30": (date(2026, 11, 19), (T(10), T(16, 30))),
    "2026-12-31 year-end closure": (date(2026, 12, 31), CLOSED),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_2024_2026))
def test_each_special_day_of_2024_to_2026(name):
    day, expected = SPECIAL_2024_2026[name]
    assert KrxCalendar().hours(day) == expected, name
    assert KrxCalendar(library=False).hours(day) == expected, name  # the broker without the library
    note = {s.day: s.note for s in OVERLAY}[day]
    assert note, f"{name}: the overlay names the day"


def test_the_overlay_holds_exactly_the_named_days_of_2024_to_2026():
    in_overlay = {s.day for s in OVERLAY if 2024 <= s.day.year <= 2026}
    assert in_overlay == {day for day, _ in SPECIAL_2024_2026.values()}


def _days(first: date, last: date):
    return (first + timedelta(days=i) for i in range((last - first).days + 1))


def test_stdlib_tables_agree_with_xkrx_plus_overlay_on_every_day_of_the_table_years():
    lib = library_sessions()
    assert lib is not None, "exchange_calendars is a declared dependency of the client and sim extras"
    stdlib, overlay = KrxCalendar(library=False), {s.day: s for s in OVERLAY}
    for day in _days(date(TABLE_YEARS[0], 1, 1), date(TABLE_YEARS[-1], 12, 31)):
        hours = lib.hours(day)
        special = overlay.get(day)
        if special is not None:
            hours = None if special.closed else (special.open or hours[0], special.close or hours[1])
        assert stdlib.hours(day) == hours, day


def test_regular_holidays_are_weekdays_xkrx_knows_and_stdlib_rules_alone_match_xkrx():
    lib = library_sessions()
    for day, name in HOLIDAYS.items():
        assert day.weekday() < 5 and lib.hours(day) is None, (day, name)
    # without the overlay the table years still give XKRX's own answers, first-day 10:00 opens included
    for day in _days(date(2024, 1, 1), date(2027, 12, 31)):
        if day not in {s.day for s in OVERLAY}:
            assert stdlib_hours(day) == lib.hours(day), day


def test_late_open_day_phases_and_market_state():
    cal = KrxCalendar()
    exam = [(T(8, 59), Phase.CLOSED), (T(9, 15), Phase.PRE_MARKET), (T(9, 30), Phase.PRE_OPEN_AUCTION),
            (T(10, 0), Phase.CONTINUOUS), (T(16, 20), Phase.CLOSING_AUCTION), (T(16, 30), Phase.POST_CLOSE),
            (T(16, 45), Phase.AFTER_HOURS_CLOSE), (T(17, 0), Phase.AFTER_HOURS_SINGLE), (T(19, 0), Phase.CLOSED)]
    for hm, phase in exam:
        assert cal.phase(datetime.combine(date(2026, 11, 19), hm, KST).timestamp()) is phase, hm
    state = cal.market_state(datetime(2026, 11, 19, 9, 30, tzinfo=KST).timestamp())
    assert state == {"market_phase": "pre_open_auction",
                     "market_session": {"date": "2026-11-19", "open": "2026-11-19T10:00:00+09:00",
                                        "close": "2026-11-19T16:30:00+09:00"}}
    closed = cal.market_state(datetime(2026, 6, 3, 11, 0, tzinfo=KST).timestamp())  # local elections
    assert closed == {"market_phase": "closed", "market_session": None}


def test_given_overlay_lays_over_the_standard_one():
    extra = KrxCalendar([SpecialDay(date(2026, 7, 17), closed=True, note="Constitution Day, if made a holiday")])
    assert not extra.is_session(date(2026, 7, 17)) and KrxCalendar().is_session(date(2026, 7, 17))
    assert extra.hours(date(2026, 11, 19)) == (T(10), T(16, 30))  # the standard overlay still applies


def test_the_history_table_is_xkrx_on_every_day_it_covers():
    lib = library_sessions()
    first, last = date(krx_history.FIRST_YEAR, 1, 1), date(krx_history.LAST_YEAR, 12, 31)
    assert lib.covers(first + timedelta(days=1)) and lib.covers(last - timedelta(days=1))
    for day in _days(first, last):
        assert krx_history.hours(day) == lib.hours(day), day


def test_the_history_block_is_what_the_generator_writes_today():
    lib = library_sessions()
    sessions = {date.fromordinal(o): lib.hours(date.fromordinal(o)) for o in lib.ordinals}
    block = krx_history.render(sessions, date(krx_history.FIRST_YEAR, 1, 1), date(krx_history.LAST_YEAR, 12, 31),
                               krx_history.SOURCE)
    text = Path(krx_history.__file__).read_text(encoding="utf-8")
    assert text.split("# --- generated: begin ---\n")[1].split("# --- generated: end ---\n")[0] == block


def test_years_outside_the_tables_use_xkrx_or_the_rules():
    lib_cal, rules = KrxCalendar(), KrxCalendar(library=False)
    assert not lib_cal.is_session(date(2015, 2, 18))  # Seollal 2015: XKRX knows lunar holidays
    assert rules.is_session(date(2015, 2, 18))  # the solar rules do not
    assert rules.hours(date(2040, 1, 2)) == (T(10), T(15, 30))  # first weekday session of 2040
    assert not rules.is_session(date(2040, 12, 25)) and rules.is_session(date(2040, 3, 7))


BROKER_LIKE = r"""
import builtins, sys
real_import = builtins.__import__
def no_heavy(name, *a, **k):
    if name.split('.')[0] in ('exchange_calendars', 'pandas', 'numpy'):
        raise ImportError('not on this broker: ' + name)
    return real_import(name, *a, **k)
builtins.__import__ = no_heavy
from datetime import date, datetime
from koabus.common.clock import KST
from koabus.common.krx_calendar import KrxCalendar
cal = KrxCalendar()
print(cal.hours(date(2026, 11, 19)), cal.is_session(date(2026, 6, 3)), cal.is_session(date(2015, 2, 18)),
      cal.market_state(datetime(2026, 11, 19, 9, 30, tzinfo=KST).timestamp())['market_phase'])
"""


def test_without_exchange_calendars_and_pandas_the_module_answers_from_the_stdlib():
    out = subprocess.run([sys.executable, "-c", BROKER_LIKE], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # Seollal 2015 (a lunar holiday) is known without the library too: the history table is stdlib data
    assert out.stdout.split() == ["(datetime.time(10,", "0),", "datetime.time(16,", "30))", "False", "False",
                                  "pre_open_auction"]
