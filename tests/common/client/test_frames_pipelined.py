"""The SDK builds a paged TR's frame page by page (FrameBuilder) and shapes bars on the time column's
integers (bars_of): both give exactly the frames the whole-rows builders give, the row-by-row
reference included, and fall back to them for what a concatenation could not reproduce."""
from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from koabus.common.client import frames
from koabus.common.client.frames import FrameBuilder, bars_of, multi_frame

DAILY = "opt10081"


def daily_page(newest: date, count: int, first: bool = True, **overrides):
    """Rows shaped like the broker's typed opt10081 page, newest first."""
    rows = []
    for i in range(count):
        day = newest - timedelta(days=i)
        price = 50_000 + (i * 37) % 9_000
        row = {"종목코드": "005930" if first and i == 0 else "", "현재가": price, "거래량": 1_000 + i,
               "거래대금": 10 * price, "일자": day.isoformat(), "시가": price - 100, "고가": price + 200,
               "저가": price - 300, "수정주가구분": None, "수정비율": None, "대업종구분": "", "소업종구분": "",
               "종목정보": "", "수정주가이벤트": "", "전일종가": None}
        row.update({key: value(i) if callable(value) else value for key, value in overrides.items()})
        rows.append(row)
    return rows


def paged(pages_rows, english=False, tr=DAILY):
    builder = FrameBuilder(tr, english)
    for rows in pages_rows:
        builder.add(rows)
    return builder


def assert_same(frame, reference):
    pd.testing.assert_frame_equal(frame, reference, check_exact=True)
    assert list(frame.dtypes) == list(reference.dtypes)


@pytest.mark.parametrize("english", [False, True])
def test_pages_concatenated_equal_the_whole_rows_frame_and_the_row_by_row_one(english):
    pages = [daily_page(date(2025, 5, 30), 600), daily_page(date(2023, 10, 7), 600, first=False),
             daily_page(date(2022, 2, 15), 57, first=False)]
    rows = [r for page in pages for r in page]
    builder = paged(pages, english)
    assert builder._concatenable and len(builder._frames) == 3  # the fast path is the one under test
    fields = frames.fields_of(DAILY)
    assert_same(builder.frame(), multi_frame(DAILY, rows, english))
    assert_same(builder.frame(), frames._multi_frame_rowwise(fields, rows, english))


@pytest.mark.parametrize("case", ["int64 then Int64", "a text in a number column", "missing key",
                                  "an odd date", "an empty page", "one page", "no rows"])
def test_pages_that_could_differ_fall_back_to_the_whole_rows_frame(case):
    first = daily_page(date(2025, 5, 30), 40)
    second = {
        "int64 then Int64": daily_page(date(2025, 1, 1), 30, first=False, 거래량=lambda i: None if i == 3 else i),
        "a text in a number column": daily_page(date(2025, 1, 1), 30, first=False, 시가=lambda i: "x" if i else 1),
        "missing key": [{k: v for k, v in r.items() if k != "고가"} for r in daily_page(date(2025, 1, 1), 30)],
        "an odd date": daily_page(date(2025, 1, 1), 30, first=False, 일자=lambda i: "2025/01/01" if i == 2 else
                                  (date(2025, 1, 1) - timedelta(days=i)).isoformat()),
        "an empty page": [],
        "one page": None,
        "no rows": None,
    }[case]
    pages = [[]] if case == "no rows" else [first] if second is None else [first, second]
    rows = [r for page in pages for r in page]
    builder = paged(pages)
    assert_same(builder.frame(), multi_frame(DAILY, rows))
    assert_same(builder.frame(), frames._multi_frame_rowwise(frames.fields_of(DAILY), rows, False))


def test_a_tr_without_metadata_keeps_the_broker_columns():
    pages = [[{"b": 1, "a": "x"}], [{"a": "y", "c": 2.5}]]
    rows = [r for page in pages for r in page]
    assert_same(paged(pages, tr="opt99999").frame(), multi_frame("opt99999", rows))


def test_the_kwfid_builder_equals_the_whole_rows_frame():
    fields = frames.fields_of("optkwfid")
    assert fields
    chunks = [[{f.name: _value(f.kind, i + 100 * c) for f in fields} for i in range(n)]
              for c, n in enumerate((100, 100, 7))]
    rows = [r for chunk in chunks for r in chunk]
    builder = paged(chunks, tr="optkwfid")
    # concatenated: its time-of-day columns (object dtype) hold times and blanks only
    assert builder._concatenable and len(builder._frames) == 3
    assert_same(builder.frame(), multi_frame("optkwfid", rows))


@pytest.mark.parametrize("case", ["blank times", "a text among the times"])
def test_kwfid_time_columns_concatenate_only_when_they_hold_times(case):
    fields = frames.fields_of("optkwfid")
    times = [f.name for f in fields if f.kind in ("time", "maybe_time")]
    assert times
    chunks = [[{f.name: _value(f.kind, i + 100 * c) for f in fields} for i in range(n)] for c, n in enumerate((50, 20))]
    for row in chunks[1]:
        row[times[0]] = None if case == "blank times" else "장마감"
    rows = [r for chunk in chunks for r in chunk]
    builder = paged(chunks, tr="optkwfid")
    assert builder._concatenable is (case == "blank times")
    assert_same(builder.frame(), multi_frame("optkwfid", rows))
    assert_same(builder.frame(), frames._multi_frame_rowwise(fields, rows, False))


def _value(kind, i):
    if kind in ("int", "signed", "price"):
        return (i * 7919) % 100_000 - (50_000 if kind == "signed" else 0)
    if kind == "float":
        return i / 8
    if kind == "date":
        return (date(2025, 5, 30) - timedelta(days=i % 300)).isoformat()
    if kind in ("time", "maybe_time"):
        return f"{9 + i % 6:02d}:{i % 60:02d}:00"
    return f"t{i % 13}"


