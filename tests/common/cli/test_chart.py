"""`koabus chart`: pictures drawn from a real recorded lake and from the real broker on the simulated control.

The lake is written by the recorder's ParquetSink (tests/common/lake/query_lake.py); the broker is a
subprocess on the simulated control (virtual clock from Monday 2025-06-02 09:05 KST, speed 20), whose
own counter (`status` pacing.tr.sent) tells whether a chart asked for a TR.
"""
from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pandas as pd
import pytest
from matplotlib import colors as mcolors
from matplotlib import image as mimage

from koabus.common.cli import chart as chart_cli
from koabus.common.cli.main import main
from koabus.common.client import Client, chart
from koabus.common.client.calendar import calendar
from tests.common.client.live import BrokerProcess
from tests.common.lake.query_lake import DAY, KST, NEXT_DAY, RecordedDay, record_day

CODE = "005930"
AFTER_RECORDING = "2026-11-26T12:00:00+09:00"  # both recorded days are final sessions by then


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Tuple[Path, RecordedDay]:
    root = tmp_path_factory.mktemp("lake")
    return root, record_day(root)


def tr_sent(broker: BrokerProcess) -> int:
    """TRs the broker has sent, read after a control call was counted (`status` is refreshed every 250 ms,
    so a counted barrier call means every TR sent before it is counted too)."""
    with Client(broker.router, broker.pub) as client:
        def calls() -> int:
            return int(client.status()["counters"]["control_calls"].get("GetMasterCodeName", 0))

        before = calls()
        client.call("GetMasterCodeName", CODE)
        deadline = time.monotonic() + 10.0
        while calls() <= before:
            assert time.monotonic() < deadline, "the broker's status never counted the barrier call"
            time.sleep(0.02)
        return int(client.status()["pacing"]["tr"]["sent"])


def run_chart(capsys, *args: str, broker: BrokerProcess = None) -> Tuple[int, str, str]:
    argv = ["chart", *args]
    if broker is not None:
        argv += ["--router", broker.router, "--pub", broker.pub, "--timeout", "20"]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def pixels_like(path: Path, color: str, tolerance: int = 24) -> int:
    """How many pixels of the PNG at `path` are within `tolerance` (0-255, per channel) of `color`."""
    rgb = mimage.imread(str(path))[..., :3] * 255.0
    target = np.array(mcolors.to_rgb(color)) * 255.0
    return int((np.abs(rgb - target) <= tolerance).all(axis=-1).sum())


def expected_bars(recorded: RecordedDay, code: str, minutes: int) -> pd.DataFrame:
    """N-minute OHLCV computed here from the trades the lake was written with (not through DuckDB)."""
    rows: Dict[datetime, List[dict]] = {}
    for day in (DAY, NEXT_DAY):
        for trade in recorded.trade_rows(code, day):
            moment = trade["time"]
            bucket = moment.replace(minute=moment.minute - moment.minute % minutes, second=0, microsecond=0)
            rows.setdefault(bucket, []).append(trade)
    out = {}
    for bucket, trades in sorted(rows.items()):
        prices = [t["price"] for t in trades]
        out[pd.Timestamp(bucket).tz_convert("Asia/Seoul")] = (prices[0], max(prices), min(prices), prices[-1],
                                                             sum(t["volume"] for t in trades))
    return pd.DataFrame.from_dict(out, orient="index", columns=["open", "high", "low", "close", "volume"])


# ---------------------------------------------------------------------------------- the lake path

def test_lake_bars_are_the_recorded_trades_resampled(recorded):
    root, day = recorded
    request = chart_cli.ChartRequest(CODE, chart_cli.parse_interval("5m"), pd.Timestamp(DAY, tz="Asia/Seoul"),
                                     pd.Timestamp(f"{NEXT_DAY}T23:59:59", tz="Asia/Seoul"),
                                     datetime.fromisoformat(AFTER_RECORDING))
    bars = chart_cli.lake_bars(request, root)
    want = expected_bars(day, CODE, 5)
    assert bars.complete and bars.source == "lake (recorded ticks)"
    got = bars.frame[["open", "high", "low", "close", "volume"]].astype("int64")
    assert list(got.index) == list(want.index)
    assert got.values.tolist() == want.values.tolist()


