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


def test_exam_day_2026_is_not_open_at_half_past_nine():
    """Issue 15: 2026-11-19 (수능) trades 10:00-16:30; the SDK said 09:00-15:30 and is_open at 09:30."""
    cal = calendar()
    opened, closed = cal.session_hours("2026-11-19")
    assert (opened.time(), closed.time()) == (time(10, 0), time(16, 30))
    assert not cal.is_open(datetime(2026, 11, 19, 9, 30, tzinfo=KST))
    assert cal.phase(datetime(2026, 11, 19, 9, 30, tzinfo=KST)).value == "pre_open_auction"
    assert cal.is_open(datetime(2026, 11, 19, 16, 25, tzinfo=KST))
    assert cal.phase(datetime(2026, 11, 19, 16, 25, tzinfo=KST)).value == "closing_auction"


def test_local_election_day_2026_is_a_holiday():
    cal = calendar()
    assert not cal.is_session("2026-06-03") and cal.session_hours(date(2026, 6, 3)) is None
    assert cal.last_session("2026-06-03") == date(2026, 6, 2) and cal.next_session("2026-06-02") == date(2026, 6, 4)
    assert not cal.is_open(datetime(2026, 6, 3, 11, 0, tzinfo=KST))


def test_dates_as_text_in_both_forms():
    cal = calendar()
    assert cal.is_session("20261119") and cal.session_hours("2026-11-19T12:00:00")[0].hour == 10
