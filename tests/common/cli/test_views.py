"""The human views of `koabus` without a broker: cell text, curated columns, the balance summary, watch widths."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.cells import cell_len
from rich.console import Console

from koabus.common.cli import views
from koabus.common.client.events import RealtimeEvent


def render(renderable, width: int = 80) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, highlight=False)
    console.print(renderable)
    return console.file.getvalue()


@pytest.mark.parametrize("value", [None, float("nan"), pd.NaT, pd.NA, "", "  "])
def test_missing_values_are_empty_cells(value):
    assert views.is_blank(value) and views.cell_text(value) == ""


def test_cells_read_like_numbers_and_dates():
    assert views.cell_text(1234567) == "1,234,567"
    assert views.cell_text(-200, "signed") == "-200" and views.cell_text(500, "signed") == "+500"
    assert views.cell_text(0, "signed") == "0" and views.cell_text(0.0, "rate") == "0.00"
    assert views.cell_text(0.184, "rate") == "+0.18" and views.cell_text(-1.06, "rate") == "-1.06"
    assert views.cell_text(pd.Timestamp("2026-11-24", tz="Asia/Seoul")) == "2026-11-24"
    assert views.sign_style(3) == views.UP_STYLE and views.sign_style(-3) == views.DOWN_STYLE
    assert views.sign_style(0) == "" and views.sign_style(None) == ""


def test_a_date_column_shares_one_format():
    minutes = pd.date_range("2026-11-24 09:00", periods=3, freq="5min", tz="Asia/Seoul")
    cells, numeric = views.column_cells(list(minutes) + [pd.NaT])
    assert [c.plain for c in cells] == ["2026-11-24 09:00", "2026-11-24 09:05", "2026-11-24 09:10", ""]
    assert not numeric
    ticks = [pd.Timestamp("2026-11-24 09:00:00", tz="Asia/Seoul"), pd.Timestamp("2026-11-24 09:00:07", tz="Asia/Seoul")]
    assert [c.plain for c in views.column_cells(ticks)[0]] == ["2026-11-24 09:00:00", "2026-11-24 09:00:07"]
    assert views.column_cells([1, None, 3])[1] is True


def test_curated_frame_keeps_the_columns_it_has_in_either_language():
    frame = pd.DataFrame({"현재가": [100], "거래량": [5], "수정비율": [None], "시가": [90]},
                         index=pd.DatetimeIndex([pd.Timestamp("2026-11-24", tz="Asia/Seoul")], name="일자"))
    out = render(views.frame_table(frame, "t", views.BAR_COLUMNS)[0])
    header = out.splitlines()[1].split()
    assert header == ["일자", "시가", "현재가", "거래량"]  # curated order; 수정비율 dropped; no 고가/저가 here
    english = frame.rename(columns={"현재가": "current_price", "거래량": "volume", "시가": "open"})
    english.index.name = "date"
    assert render(views.frame_table(english, "t", views.BAR_COLUMNS)[0]).splitlines()[1].split() == [
        "date", "open", "close", "volume"]
    assert "수정비율" in render(views.frame_table(frame, "t")[0])  # all columns


def test_balance_summary_breaks_between_items_only():
    totals = {"총매입금액": 1_234_567_890, "총평가금액": 1_334_567_890, "총평가손익금액": 100_000_000,
              "총수익률(%)": 8.1, "추정예탁자산": 9_876_543_210, "조회건수": 1}
    one_line = views.balance_summary(totals, 200).plain
    assert one_line == ("총매입 1,234,567,890   총평가 1,334,567,890   평가손익 +100,000,000 (+8.10%)   "
                        "추정예탁자산 9,876,543,210")
    narrow = views.balance_summary(totals, 50).plain.splitlines()
    assert len(narrow) > 1 and all(cell_len(line) <= 50 for line in narrow)
    assert [item for line in narrow for item in line.split("   ")] == one_line.split("   ")  # items intact


def test_watch_fields_resolve_names_and_fid_numbers():
    assert views.resolve_watch_fields(["trade"], "current_price, 10 ,trade_strength") == [
        "current_price", "current_price", "trade_strength"]
    with pytest.raises(ValueError, match="unknown field 'bogus'"):
        views.resolve_watch_fields(["trade"], "bogus")
    with pytest.raises(ValueError):
        views.resolve_watch_fields(["trade"], " , ")


def event(slug_name: str, code: str, **values) -> RealtimeEvent:
    return RealtimeEvent(f"rt.x.{code}", slug_name, code, values, None, None, 1, 1)


def test_watch_table_fits_80_columns_with_large_values():
    big = dict(trade_time="15:19:59", current_price=1_277_500, change=-123_000, change_rate=-29.99,
               volume=-123_456, cum_volume=123_456_789)
    latest = {("trade", "000660"): event("주식체결", "000660", **big),
              ("trade", "005930"): event("주식체결", "005930", **{**big, "change": 500, "volume": 7})}
    names = {"005930": "삼성전자", "000660": "SK하이닉스"}
    out = render(views.watch_tables(latest, ["trade"], ["005930", "000660"], names), 80)
    lines = out.splitlines()
    assert max(cell_len(line) for line in lines) <= 80 and "…" not in out
    assert lines[1].split() == ["code", "name", "time", "price", "chg", "chg%", "vol", "cum", "vol"]
    rows = lines[3:]
    assert rows[0].split() == ["005930", "삼성전자", "15:19:59", "1,277,500", "+500", "-29.99", "+7", "123,456,789"]
    assert rows[1].split()[0] == "000660"  # in the order asked, not by arrival


def test_watch_other_types_and_chosen_fields():
    latest = {("book", "005930"): event("주식호가잔량", "005930", quote_time="09:00:01", ask_price_1=69_300,
                                        ask_qty_1=1_000, bid_price_1=69_200, bid_qty_1=2_000)}
    out = render(views.watch_tables(latest, ["book"], ["005930"], {}), 80)
    assert out.splitlines()[1].split() == ["code", "name", "time", "ask", "ask", "qty", "bid", "bid", "qty"]
    assert "69,300" in out and "2,000" in out
    out = render(views.watch_tables(latest, ["book"], ["005930"], {}, ["bid_qty_1"]), 80)
    assert out.splitlines()[1].split() == ["code", "name", "bid_qty_1"]
    assert len(views.watch_fields("brokers")) == views.FALLBACK_FIELDS  # no preset: the first few FIDs