def test_a_recorded_range_is_drawn_from_the_lake_without_a_tr(broker, recorded, capsys, tmp_path, monkeypatch):
    root, day = recorded
    monkeypatch.chdir(tmp_path)
    before = tr_sent(broker)
    code, out, err = run_chart(capsys, CODE, "--interval", "5m", "--start", DAY, "--end", NEXT_DAY, "--lake",
                               str(root), "--now", AFTER_RECORDING, "--size", "1000x600", broker=broker)
    assert code == 0, err
    assert tr_sent(broker) == before, "a chart the lake can draw asked the broker for a TR"
    path = tmp_path / f"{CODE}_5m.png"  # the default file, in the current directory
    assert out.strip() == str(path.resolve())
    assert f"{len(expected_bars(day, CODE, 5))} bars from lake (recorded ticks)" in err
    picture = mimage.imread(str(path))
    assert picture.shape[:2] == (600, 1000)
    assert pixels_like(path, chart.UP_COLOR) > 500 and pixels_like(path, chart.DOWN_COLOR) > 500


def test_candle_colours_follow_the_korean_convention(tmp_path):
    """Rising bars red, falling bars blue (candles and their volume), nothing of the other colour."""
    index = pd.date_range("2025-03-03", periods=30, freq="B", tz="Asia/Seoul")
    base = np.arange(30) * 100 + 50_000
    rising = pd.DataFrame({"open": base, "high": base + 180, "low": base - 50, "close": base + 150,
                           "volume": 1_000 + np.arange(30)}, index=index)
    falling = rising.assign(open=rising["close"], close=rising["open"])
    spec = chart.ChartSpec(title="colours", moving_averages=(), width_px=800, height_px=500)
    up = chart.render(rising, spec, tmp_path / "up.png")
    down = chart.render(falling, spec, tmp_path / "down.png")
    assert pixels_like(up, chart.UP_COLOR) > 1000 and pixels_like(up, chart.DOWN_COLOR) == 0
    assert pixels_like(down, chart.DOWN_COLOR) > 1000 and pixels_like(down, chart.UP_COLOR) == 0


def test_html_is_one_self_contained_page(recorded, capsys, tmp_path):
    root, _ = recorded
    page = tmp_path / "chart.html"
    code, out, err = run_chart(capsys, CODE, "--interval", "10m", "--start", DAY, "--end", DAY, "--lake", str(root),
                               "--source", "lake", "--now", AFTER_RECORDING, "--out", str(page))
    assert code == 0, err
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.count("<svg") == 1
    for match in re.finditer(r"https?://", text):  # only XML namespace names, never a resource to fetch
        assert re.search(r'xmlns(:\w+)?="$', text[max(0, match.start() - 20):match.start()]), \
            text[match.start() - 40:match.start() + 60]
    for tag in ("<script", "<link", "<img", "<iframe", "@import"):
        assert tag not in text.lower()
    assert not re.search(r"url\((?!#)", text), "a url() that is not a reference inside the page"
    assert not re.search(r'href="(?!#)', text), "an href that is not a reference inside the page"
    svg = text[text.index("<svg"):text.index("</svg>") + len("</svg>")]
    root_element = ET.fromstring(svg)
    assert root_element.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root_element.findall(".//{http://www.w3.org/2000/svg}path")) > 50  # glyphs and candles as paths


# ---------------------------------------------------------------------------------- the TR path

def test_the_broker_draws_what_the_lake_lacks_and_cached_bars_are_then_the_lakes(broker, capsys, tmp_path):
    lake = tmp_path / "lake"
    with Client(broker.router, broker.pub) as client:
        name = client.name(CODE)
    sessions = calendar().sessions("2025-05-02", "2025-05-30")
    before = tr_sent(broker)
    code, out, err = run_chart(capsys, CODE, "--start", "2025-05-02", "--end", "2025-05-30", "--cached",
                               "--lake", str(lake), "--out", str(tmp_path / "tr.png"), broker=broker)
    assert code == 0, err
    assert tr_sent(broker) > before
    assert f"{CODE} {name} D: {len(sessions)} bars from TR opt10081" in err
    assert mimage.imread(str(tmp_path / "tr.png")).shape[:2] == (chart_cli.DEFAULT_SIZE[1], chart_cli.DEFAULT_SIZE[0])

    before = tr_sent(broker)  # the history store now holds the range: no TR the second time
    code, out, err = run_chart(capsys, CODE, "--start", "2025-05-02", "--end", "2025-05-30", "--lake", str(lake),
                               "--out", str(tmp_path / "lake.svg"), broker=broker)
    assert code == 0, err
    assert tr_sent(broker) == before
    assert f"{len(sessions)} bars from lake (history store)" in err
    assert ET.parse(str(tmp_path / "lake.svg")).getroot().tag == "{http://www.w3.org/2000/svg}svg"