BOUNDS = [(None, None), (pd.Timestamp("2024-06-01", tz="Asia/Seoul"), None),
          (None, pd.Timestamp("2024-06-30 23:59:59", tz="Asia/Seoul")),
          (pd.Timestamp("2024-05-03", tz="Asia/Seoul"), pd.Timestamp("2024-05-20", tz="Asia/Seoul"))]


@pytest.mark.parametrize("start,end", BOUNDS)
@pytest.mark.parametrize("english", [False, True])
def test_bars_of_equals_the_pandas_chain(start, end, english):
    # duplicated days (the later row wins), a missing day, pages out of order, the code in row 0 only
    rows = daily_page(date(2024, 7, 1), 90) + daily_page(date(2024, 6, 10), 20, first=False, 거래량=5)
    rows[7]["일자"] = None
    frame = multi_frame(DAILY, rows, english)
    column = "date" if english else "일자"
    assert_same(bars_of(DAILY, frame, english, start, end),
                frames._bars_reference(frame.copy(), column, start, end))
    assert_same(frames.bars(DAILY, rows, english, start, end), bars_of(DAILY, frame, english, start, end))


def test_bars_of_keeps_a_code_column_with_several_codes_and_takes_any_frame():
    rows = daily_page(date(2024, 7, 1), 30, 종목코드=lambda i: "005930" if i % 2 else "000660")
    frame = multi_frame(DAILY, rows)
    bars = bars_of(DAILY, frame)
    assert "종목코드" in bars.columns
    assert_same(bars, frames._bars_reference(frame.copy(), "일자", None, None))
    shuffled = frame.iloc[::-1]  # not a RangeIndex: the pandas chain
    assert_same(bars_of(DAILY, shuffled), frames._bars_reference(shuffled.copy(), "일자", None, None))


def bars_paged(pages_rows, english=False, start=None, end=None):
    builder = frames.BarsBuilder(DAILY, english, start, end)
    for rows in pages_rows:
        builder.add(rows)
    return builder


@pytest.mark.parametrize("start,end", BOUNDS + [(pd.Timestamp("2025-01-01", tz="Asia/Seoul"), None)])
@pytest.mark.parametrize("english", [False, True])
def test_bars_built_page_by_page_equal_the_bars_of_all_the_rows(start, end, english):
    # newest page first, as a chart TR pages; a blank time and a repeated day inside one page
    pages = [daily_page(date(2024, 7, 1), 30), daily_page(date(2024, 5, 31), 30, first=False),
             daily_page(date(2024, 4, 30), 12, first=False)]
    pages[1][4]["일자"] = None
    pages[2][5]["일자"] = pages[2][4]["일자"]
    rows = [r for page in pages for r in page]
    builder = bars_paged(pages, english, start, end)
    assert builder._in_order and len(builder._bars) == 3  # the concatenating path is the one under test
    reference = frames._bars_reference(multi_frame(DAILY, rows, english), "date" if english else "일자",
                                       start, end)
    assert_same(builder.bars(), reference)
    assert_same(builder.bars(), frames.bars(DAILY, rows, english, start, end))


@pytest.mark.parametrize("case", ["overlapping pages", "older page first", "several codes", "an empty page",
                                  "a page of blank times", "a page another dtype"])
def test_bars_of_pages_that_could_differ_come_from_the_whole_frame(case):
    first = daily_page(date(2024, 7, 1), 30)
    second = {
        "overlapping pages": daily_page(date(2024, 6, 15), 30, first=False),
        "older page first": daily_page(date(2024, 9, 1), 30, first=False),
        "several codes": daily_page(date(2024, 5, 31), 30, 종목코드="000660"),
        "an empty page": [],
        "a page of blank times": daily_page(date(2024, 5, 31), 5, first=False, 일자=None),
        "a page another dtype": daily_page(date(2024, 5, 31), 30, first=False, 거래량=lambda i: None if i else 1),
    }[case]
    rows = first + second
    start = pd.Timestamp("2024-06-10", tz="Asia/Seoul")
    for bounds in ((None, None), (start, None)):
        got = bars_paged([first, second], False, *bounds).bars()
        assert_same(got, frames._bars_reference(multi_frame(DAILY, rows), "일자", *bounds))
        if case == "several codes":  # kept while both codes are in the bars
            assert ("종목코드" in got.columns) is (bounds[0] is None)


@pytest.mark.parametrize("rows, sliced", [
    ([4, 3, 2, 1, 0], True), ([9, 8, 7], True), ([0, 1, 2, 3], True), ([5, 6], True),
    ([4, 3, 1, 0], False), ([0, 2, 4], False), ([3, 3, 3], False), ([2], False), ([], False),
    ([1, 0, 1, 0], False)])
def test_consecutive_bar_rows_are_taken_as_a_slice_with_the_same_result(rows, sliced):
    """A chart page's bars are its rows reversed: `_take_bars` takes them as a slice, which must pick
    exactly the rows the positions pick (down to row 0, and only for consecutive runs)."""
    frame = pd.DataFrame({"n": range(10), "s": pd.array([f"r{i}" for i in range(10)], dtype="str")})
    positions = np.array(rows, dtype=np.intp)
    taken = frames._as_slice(positions)
    assert isinstance(taken, slice) is sliced
    pd.testing.assert_frame_equal(frame.iloc[taken].reset_index(drop=True),
                                  frame.iloc[positions].reset_index(drop=True), check_exact=True)
