"""The column-wise TR DataFrame builder gives exactly what the per-row reference builder gives."""
from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from koabus.common.client import frames
from koabus.metadata import catalog

MISSING = object()  # a key the row does not have

# per kind: values as the broker sends them typed, as raw OCX text, blanks, signs, and garbage
GOOD = {
    "int": [0, 1225, -3, 10**15, "  1225", "-00000001234", "+17", "1,234", "2650.12", "7e3"],
    "signed": [-400, 400, 0, "-400", "+400", "-0.52", " 12 "],
    "price": [77000, -77000, 0, 2650.12, -2650.12, "-77000", "+99", "-0", "  -2650.12", "00000070100"],
    "float": [-0.52, 0.0, 3, 1.5e300, " -0.52", "+1.25", "0", "1e-3"],
    "str": ["abc", "  padded  ", "", "삼성전자", "A005930"],
    "code": ["005930", "A005930", "*A005930", " 000660 ", "KR7005930003", ""],
    "date": ["2025-05-30", "20250530", " 2025-05-29 ", "00000000", "2016-02-29", "20240229"],
    "datetime": ["2025-05-30T09:01:00+09:00", "20250530090100", "202505300901", "2025-05-30T00:01:00+00:00",
                 "00000000000000", "2025-05-30T09:01:00"],
    "time": ["09:01:00", "090100", "0901", "000000", "23:59:59"],
    "maybe_time": ["09:01:00", "000000", "153000"],
    "bool": ["1", "0", "Y", "n", True],
}
BLANKS = [None, "", "   ", MISSING, float("nan")]
GARBAGE = ["--", "+-123", "abc", "12ab", "+", "-", "2025-02-30", "20250230", "2025-0530", "9999999999",
           "１２３", "2025-05-30T25:00:00+09:00", "2025-05-30 09:01:00", 3.5, True, 2**70, -(2**63)]


def _row(fields, pick) -> dict:
    row = {}
    for field in fields:
        value = pick(field)
        if value is not MISSING:
            row[field.name] = value
    return row


def _assert_same(tr_code: str, rows, english: bool = False) -> pd.DataFrame:
    """multi_frame equals the per-row builder: dtypes, values, and the exact objects of object columns;
    when the per-row builder raises, the columnar one raises the same exception type."""
    fields = frames.fields_of(tr_code, "multi")
    try:
        expected = frames._multi_frame_rowwise(fields, list(rows), english)
    except Exception as exc:  # noqa: BLE001 - whatever the reference raises, the new path must raise too
        with pytest.raises(type(exc)):
            frames.multi_frame(tr_code, rows, english)
        return pd.DataFrame()
    actual = frames.multi_frame(tr_code, rows, english)
    pd.testing.assert_frame_equal(actual, expected, check_dtype=True, check_exact=True)
    for column in actual.columns:
        if actual[column].dtype == object:  # None vs NaN, 1 vs 1.0 and True vs 1 must not pass as equal
            assert [(type(v), repr(v)) for v in actual[column]] == [(type(v), repr(v)) for v in expected[column]]
    return actual


def _daily_rows(days: int, raw: bool) -> list:
    """Newest first like opt10081 pages: code in row 0 only, typed (broker) or raw OCX text."""
    rng = random.Random(7)
    rows, day, price = [], date(2025, 5, 30), 77000
    for i in range(days):
        price = max(100, price + rng.randint(-900, 900))
        values = {"종목코드": "005930" if i == 0 else "", "현재가": price, "거래량": rng.randint(0, 10**7),
                  "거래대금": rng.randint(0, 10**12), "일자": day.isoformat(), "시가": price - 100,
                  "고가": price + 300, "저가": price - 400, "수정주가구분": rng.choice([0, 1, 4]),
                  "수정비율": rng.choice([None, 0.5, 1.0]), "대업종구분": "", "소업종구분": "",
                  "종목정보": "", "수정주가이벤트": "", "전일종가": price - 50}
        if raw:
            values = {k: ("" if v is None else str(v)) for k, v in values.items()}
            values["일자"] = day.strftime("%Y%m%d")
            values["현재가"] = rng.choice("+-") + values["현재가"]
        rows.append(values)
        day -= timedelta(days=1 if day.weekday() else 3)
    return rows


def _minute_rows(minutes: int, raw: bool) -> list:
    rng = random.Random(9)
    rows, stamp = [], datetime(2025, 5, 30, 15, 30)
    for _ in range(minutes):
        price = rng.randint(70000, 80000)
        text = stamp.strftime("%Y%m%d%H%M%S") if raw else stamp.isoformat() + "+09:00"
        rows.append({"현재가": -price if rng.random() < 0.5 else price, "거래량": rng.randint(0, 5000),
                     "체결시간": text, "시가": price, "고가": price + 100, "저가": price - 100,
                     "수정주가구분": "", "수정비율": "", "대업종구분": "", "소업종구분": "", "종목정보": "",
                     "수정주가이벤트": "", "전일종가": 76000})
        stamp -= timedelta(minutes=1)
    return rows


