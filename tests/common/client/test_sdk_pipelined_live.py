"""The SDK's page-by-page frames against the REAL broker on the simulated control: a multi-page daily
download and a paged TR frame equal the frames built from all their rows at once."""
from __future__ import annotations

import pandas as pd

from koabus.common.client import frames

CODE = "005930"


def test_a_multi_page_daily_download_equals_the_bars_of_all_its_rows(client):
    pages = []
    frame = client.daily(CODE, "2020-01-02", "2025-05-30", on_page=pages.append)
    assert len(pages) >= 2
    rows = [row for page in pages for row in page.multi]
    whole = frames.bars("opt10081", rows, False, frames.to_timestamp("2020-01-02"),
                        frames.to_timestamp("2025-05-30", end_of_day=True))
    pd.testing.assert_frame_equal(frame, whole, check_exact=True)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique


def test_a_paged_tr_frame_equals_the_frame_of_all_its_rows(client):
    inputs = {"종목코드": CODE, "기준일자": "20250530", "수정주가구분": "0"}
    pages = []
    _, frame = client.tr_frame("opt10081", inputs, all_pages=True, max_pages=3, on_page=pages.append)
    assert len(pages) == 3 and len(frame) == 1800
    rows = [row for page in pages for row in page.multi]
    pd.testing.assert_frame_equal(frame, frames.multi_frame("opt10081", rows), check_exact=True)
    pd.testing.assert_frame_equal(frame, frames._multi_frame_rowwise(frames.fields_of("opt10081"), rows, False),
                                  check_exact=True)
