"""Typing TR rows into DataFrames: signs, dates in Asia/Seoul, oldest first, English names, raw text."""
from __future__ import annotations

import pandas as pd

from koabus.common.client import frames


def test_coerce_typed_and_raw_values():
    assert frames.coerce("price", -77000) == 77000
    assert frames.coerce("price", "-77000") == 77000
    assert frames.coerce("signed", "-400") == -400
    assert frames.coerce("float", " -0.52") == -0.52
    assert frames.coerce("date", "20250530") == pd.Timestamp("2025-05-30", tz="Asia/Seoul")
    assert frames.coerce("date", "2025-05-30") == pd.Timestamp("2025-05-30", tz="Asia/Seoul")
    stamp = frames.coerce("datetime", "2025-05-30T09:01:00+09:00")
    assert stamp == pd.Timestamp("2025-05-30 09:01", tz="Asia/Seoul")


def test_bars_are_oldest_first_cut_to_range_and_typed():
    rows = [{"일자": d, "현재가": p, "시가": p, "고가": p, "저가": p, "거래량": 10, "종목코드": ""}
            for d, p in (("20250530", "-100"), ("20250529", "+99"), ("20250528", "98"))]
    frame = frames.bars("opt10081", rows, start=pd.Timestamp("2025-05-29", tz="Asia/Seoul"))
    assert list(frame.index.strftime("%Y%m%d")) == ["20250529", "20250530"]
    assert frame["현재가"].tolist() == [99, 100] and pd.api.types.is_integer_dtype(frame["현재가"])
    english = frames.bars("opt10081", rows, english=True)
    assert english.index.name == "date" and "current_price" in english.columns and len(english) == 3


def test_to_timestamp_forms():
    assert frames.to_timestamp("20250530") == pd.Timestamp("2025-05-30", tz="Asia/Seoul")
    end = frames.to_timestamp("2025-05-30", end_of_day=True)
    assert end.date().isoformat() == "2025-05-30" and end.hour == 23
    assert frames.to_timestamp("20250530093000") == pd.Timestamp("2025-05-30 09:30", tz="Asia/Seoul")