# ---------------------------------------------------------------------------------- errors

@pytest.mark.parametrize("args, words", [
    (["999999", "--source", "tr"], "unknown code 999999"),
    ([CODE, "--interval", "7m"], "bad interval '7m'"),
    ([CODE, "--source", "lake", "--start", "2025-05-02"], "no bars of 005930"),
    ([CODE, "--out", "chart.jpg"], "--out ends in .png, .svg or .html"),
    ([CODE, "--start", "2025-13-45"], "--start takes"),
    ([CODE, "--ma", "5,x"], "--ma takes"),
    (["12;rm"], "is not a stock code"),
])
def test_bad_requests_fail_with_one_line(broker, capsys, tmp_path, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_chart(capsys, *args, "--lake", str(tmp_path / "empty"), broker=broker)
    assert code != 0
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and words in err, err
    assert not list(tmp_path.glob("*.png"))


# ---------------------------------------------------------------------------------- text

def test_a_korean_font_draws_the_names():
    font = chart.korean_font()
    assert font is not None, "no Korean font: run deploy/install-test-tools.sh (apt-get install fonts-nanum)"
    from matplotlib.ft2font import FT2Font

    glyphs = FT2Font(font.path)
    assert all(glyphs.get_char_index(ord(ch)) for ch in "삼성전자 SK하이닉스 일봉 주봉 월봉 분봉 종가 출처 만 억")


def test_titles_without_a_korean_font_are_ascii():
    request = chart_cli.ChartRequest(CODE, chart_cli.parse_interval("W"), None, None,
                                     datetime(2025, 6, 2, 10, tzinfo=KST))
    index = pd.date_range("2025-05-05", periods=3, freq="7D")
    bars = pd.DataFrame({"Open": [100.0, 110, 120], "High": [120.0, 130, 140], "Low": [90.0, 100, 110],
                         "Close": [110.0, 120, 108], "Volume": [1.0, 2, 3]}, index=index)
    title, subtitle = chart_cli.titles(request, "삼성전자", bars, "lake (history store)", korean=False)
    assert title.replace("·", "").isascii() and subtitle.replace("·", "").replace("–", "").isascii()
    assert CODE in title and "weekly" in title and "-10.00%" in subtitle
    title, subtitle = chart_cli.titles(request, "삼성전자", bars, "lake (history store)", korean=True)
    assert title == f"삼성전자 ({CODE}) · 주봉" and "▼10.00%" in subtitle


def test_intervals_and_moving_averages_parse():
    assert [chart_cli.parse_interval(t).text for t in ("d", "W", "m", "1m", "60m", "15")] == \
        ["D", "W", "M", "1m", "60m", "15m"]
    assert chart.moving_averages("5, 20,60") == (5, 20, 60) and chart.moving_averages("none") == ()
    assert timedelta(0) < chart_cli.DEFAULT_SPAN["D"] < chart_cli.DEFAULT_SPAN["W"] < chart_cli.DEFAULT_SPAN["M"]


def test_without_a_korean_font_the_chart_is_drawn_with_a_warning(recorded, capsys, tmp_path, monkeypatch):
    root, _ = recorded
    monkeypatch.setattr(chart, "korean_font", lambda: None)
    code, out, err = run_chart(capsys, CODE, "--interval", "30m", "--start", DAY, "--end", DAY, "--lake", str(root),
                               "--source", "lake", "--out", str(tmp_path / "plain.png"))
    assert code == 0, err
    assert "no Korean font is installed" in err and "deploy/install-test-tools.sh" in err
    assert mimage.imread(str(tmp_path / "plain.png")).shape[:2] == (chart_cli.DEFAULT_SIZE[1], chart_cli.DEFAULT_SIZE[0])
