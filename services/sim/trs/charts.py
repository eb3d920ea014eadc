"""Chart TRs: opt10079 (ticks), opt10080 (minutes), opt10081 (days), opt10082/83/94 (weeks, months,
years), opt20005/opt20006 (sector minutes/days). Newest first, real page sizes, continuation by
cursor. Daily/period prices are unsigned; minute/tick prices carry the sign vs that day's reference.
"""
from __future__ import annotations

from datetime import timedelta
from typing import List

from .. import formats as fmt
from .base import TrPage, TrRequest, responds_to

_PERIODS = {"opt10082": ("week", 300), "opt10083": ("month", 240), "opt10094": ("year", 30)}


def _adjusted(req: TrRequest) -> bool:
    return req.get("수정주가구분", "1") == "1"


def _daily_rows(bars, code: str, with_code: bool, value_in_krw: bool = True) -> List[dict]:
    rows = []
    for i, bar in enumerate(bars):
        row = {
            "현재가": str(bar.close), "거래량": str(bar.volume),
            "거래대금": str(bar.value // 1_000_000 if value_in_krw else bar.value),
            "일자": bar.date.strftime("%Y%m%d"),
            "시가": str(bar.open), "고가": str(bar.high), "저가": str(bar.low),
            "수정주가구분": str(bar.event_flags) if bar.event_flags else "",
            "수정비율": f"{bar.adj_ratio * 100:.2f}" if bar.event_flags else "",
            "대업종구분": "", "소업종구분": "", "종목정보": "", "수정주가이벤트": "", "전일종가": "",
        }
        if with_code:
            row["종목코드"] = code if i == 0 else ""
        rows.append(row)
    return rows


@responds_to("opt10081")
def daily(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage(single={"종목코드": code})
    end = req.cursor or world.parse_day(req.get("기준일자"), req.t)
    bars = world.daily_bars(code, end, 601, _adjusted(req))
    page, more = bars[:600], len(bars) > 600
    nxt = world.calendar.previous_session(page[-1].date) if more and page else None
    return TrPage(single={"종목코드": code}, rows=_daily_rows(page, code, True), next_cursor=nxt)


@responds_to("opt10082", "opt10083", "opt10094")
def period(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage(single={"종목코드": code})
    unit, per_page = _PERIODS[req.tr_code]
    end = req.cursor or world.parse_day(req.get("기준일자"), req.t)
    bars = world.period_bars(code, unit, end, per_page + 1, _adjusted(req))
    page, more = bars[:per_page], len(bars) > per_page
    nxt = (page[-1].date - timedelta(days=1)) if more and page else None
    return TrPage(single={"종목코드": code}, rows=_daily_rows(page, code, False), next_cursor=nxt)


def _intraday_rows(bars) -> List[dict]:
    rows = []
    for bar in bars:
        ref = bar.ref
        rows.append({
            "현재가": fmt.price_vs(bar.close, ref), "거래량": str(bar.volume),
            "체결시간": fmt.yyyymmddhhmmss(fmt.from_epoch(bar.t)),
            "시가": fmt.price_vs(bar.open, ref), "고가": fmt.price_vs(bar.high, ref),
            "저가": fmt.price_vs(bar.low, ref),
            "수정주가구분": "", "수정비율": "", "대업종구분": "", "소업종구분": "", "종목정보": "",
            "수정주가이벤트": "", "전일종가": "",
        })
    return rows


def _int_input(req: TrRequest, name: str, default: int) -> int:
    text = req.get(name, str(default))
    return int(text) if text.isdigit() and int(text) > 0 else default


@responds_to("opt10080")
def minutes(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage(single={"종목코드": code})
    interval = _int_input(req, "틱범위", 1)
    end_t = req.cursor if req.cursor is not None else req.t
    bars = world.minute_bars(code, interval, end_t, 901)
    page, more = bars[:900], len(bars) > 900
    nxt = page[-1].t - 0.001 if more and page else None
    return TrPage(single={"종목코드": code}, rows=_intraday_rows(page), next_cursor=nxt)


@responds_to("opt10079")
def ticks(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage(single={"종목코드": code, "마지막틱갯수": ""})
    size = _int_input(req, "틱범위", 1)
    end_t = req.cursor if req.cursor is not None else req.t
    bars = world.tick_bars(code, size, end_t, 901)
    page, more = bars[:900], len(bars) > 900
    nxt = page[-1].t - 0.000001 if more and page else None
    return TrPage(single={"종목코드": code, "마지막틱갯수": str(size)}, rows=_intraday_rows(page),
                  next_cursor=nxt)


@responds_to("opt20006")
def sector_daily(world, req: TrRequest) -> TrPage:
    code = req.get("업종코드")
    if not world.is_index(code):
        return TrPage(single={"업종코드": code})
    end = req.cursor or world.parse_day(req.get("기준일자"), req.t)
    bars = world.index_daily_bars(code, end, 601)
    page, more = bars[:600], len(bars) > 600
    rows = [{
        "현재가": str(b.close), "거래량": str(b.volume), "일자": b.date.strftime("%Y%m%d"),
        "시가": str(b.open), "고가": str(b.high), "저가": str(b.low), "거래대금": str(b.value),
        "대업종구분": "", "소업종구분": "", "종목정보": "", "전일종가": "",
    } for b in page]
    nxt = world.calendar.previous_session(page[-1].date) if more and page else None
    return TrPage(single={"업종코드": code}, rows=rows, next_cursor=nxt)


@responds_to("opt20005")
def sector_minutes(world, req: TrRequest) -> TrPage:
    code = req.get("업종코드")
    if not world.is_index(code):
        return TrPage(single={"업종코드": code})
    interval = _int_input(req, "틱범위", 1)
    end_t = req.cursor if req.cursor is not None else req.t
    bars = world.minute_bars(code, interval, end_t, 901)
    page, more = bars[:900], len(bars) > 900
    rows = [{
        "현재가": fmt.price_vs(b.close, b.ref), "거래량": str(b.volume),
        "체결시간": fmt.yyyymmddhhmmss(fmt.from_epoch(b.t)),
        "시가": fmt.price_vs(b.open, b.ref), "고가": fmt.price_vs(b.high, b.ref),
        "저가": fmt.price_vs(b.low, b.ref), "대업종구분": "", "소업종구분": "", "종목정보": "", "전일종가": "",
    } for b in page]
    nxt = page[-1].t - 0.001 if more and page else None
    return TrPage(single={"업종코드": code}, rows=rows, next_cursor=nxt)
