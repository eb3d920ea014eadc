"""Value parsing: signs, padding, empty strings, dates/times, A-prefixed codes; round trips."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from koabus.common.clock import KST
from koabus.metadata import values
from koabus.metadata.specs import VALUE_KINDS


@pytest.mark.parametrize(
    "kind,raw,expected",
    [
        ("price", "-77000", 77000),
        ("price", "+100500", 100500),
        ("price", "1225", 1225),
        ("price", "-0", 0),
        ("price", "  -77100 ", 77100),
        ("price", "00085000", 85000),
        ("price", "-2650.12", 2650.12),
        ("signed", "-500", -500),
        ("signed", "+3", 3),
        ("signed", "-900410", -900410),
        ("signed", " 0", 0),
        ("int", "-00000001234", -1234),
        ("int", "000000012345", 12345),
        ("int", "+000000000000015", 15),
        ("int", "7726846", 7726846),
        ("int", "1,234", 1234),
        ("float", "-0.52", -0.52),
        ("float", "+52.23", 52.23),
        ("float", "0.0000", 0.0),
        ("float", "-00000012.34", -12.34),
        ("str", "  삼성전자  ", "삼성전자"),
        ("code", "A005930", "005930"),
        ("code", "*A005930", "005930"),
        ("code", " 005930 ", "005930"),
        ("code", "001", "001"),
        ("code", "101J9000", "101J9000"),
        ("date", "20220118", date(2022, 1, 18)),
        ("date", "00000000", None),
        ("time", "142942", time(14, 29, 42)),
        ("time", "14:29:42", time(14, 29, 42)),
        ("time", "000000", time(0)),
        ("maybe_time", "000000", None),
        ("maybe_time", "090003", time(9, 0, 3)),
        ("datetime", "20220118142900", datetime(2022, 1, 18, 14, 29, tzinfo=KST)),
        ("datetime", "202201181429", datetime(2022, 1, 18, 14, 29, tzinfo=KST)),
        ("bool", "Y", True),
        ("bool", "0", False),
    ],
)
def test_parse(kind, raw, expected):
    assert values.parse(kind, raw) == expected
    assert type(values.parse(kind, raw)) is type(expected)


@pytest.mark.parametrize("kind", [k for k in VALUE_KINDS if k not in ("str", "code")])
def test_empty_is_none_for_non_text_kinds(kind):
    assert values.parse(kind, "") is None
    assert values.parse(kind, "   ") is None
    assert values.parse(kind, None) is None


def test_empty_text_kinds_stay_text():
    assert values.parse("str", "   ") == ""
    assert values.parse("code", "") == ""


@pytest.mark.parametrize(
    "kind,raw",
    [("int", "abc"), ("price", "12a"), ("float", "x.5"), ("date", "2022011"), ("date", "20221340"),
     ("time", "256000"), ("time", "12ab00"), ("datetime", "20220118"), ("bool", "maybe")],
)
def test_garbage_raises_valueerror_naming_kind(kind, raw):
    with pytest.raises(ValueError, match=kind):
        values.parse(kind, raw)


def test_unknown_kind():
    with pytest.raises(ValueError, match="unknown value kind"):
        values.parse("money", "1")


def test_parse_fid_uses_the_fid_kind_and_falls_back_to_text():
    assert values.parse_fid(10, "-77100") == 77100
    assert values.parse_fid(11, "-400") == -400
    assert values.parse_fid(15, "+3") == 3
    assert values.parse_fid(15, "-130") == -130
    assert values.parse_fid(20, "142942") == time(14, 29, 42)
    assert values.parse_fid(567, "000000") is None
    assert values.parse_fid(9001, "A005930") == "005930"
    assert values.parse_fid(987654, " x ") == "x"


def test_price_text_signs_by_direction():
    assert values.price_text(77600, 77500) == "+77600"
    assert values.price_text(77000, 77500) == "-77000"
    assert values.price_text(77500, 77500) == "77500"
    assert values.price_text(77500, None) == "77500"
    assert values.parse("price", values.price_text(77000, 77500)) == 77000


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=0, max_value=15))
def test_int_roundtrip_with_zero_padding(n, width):
    raw = ("-" if n < 0 else "") + str(abs(n)).zfill(width)
    assert values.parse("int", raw) == n
    assert values.parse("signed", " " + raw + " ") == n
    assert values.parse("int", values.format_value("int", n)) == n


@given(st.integers(min_value=0, max_value=10**9), st.sampled_from(["", "+", "-"]))
def test_price_ignores_direction_sign(p, sign):
    assert values.parse("price", sign + str(p)) == p


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=10**9))
def test_price_text_roundtrip(p, ref):
    assert values.parse("price", values.price_text(p, ref)) == p


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(lambda x: round(x, 2)))
def test_float_roundtrip(x):
    assert values.parse("float", values.format_value("float", x)) == pytest.approx(x)
    assert values.parse("float", f"{x:+.2f}") == pytest.approx(x)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_date_roundtrip(d):
    assert values.parse("date", values.format_value("date", d)) == d


@given(st.times().map(lambda t: t.replace(microsecond=0)))
def test_time_roundtrip(t):
    assert values.parse("time", values.format_value("time", t)) == t


@given(st.datetimes(min_value=datetime(1985, 1, 1), max_value=datetime(2100, 1, 1)).map(
    lambda d: d.replace(microsecond=0, tzinfo=KST)))
def test_datetime_roundtrip(d):
    assert values.parse("datetime", values.format_value("datetime", d)) == d


@given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.sampled_from(["", "A", "*A"]))
def test_code_prefix_dropped(code, prefix):
    assert values.parse("code", prefix + code) == code