@pytest.mark.parametrize("raw", [False, True], ids=["typed", "raw"])
@pytest.mark.parametrize("english", [False, True], ids=["korean", "english"])
def test_real_looking_bars_are_identical_and_take_the_columnar_path(raw, english):
    daily = _assert_same("opt10081", _daily_rows(600, raw), english)
    minute = _assert_same("opt10080", _minute_rows(400, raw), english)
    assert len(daily) == 600 and len(minute) == 400
    # the dates were typed in one go, not handed back to coerce
    assert frames._stamp_column("date", [r["일자"] for r in _daily_rows(5, raw)]) is not None
    assert frames._stamp_column("datetime", [r["체결시간"] for r in _minute_rows(5, raw)]) is not None


def test_bars_through_both_builders_are_identical(monkeypatch):
    rows = _daily_rows(300, raw=False) + _daily_rows(10, raw=True)  # duplicates: last one wins
    start, end = pd.Timestamp("2024-06-01", tz="Asia/Seoul"), pd.Timestamp("2025-03-01", tz="Asia/Seoul")
    columnar = frames.bars("opt10081", rows, True, start, end)
    monkeypatch.setattr(frames, "multi_frame",
                        lambda tr, r, english=False: frames._multi_frame_rowwise(frames.fields_of(tr), list(r),
                                                                                 english))
    pd.testing.assert_frame_equal(columnar, frames.bars("opt10081", rows, True, start, end), check_exact=True)


@pytest.mark.parametrize("tr_code", sorted(catalog().tr_codes()))
def test_every_catalog_tr_with_synthetic_rows(tr_code):
    fields = frames.fields_of(tr_code, "multi")
    rng = random.Random(tr_code)
    good = lambda f: rng.choice(GOOD.get(f.kind, ["x"]))  # noqa: E731
    typed_only = lambda f: rng.choice([v for v in GOOD.get(f.kind, ["x"]) if not isinstance(v, str)]  # noqa: E731
                                      or GOOD.get(f.kind, ["x"])[:1])
    blanks = lambda f: rng.choice(GOOD.get(f.kind, ["x"]) + BLANKS)  # noqa: E731
    anything = lambda f: rng.choice(GOOD.get(f.kind, ["x"]) + BLANKS + GARBAGE)  # noqa: E731
    for pick in (good, typed_only, blanks, anything):
        for count in (1, 3, 40):
            rows = [_row(fields, pick) for _ in range(count)]
            for english in (False, True):
                _assert_same(tr_code, rows, english)
    # one value form per column (the columnar fast paths), then one odd value dropped in
    for form in range(4):
        column_values = {f.name: [v for v in GOOD.get(f.kind, ["x"]) + BLANKS][form::4] or [None] for f in fields}
        rows = [_row(fields, lambda f, pool=column_values: rng.choice(pool[f.name])) for _ in range(30)]
        _assert_same(tr_code, rows)
        if rows and fields:
            rows[rng.randrange(len(rows))][rng.choice(fields).name] = rng.choice(GARBAGE)
            _assert_same(tr_code, rows, english=True)


def test_no_rows_unknown_tr_and_foreign_keys():
    _assert_same("opt10081", [])
    listed = _assert_same("opt10081", _daily_rows(3, raw=False))
    pd.testing.assert_frame_equal(frames.multi_frame("opt10081", iter(_daily_rows(3, raw=False))), listed)
    rows = [{"현재가": 5, "code": "x"}, {"현재가": -6, "current_price": 7}]  # English name as a foreign key
    _assert_same("opt10081", rows, english=True)
    _assert_same("opt10081", rows, english=False)
    counted = [defaultdict(int, row) for row in _daily_rows(4, raw=True)]  # no key read may add one
    counted[1].pop("수정비율")
    _assert_same("opt10081", counted)
    assert "수정비율" not in counted[1]
    unknown = frames.multi_frame("opt_not_in_catalog", [{"a": "1", "b": 2}, {"c": None}])
    assert list(unknown.columns) == ["a", "b", "c"] and unknown["a"].tolist()[0] == "1"


_TEXT = st.text(alphabet="0123456789+-.:, TAe*Z", max_size=16)
_VALUE = st.one_of(_TEXT, st.none(), st.just(MISSING), st.integers(-(2**65), 2**65),
                   st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.dates(date(1, 1, 1), date(9999, 12, 31)).map(lambda d: d.strftime("%Y%m%d")),
                   st.dates().map(date.isoformat),
                   st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)).map(
                       lambda d: d.replace(microsecond=0).isoformat() + "+09:00"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tr_code=st.sampled_from(["opt10081", "opt10080", "optkwfid", "opt10075"]),
       seed=st.integers(0, 2**32), values=st.lists(_VALUE, min_size=1, max_size=12),
       rows=st.integers(1, 12), english=st.booleans())
