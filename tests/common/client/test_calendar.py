"""KRX calendar: library sessions, the exam-day overlay, fallbacks outside the library's range."""
from __future__ import annotations

from datetime import date, datetime, time

from koabus.common.client.calendar import SessionOverride, TradingCalendar, calendar
from koabus.common.clock import KST


def test_regular_holiday_and_exam_day():
    cal = calendar()
    opened, closed = cal.session_hours("2024-06-03")
    assert (opened.time(), closed.time()) == (time(9, 0), time(15, 30))
    assert not cal.is_session("2024-12-25") and not cal.is_session("2024-06-08")  # holiday, Saturday
    opened, closed = cal.session_hours(date(2024, 11, 14))  # 수능: the library says 09:00
    assert (opened.time(), closed.time()) == (time(10, 0), time(16, 30))
    assert not cal.is_open(datetime(2024, 11, 14, 9, 30, tzinfo=KST))
    assert cal.is_open(datetime(2024, 11, 14, 16, 0, tzinfo=KST))


def test_last_next_previous_and_range():
    cal = calendar()
    assert cal.last_session("2024-12-25") == date(2024, 12, 24)
    assert cal.next_session("2024-12-27") == date(2024, 12, 30)
    assert cal.previous_session("2024-12-30") == date(2024, 12, 27)
    assert cal.sessions("2024-12-23", "2024-12-31") == [date(2024, 12, d) for d in (23, 24, 26, 27, 30)]


def test_overlay_can_close_a_day_and_covers_dates_beyond_the_library():
    cal = TradingCalendar([SessionOverride(date(2024, 6, 3), closed=True, note="extra holiday")])
    assert not cal.is_session("2024-06-03") and cal.last_session("2024-06-03") == date(2024, 5, 31)
    far = date(2035, 3, 5)  # a Monday past the library's last session: weekdays, regular hours
    assert cal.session_hours(far)[0] == datetime(2035, 3, 5, 9, 0, tzinfo=KST)
    assert not cal.is_session(date(2035, 3, 10))
