"""Quote and info TRs: opt10001 (basic info), opt10004 (order book), opt10086 (daily prices), opt20001 (sector)."""
from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Dict

from koabus.common.clock import KST

from .. import formats as fmt
from .base import TrPage, TrRequest, paginate, responds_to


def fundamentals(code: str) -> Dict[str, float]:
    """Stable, plausible per-code fundamentals (PER, ROE...) derived from the code."""
    h = zlib.crc32(code.encode())
    return {
        "per": 6.0 + (h % 2400) / 100.0,
        "roe": 2.0 + (h >> 4) % 180 / 10.0,
        "credit": ((h >> 8) % 300) / 100.0,
        "foreign": 5.0 + ((h >> 12) % 5000) / 100.0,
        "float_pct": 55.0 + ((h >> 16) % 400) / 10.0,
        "ev": 2.0 + ((h >> 20) % 900) / 100.0,
        "margin": 0.05 + ((h >> 24) % 20) / 100.0,
    }


def reporting_year(day: date) -> int:
    """The fiscal year whose annual figures opt10001 shows on `day`: the business report is due
    within 90 days of a December year end, so from April on it is last year's, before that the
    year before (the recorded 2022-01-18 row carries 005930's 2020 EPS 3,841 and BPS 39,406)."""
    return day.year - 1 if (day.month, day.day) >= (4, 1) else day.year - 2


def period_figures(world, code: str, day: date, last: int) -> Dict[str, int]:
    """EPS, BPS (KRW per share, in today's share terms) and 매출액 (억원) of the reporting period in
    force on `day`: fixed for the period, whatever the price does since (PER and PBR move with it).
    They are anchored on the close of the fiscal year's last session."""
    f = fundamentals(code)
    inst = world.instrument(code)
    history = world.market.history(code)
    anchor = world.daily_bars(code, date(reporting_year(day), 12, 31), 1, False)
    if anchor:
        bar = anchor[0]
    else:  # listed after that year end: the figures of its listing day
        history.ensure(day)
        bar = history.bar_at(0)
    price = bar.close * history.adj_factor(bar.date) / history.adj_factor(day)
    eps = max(1, int(price / f["per"]))
    bps = max(1, int(eps * 100 / f["roe"]))
    cap = int(price * inst.shares) // 100_000_000
    sales = int(cap * f["margin"] * 10) or 1
    return {"eps": eps, "bps": bps, "sales": sales}


def _d8(day) -> str:
    return day.strftime("%Y%m%d")