def test_hypothesis_values_are_typed_identically(tr_code, seed, values, rows, english):
    """Each column draws from a few generated values, so columns are often uniform (fast paths) and
    sometimes mixed (fallbacks)."""
    fields = frames.fields_of(tr_code, "multi")
    rng = random.Random(seed)
    pools = {f.name: rng.sample(values, min(len(values), rng.randint(1, 3))) for f in fields}
    table = [_row(fields, lambda f: rng.choice(pools[f.name])) for _ in range(rows)]
    _assert_same(tr_code, table, english)


def test_int64_columns_iterate_as_python_ints():
    """_fix_dtypes takes an int64 column as all-int without looking at each value (a shortcut both builders
    share); that is only the same answer because pandas hands back Python ints from int64 data."""
    series = pd.Series([0, -(2**63), 2**63 - 1, 5])
    assert series.dtype == "int64"
    assert all(type(v) is int for v in series)


def _kwfid_rows(count: int) -> list:
    """Typed OPTKWFID rows as the broker sends them: ints, floats, blank fields, text, times and a date."""
    rng = random.Random(11)
    fields = frames.fields_of("optkwfid", "multi")
    rows = []
    for i in range(count):
        row = {}
        for field in fields:
            if field.kind in ("int", "signed", "price"):
                row[field.name] = None if field.name.endswith("건수") else rng.randint(-10**6, 10**9)
            elif field.kind == "float":
                row[field.name] = rng.choice([round(rng.uniform(-30, 30), 2), None]) if i % 3 else 0.0
            elif field.kind == "date":
                row[field.name] = "2025-06-02"
            elif field.kind in ("time", "maybe_time"):
                row[field.name] = f"09:{i % 60:02d}:{rng.randint(0, 59):02d}"
            else:
                row[field.name] = f"{100000 + i:06d}" if field.kind == "code" else rng.choice(["LS", "", "5"])
        rows.append(row)
    return rows


def test_a_wide_typed_page_types_its_clean_numeric_columns_directly(monkeypatch):
    """OPTKWFID's clean numeric columns skip inference (`_numeric_array`) and the frame is still the
    per-row builder's, the all-blank columns included (Int64 and float64 of NA)."""
    direct = []
    numeric_array = frames._numeric_array

    def counting(kind, values):
        array = numeric_array(kind, values)
        direct.append(array is not None)
        return array

    monkeypatch.setattr(frames, "_numeric_array", counting)
    frame = _assert_same("optkwfid", _kwfid_rows(100))
    numeric = [f for f in frames.fields_of("optkwfid", "multi") if f.kind in frames._NUMERIC]
    assert len(direct) == len(numeric) and all(direct)
    blank = [f.name for f in numeric if f.name.endswith("건수")]
    assert blank and all(str(frame[name].dtype) == "Int64" and frame[name].isna().all() for name in blank)
    direct.clear()  # a column of ints and blanks is left to inference, and comes out the same
    mixed = _assert_same("optkwfid", [dict(row, 현재가=None if i else 5) for i, row in enumerate(_kwfid_rows(3))])
    assert direct.count(False) == 1 and str(mixed["현재가"].dtype) == "Int64"


@pytest.mark.parametrize("english", [False, True], ids=["korean", "english"])
def test_a_clean_page_is_built_in_one_frame_without_inference(monkeypatch, english):
    """A daily page the broker typed (ints, dates, texts) has every column typed directly: no per-row
    inference (`from_records`) runs, and the frame is still the per-row builder's, texts in the string
    dtype inference gives them. A text column with a blank in it goes back to inference."""
    inferred = []
    from_records = pd.DataFrame.from_records

    def counting(*args, **kwargs):
        inferred.append(kwargs.get("columns"))
        return from_records(*args, **kwargs)

    rows = [dict(row, 수정비율=1.0) for row in _daily_rows(57, raw=False)]
    expected = _assert_same("opt10081", rows, english)
    monkeypatch.setattr(pd.DataFrame, "from_records", counting)
    frame = frames.multi_frame("opt10081", rows, english)
    assert inferred == []
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    text = "small_sector" if english else "소업종구분"
    assert frame[text].dtype == pd.Series(["x"]).dtype and isinstance(frame[text].dtype, pd.StringDtype)
    blank = [dict(row, 소업종구분=None if i == 3 else "") for i, row in enumerate(rows)]
    frames.multi_frame("opt10081", blank, english)
    assert inferred == [[text]]
    monkeypatch.undo()
    _assert_same("opt10081", blank, english)
