"""The history store and the sync's pure parts: coverage, what is missing, session assembly, the paced ETA.

Real Parquet files in a temp lake; the broker-facing tests are in tests/common/cli/test_sync.py.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pyarrow.parquet as pq
import pytest

from koabus.common.client.calendar import calendar
from koabus.common.clock import KST
from koabus.common.lake import layout
from koabus.common.lake.history import (
    Coverage,
    HistoryStore,
    last_final_session,
    missing_days,
    missing_ranges,
    store_arrow_schema,
)
from koabus.common.lake.history_sync import DayAssembler, paced_eta_s

CAL = calendar()
CODE = "005930"


def daily_row(day: date, close: int, first: bool = False):
    """One opt10081 row as the broker sends it typed."""
    return {"종목코드": CODE if first else "", "현재가": close, "거래량": 1000 + close, "거래대금": close // 10,
            "일자": day.isoformat(), "시가": close - 100, "고가": close + 200, "저가": close - 300,
            "수정주가구분": None, "수정비율": None, "대업종구분": "", "소업종구분": "", "종목정보": "",
            "수정주가이벤트": "", "전일종가": None}


def minute_row(day: date, hhmm: str, close: int = 70000):
    stamp = datetime(day.year, day.month, day.day, int(hhmm[:2]), int(hhmm[2:]), tzinfo=KST).isoformat()
    return {"현재가": close, "거래량": 10, "체결시간": stamp, "시가": close, "고가": close, "저가": close,
            "수정주가구분": None, "수정비율": None, "대업종구분": "", "소업종구분": "", "종목정보": "",
            "수정주가이벤트": "", "전일종가": None}


# ---- coverage and planning

def test_coverage_merges_adjacent_ranges_and_reports_holes():
    cov = Coverage().add(date(2025, 5, 1), date(2025, 5, 10)).add(date(2025, 5, 11), date(2025, 5, 20))
    assert cov.ranges == ((date(2025, 5, 1), date(2025, 5, 20)),)
    cov = cov.add(date(2025, 6, 1), date(2025, 6, 5))
    assert cov.holes(date(2025, 4, 28), date(2025, 6, 10)) == [
        (date(2025, 4, 28), date(2025, 4, 30)), (date(2025, 5, 21), date(2025, 5, 31)),
        (date(2025, 6, 6), date(2025, 6, 10))]
    assert Coverage.from_json(cov.to_json()) == cov
    assert Coverage.from_json("not json") == Coverage()


def test_last_final_session_never_the_current_or_unsettled_session():
    monday_open = datetime(2025, 6, 2, 9, 5, tzinfo=KST)
    assert last_final_session(monday_open, CAL) == date(2025, 5, 30)  # Monday is trading: Friday
    friday = date(2025, 5, 30)
    close = CAL.session_hours(friday)[1]
    assert last_final_session(close + timedelta(hours=1), CAL) == date(2025, 5, 29)  # after-hours still on
    assert last_final_session(close + timedelta(hours=3), CAL) == friday
    assert last_final_session(datetime(2025, 5, 31, 12, 0, tzinfo=KST), CAL) == friday  # Saturday


def test_missing_ranges_skip_holes_without_a_session():
    covered = Coverage().add(date(2025, 5, 19), date(2025, 5, 30))  # Mon..Fri
    # until Sunday: the hole is the weekend only, nothing to ask
    assert missing_ranges(covered, date(2025, 5, 19), date(2025, 6, 1), CAL) == []
    # since a week earlier and until Monday 2 June (not a holiday): two holes, newest first
    got = missing_ranges(covered, date(2025, 5, 12), date(2025, 6, 2), CAL)
    assert got == [(date(2025, 5, 31), date(2025, 6, 2)), (date(2025, 5, 12), date(2025, 5, 18))]


def test_missing_days_are_the_sessions_without_a_file():
    have = {date(2025, 5, 27), date(2025, 5, 28)}
    # 2025-06-03 was an election holiday in Korea; weekends are never sessions
    days = missing_days(have, date(2025, 5, 26), date(2025, 6, 4), CAL)
    assert days == [d for d in CAL.sessions(date(2025, 5, 26), date(2025, 6, 4)) if d not in have]
    assert date(2025, 5, 27) not in days and date(2025, 5, 31) not in days and date(2025, 5, 26) in days


# ---- assembling minute sessions from pages

def test_day_assembler_completes_a_session_only_when_an_older_row_proves_it():
    today, fri, thu, wed = date(2025, 6, 2), date(2025, 5, 30), date(2025, 5, 29), date(2025, 5, 28)
    asm = DayAssembler([wed, thu, fri])
    # page 1: today's unfinished session (not wanted), Friday, the end of Thursday
    done = asm.feed([minute_row(today, "0905"), minute_row(fri, "1530"), minute_row(fri, "0901"),
                     minute_row(thu, "1530")])
    assert [(d, len(r)) for d, r in done] == [(fri, 2)]
    # page 2 repeats the boundary row (the later copy wins), finishes Thursday, starts Wednesday
    done = asm.feed([minute_row(thu, "1530", close=70100), minute_row(thu, "0901"), minute_row(wed, "1530")])
    assert [(d, len(r)) for d, r in done] == [(thu, 2)]
    assert {r["체결시간"][11:16]: r["현재가"] for r in done[0][1]}["15:30"] == 70100
    assert asm.finish() == [(wed, [minute_row(wed, "1530")])]


def test_day_assembler_marks_wanted_sessions_without_rows_empty():
    fri, thu, wed, tue = date(2025, 5, 30), date(2025, 5, 29), date(2025, 5, 28), date(2025, 5, 27)
    asm = DayAssembler([tue, wed, thu, fri])
    # trading halted on Friday and Wednesday: the first row is Thursday's, the next Tuesday's
    done = asm.feed([minute_row(thu, "1530"), minute_row(tue, "1530")])
    assert [(d, len(r)) for d, r in done] == [(fri, 0), (thu, 1), (wed, 0)]
    assert [(d, len(r)) for d, r in asm.finish()] == [(tue, 1)]
    nothing = DayAssembler([tue, wed])
    assert nothing.feed([]) == [] and [(d, len(r)) for d, r in nothing.finish()] == [(wed, 0), (tue, 0)]


# ---- the ETA replays the pacing windows

def test_paced_eta_follows_the_windows_not_an_average():
    windows = [(5, 1.0), (5, 18.0)]
    # 12 requests from a quiet start: 5 at once, 5 more when the 18 s window frees, 2 after another 18 s
    assert paced_eta_s(12, windows, [], now_s=100.0) == pytest.approx(36.0)
    # 5 were just sent: the next goes 18 s after the first of them
    assert paced_eta_s(1, windows, [99.0] * 5, now_s=100.0) == pytest.approx(17.0)
    # the broker's current wait and others' queued calls come first
    assert paced_eta_s(1, [(1, 2.0)], [], now_s=0.0, wait_s=3.0, queued_ahead=2) == pytest.approx(7.0)
    assert paced_eta_s(0, windows, [99.0] * 5, now_s=100.0) == 0.0


# ---- the store

@pytest.fixture
def store(tmp_path):
    return HistoryStore(tmp_path / "lake", durable=False)


def test_daily_rows_round_trip_as_the_broker_sent_them(store):
    days = [date(2025, 5, 30), date(2025, 5, 29), date(2025, 5, 28)]
    rows = [daily_row(d, 70000 + i, first=(i == 0)) for i, d in enumerate(days)]
    assert store.write_daily(CODE, rows, (date(2025, 5, 26), date(2025, 5, 30))) == 3
    path = layout.file_path(store.root, layout.HISTORY_DAILY, None, "bars", code=CODE)
    assert pq.read_schema(str(path)).names == store_arrow_schema(layout.HISTORY_DAILY).names
    assert store.daily_coverage(CODE).ranges == ((date(2025, 5, 26), date(2025, 5, 30)),)
    back = store.wire_rows(layout.HISTORY_DAILY, store.read(layout.HISTORY_DAILY, CODE, date(2025, 5, 1),
                                                              date(2025, 6, 1)))
    assert back == rows
    part = store.read(layout.HISTORY_DAILY, CODE, date(2025, 5, 29), date(2025, 5, 29))
    assert part.column("date").to_pylist() == [date(2025, 5, 29)]


def test_daily_writes_merge_without_duplicates_and_leave_no_temp_files(store):
    store.write_daily(CODE, [daily_row(date(2025, 5, 29), 1), daily_row(date(2025, 5, 28), 2)],
                      (date(2025, 5, 28), date(2025, 5, 29)))
    store.write_daily(CODE, [daily_row(date(2025, 5, 30), 3), daily_row(date(2025, 5, 29), 4)],
                      (date(2025, 5, 29), date(2025, 5, 30)))
    data = store.read(layout.HISTORY_DAILY, CODE, date(2025, 1, 1), date(2025, 12, 31))
    assert data.column("date").to_pylist() == [date(2025, 5, 28), date(2025, 5, 29), date(2025, 5, 30)]
    assert data.column("close").to_pylist() == [2, 4, 3]  # the newer answer for the 29th replaced the older
    assert store.daily_coverage(CODE).ranges == ((date(2025, 5, 28), date(2025, 5, 30)),)
    assert not list(store.root.rglob("*.tmp"))


def test_minute_sessions_are_present_once_written_even_empty(store):
    day, halted = date(2025, 5, 29), date(2025, 5, 28)
    rows = [minute_row(day, "1530"), minute_row(day, "0901")]
    assert store.write_minute_day(CODE, 1, day, rows) == 2
    assert store.write_minute_day(CODE, 1, halted, []) == 0
    assert store.minute_days(CODE, 1) == {day, halted}
    assert store.minute_days(CODE, 5) == set()
    table = layout.history_minute_table(1)
    data = store.read(table, CODE, halted, day)
    assert [t.strftime("%H%M") for t in data.column("time").to_pylist()] == ["0901", "1530"]
    assert store.wire_rows(table, data) == rows  # newest first, as the TR pages them


def test_a_killed_writers_temp_file_is_neither_data_nor_coverage(store):
    day = date(2025, 5, 29)
    final = layout.file_path(store.root, layout.history_minute_table(1), day.isoformat(), "bars", code=CODE)
    final.parent.mkdir(parents=True)
    leftover = final.with_name(final.name + ".999999999.tmp")  # a pid that cannot be running
    leftover.write_bytes(b"half a parquet file")
    assert store.minute_days(CODE, 1) == set()
    assert store.clean(layout.history_minute_table(1), CODE) == 1 and not leftover.exists()