@responds_to("opt10001")
def basic_info(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    inst = world.instrument(code)
    if inst is None or inst.is_index:
        return TrPage()
    q = world.quote(code, req.t)
    ref = q.ref
    last = q.last
    f = fundamentals(code)
    year_bars = world.daily_bars(code, q.session_date, 250, True)
    this_year = [b for b in year_bars if b.date.year == q.session_date.year] or year_bars[:1]
    hi250 = max(year_bars, key=lambda b: b.high) if year_bars else None
    lo250 = min(year_bars, key=lambda b: b.low) if year_bars else None
    period = period_figures(world, code, q.session_date, last)
    eps, bps, sales = period["eps"], period["bps"], period["sales"]
    shares_k = inst.shares // 1000
    cap = last * inst.shares // 100_000_000
    vol_ratio = (q.volume * 100.0 / q.prev_volume) if q.prev_volume else 0.0
    single = {
        "종목코드": code,
        "종목명": inst.name,
        "결산월": inst.settle_month,
        "액면가": str(inst.face_value),
        "자본금": str(inst.face_value * inst.shares // 100_000_000),
        "상장주식": str(shares_k),
        "신용비율": fmt.rate(f["credit"]),
        "연중최고": fmt.price_vs(max(b.high for b in this_year), ref) if this_year else "",
        "연중최저": fmt.price_vs(min(b.low for b in this_year), ref) if this_year else "",
        "시가총액": str(cap),
        "시가총액비중": "",
        "외인소진률": fmt.rate(f["foreign"]),
        "대용가": str(ref * 78 // 100 // 10 * 10),
        "PER": f"{last / eps:.2f}",
        "EPS": str(eps),
        "ROE": f"{f['roe']:.1f}",
        "PBR": f"{(last / bps if bps else 0):.2f}",
        "EV": f"{f['ev']:.2f}",
        "BPS": str(bps),
        "매출액": str(sales),
        "영업이익": str(int(sales * f["margin"])),
        "당기순이익": str(int(sales * f["margin"] * 0.75)),
        "250최고": fmt.price_vs(hi250.high, ref) if hi250 else "",
        "250최저": fmt.price_vs(lo250.low, ref) if lo250 else "",
        "시가": fmt.price_vs(q.open, ref),
        "고가": fmt.price_vs(q.high, ref),
        "저가": fmt.price_vs(q.low, ref),
        "상한가": fmt.price_vs(q.upper, ref),
        "하한가": fmt.price_vs(q.lower, ref),
        "기준가": str(ref),
        "예상체결가": fmt.expected_price(q.expected_price, ref),
        "예상체결수량": str(q.expected_qty),
        "250최고가일": _d8(hi250.date) if hi250 else "",
        "250최고가대비율": fmt.rate(fmt.change_rate(last, hi250.high)) if hi250 else "",
        "250최저가일": _d8(lo250.date) if lo250 else "",
        "250최저가대비율": fmt.rate(fmt.change_rate(last, lo250.low)) if lo250 else "",
        "현재가": fmt.price_vs(last, ref),
        "대비기호": str(q.sign),
        "전일대비": fmt.signed(q.change),
        "등락율": fmt.rate(q.rate),
        "거래량": str(q.volume),
        "거래대비": fmt.rate(vol_ratio if q.volume >= q.prev_volume else -vol_ratio),
        "액면가단위": "원",
        "유통주식": str(int(shares_k * f["float_pct"] / 100)),
        "유통비율": f"{f['float_pct']:.1f}",
    }
    return TrPage(single=single)


@responds_to("opt10004")
def order_book(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage()
    q = world.quote(code, req.t)
    asks, bids = world.book(code, req.t)
    ref = q.ref
    values: Dict[str, str] = {
        "호가잔량기준시간": datetime.fromtimestamp(req.t, KST).strftime("%H%M%S"),
    }
    for level in range(10, 0, -1):
        price, qty = asks[level - 1] if level - 1 < len(asks) else (0, 0)
        if level == 1:
            values["매도1차선잔량대비"] = "0"
            values["매도최우선잔량"] = str(qty)
            values["매도최우선호가"] = fmt.price_vs(price, ref)
        else:
            qty_name = "매도6우선잔량" if level == 6 else f"매도{level}차선잔량"
            values[f"매도{level}차선잔량대비"] = "0"
            values[qty_name] = str(qty)
            values[f"매도{level}차선호가"] = fmt.price_vs(price, ref)
    for level in range(1, 11):
        price, qty = bids[level - 1] if level - 1 < len(bids) else (0, 0)
        if level == 1:
            values["매수최우선호가"] = fmt.price_vs(price, ref)
            values["매수최우선잔량"] = str(qty)
            values["매수1차선잔량대비"] = "0"
        else:
            price_name = "매수6우선호가" if level == 6 else f"매수{level}차선호가"
            qty_name = "매수6우선잔량" if level == 6 else f"매수{level}차선잔량"
            values[price_name] = fmt.price_vs(price, ref)
            values[qty_name] = str(qty)
            values[f"매수{level}차선잔량대비"] = "0"
    values.update({
        "총매도잔량직전대비": "0", "총매도잔량": str(sum(q for _, q in asks)),
        "총매수잔량": str(sum(q for _, q in bids)), "총매수잔량직전대비": "0",
        "시간외매도잔량대비": "0", "시간외매도잔량": "0", "시간외매수잔량": "0", "시간외매수잔량대비": "0",
    })
    # KOA shows the non-repeating 주식호가 record as single data: one row read at index 0.
    return TrPage(rows=[values])


@responds_to("opt10086")
def daily_prices(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage()
    end = world.parse_day(req.get("조회일자"), req.t)
    start = int(req.cursor or 0)
    bars = world.daily_bars(code, end, start + 21, False)
    page, nxt = paginate(bars, start, 20)
    rows = []
    for i, bar in enumerate(page):
        prev_close = bars[start + i + 1].close if start + i + 1 < len(bars) else bar.ref
        f = fundamentals(code)
        rows.append({
            "날짜": _d8(bar.date),
            "시가": fmt.price_vs(bar.open, bar.ref),
            "고가": fmt.price_vs(bar.high, bar.ref),
            "저가": fmt.price_vs(bar.low, bar.ref),
            "종가": fmt.price_vs(bar.close, bar.ref),
            "전일비": fmt.signed(bar.close - bar.ref),
            "등락률": fmt.rate(fmt.change_rate(bar.close, bar.ref)),
            "거래량": str(bar.volume),
            "금액(백만)": str(bar.value // 1_000_000),
            "신용비": f"{f['credit']:.2f}",
            "개인": "0", "기관": "0", "외인수량": "0", "외국계": "0", "프로그램": "0",
            "외인비": f"{f['foreign']:.2f}",
            "체결강도": fmt.rate(100.0 + fmt.change_rate(bar.close, prev_close) * 5, plus=False),
            "외인보유": "0", "외인비중": f"{f['foreign']:.2f}",
            "외인순매수": "0", "기관순매수": "0", "개인순매수": "0", "신용잔고율": f"{f['credit']:.2f}",
        })
    if len(bars) <= start + 20:
        nxt = None
    return TrPage(rows=rows, next_cursor=nxt)


@responds_to("opt20001")
def sector_now(world, req: TrRequest) -> TrPage:
    code = req.get("업종코드")
    if not world.is_index(code):
        return TrPage()
    q = world.index_quote(code, req.t)
    if q is None:
        return TrPage()
    ref = q.ref

    def lv(v: int) -> str:
        return world.index_level(v, ref)

    members = world.listing.constituents(code)
    ups = downs = flats = 0
    for c in members:
        cq = world.quote(c, req.t)
        if cq.last > cq.ref:
            ups += 1
        elif cq.last < cq.ref:
            downs += 1
        else:
            flats += 1
    single = {
        "현재가": lv(q.last), "전일대비기호": fmt.sign_code(q.last, ref),
        "전일대비": fmt.rate((q.last - ref) / 100.0), "등락률": fmt.rate(fmt.change_rate(q.last, ref)),
        "거래량": str(q.volume), "거래대금": str(q.value // 1_000_000),
        "거래형성종목수": str(len(members)), "거래형성비율": "100.00",
        "시가": lv(q.open), "고가": lv(q.high), "저가": lv(q.low),
        "상한": "0", "상승": str(ups), "보합": str(flats), "하락": str(downs), "하한": "0",
        "52주최고가": "", "52주최고가일": "", "52주최고가대비율": "",
        "52주최저가": "", "52주최저가일": "", "52주최저가대비율": "",
    }
    return TrPage(single=single)
