"""Sessions, holidays, the overlay and the phases of a day."""
from __future__ import annotations

from datetime import date, timedelta

from koabus.services.sim.market.calendar import KrxCalendar, Phase

from .conftest import kst

CAL = KrxCalendar()


def test_holidays_are_closed():
    assert not CAL.is_session(date(2025, 1, 1))
    assert not CAL.is_session(date(2024, 10, 3))
    assert not CAL.is_session(date(2025, 3, 8))  # Saturday
    assert not CAL.is_session(date(2026, 6, 3))  # local elections (overlay)
    assert CAL.is_session(date(2025, 3, 6))


def test_previous_and_next_session_skip_holidays():
    assert CAL.previous_session(date(2025, 1, 2)) == date(2024, 12, 30)
    assert CAL.next_session(date(2024, 10, 2)) == date(2024, 10, 4)
    days = CAL.sessions_between(date(2024, 9, 30), date(2024, 10, 4))
    assert days == [date(2024, 9, 30), date(2024, 10, 2), date(2024, 10, 4)]


def test_phases_of_a_normal_day():
    expect = [
        ((7, 59), Phase.CLOSED), ((8, 10), Phase.PRE_MARKET), ((8, 30), Phase.PRE_OPEN_AUCTION),
        ((8, 59, 59), Phase.PRE_OPEN_AUCTION), ((9, 0), Phase.CONTINUOUS), ((15, 19), Phase.CONTINUOUS),
        ((15, 20), Phase.CLOSING_AUCTION), ((15, 30), Phase.POST_CLOSE), ((15, 45), Phase.AFTER_HOURS_CLOSE),
        ((16, 0), Phase.AFTER_HOURS_SINGLE), ((17, 59), Phase.AFTER_HOURS_SINGLE), ((18, 0), Phase.CLOSED),
    ]
    for hm, phase in expect:
        assert CAL.phase(kst(2025, 3, 6, *hm).timestamp()) is phase, hm


def test_exam_day_overlay_shifts_the_day_by_an_hour():
    times = CAL.session_times(date(2024, 11, 14))
    assert (times.open.hour, times.close.hour, times.close.minute) == (10, 16, 30)
    assert CAL.phase(kst(2024, 11, 14, 9, 15).timestamp()) is Phase.PRE_MARKET
    assert CAL.phase(kst(2024, 11, 14, 9, 45).timestamp()) is Phase.PRE_OPEN_AUCTION
    assert CAL.phase(kst(2024, 11, 14, 16, 25).timestamp()) is Phase.CLOSING_AUCTION
    assert CAL.phase(kst(2024, 11, 14, 18, 30).timestamp()) is Phase.AFTER_HOURS_SINGLE


def test_first_trading_day_opens_late():
    times = CAL.session_times(date(2025, 1, 2))
    assert times.open.hour == 10 and times.close.hour == 15


def test_weekend_belongs_to_the_last_session():
    assert CAL.session_date(kst(2025, 3, 8, 12, 0).timestamp()) == date(2025, 3, 7)
    assert CAL.phase(kst(2025, 3, 8, 12, 0).timestamp()) is Phase.CLOSED


def test_range_beyond_the_library_falls_back_to_weekdays():
    assert CAL.is_session(date(2040, 3, 7))  # a Wednesday
    assert not CAL.is_session(date(2040, 3, 10))  # a Saturday
    assert not CAL.is_session(date(2040, 1, 1))
    assert len(CAL.sessions_between(date(2014, 1, 1), date(2028, 12, 31))) > 3600


def test_exam_day_2026_and_local_elections():
    times = CAL.session_times(date(2026, 11, 19))
    assert (times.open.hour, times.close.hour, times.close.minute) == (10, 16, 30)
    assert CAL.phase(kst(2026, 11, 19, 9, 30).timestamp()) is Phase.PRE_OPEN_AUCTION
    assert CAL.phase(kst(2026, 11, 19, 10, 30).timestamp()) is Phase.CONTINUOUS
    assert CAL.session_times(date(2026, 6, 3)) is None


def test_simulator_and_sdk_agree_on_every_day_of_2024_to_2026():
    """One calendar: the simulator's sessions are the SDK's, hour for hour."""
    from koabus.common.client.calendar import calendar

    sdk = calendar()
    day = date(2024, 1, 1)
    while day.year <= 2026:
        times, hours = CAL.session_times(day), sdk.session_hours(day)
        assert (times is None) == (hours is None), day
        if times is not None:
            assert (times.open, times.close) == hours, day
        day += timedelta(days=1)
