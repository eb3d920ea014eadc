"""Ranking and investor TRs: opt10030 (today's volume leaders), opt10059 (investors by stock).

Investor flows are not modelled by the market: opt10059 splits each day's volume among investor
groups deterministically (seeded by code and date), buyers and sellers netting to zero.
"""
from __future__ import annotations

import random
import zlib

from .. import formats as fmt
from .base import TrPage, TrRequest, paginate, responds_to, traded_value

_MARKETS = {"000": ("0", "10"), "001": ("0",), "101": ("10",)}
_GROUPS = ("개인투자자", "외국인투자자", "기관계", "금융투자", "보험", "투신", "기타금융", "은행", "연기금등",
           "사모펀드", "국가", "기타법인", "내외국인")


@responds_to("opt10030")
def volume_leaders(world, req: TrRequest) -> TrPage:
    markets = _MARKETS.get(req.get("시장구분", "000"), ("0", "10"))
    sort = req.get("정렬구분", "1")
    rows = []
    for inst in world.listing.instruments():
        if inst.market not in markets:
            continue
        q = world.quote(inst.code, req.t)
        turnover = q.volume * 100.0 / inst.shares if inst.shares else 0.0
        vol_ratio = q.volume * 100.0 / q.prev_volume if q.prev_volume else 0.0
        value = traded_value(world, inst.code, req.t)
        key = {"2": turnover, "3": value}.get(sort, q.volume)
        rows.append((key, {
            "종목코드": inst.code, "종목명": inst.name, "현재가": fmt.price_vs(q.last, q.ref),
            "전일대비기호": str(q.sign), "전일대비": fmt.signed(q.change), "등락률": fmt.rate(q.rate),
            "거래량": str(q.volume), "전일비": fmt.rate(vol_ratio, plus=False),
            "거래회전율": fmt.rate(turnover, plus=False), "거래금액": str(value // 1_000_000),
        }))
    rows.sort(key=lambda r: -r[0])
    page, nxt = paginate([r for _, r in rows], req.cursor, 100)
    return TrPage(rows=page, next_cursor=nxt)


@responds_to("opt10059")
def investors(world, req: TrRequest) -> TrPage:
    code = req.get("종목코드")
    if not world.is_stock(code):
        return TrPage()
    end = req.cursor or world.parse_day(req.get("일자"), req.t)
    bars = world.daily_bars(code, end, 101, False)
    page, more = bars[:100], len(bars) > 100
    amount = req.get("금액수량구분", "1") == "1"
    unit = 1000 if req.get("단위구분", "1") == "1000" else 1
    rows = []
    for bar in page:
        rng = random.Random(zlib.crc32(f"{code}{bar.date}".encode()))
        flows = [rng.randint(-bar.volume // 5, bar.volume // 5) for _ in range(3)]
        flows.append(-sum(flows))  # net buying sums to zero across groups
        person, foreign, inst_total, other = flows
        parts = [inst_total * w // 100 for w in (40, 10, 20, 5, 5, 15, 3)]
        parts.append(inst_total - sum(parts))
        if amount:
            scale = bar.close / 1_000_000
            person, foreign, inst_total, other = (int(x * scale) for x in (person, foreign, inst_total, other))
            parts = [int(p * scale) for p in parts]
        else:
            person, foreign, inst_total, other = (x // unit for x in (person, foreign, inst_total, other))
            parts = [p // unit for p in parts]
        values = [person, foreign, inst_total] + parts + [other, 0]
        row = {
            "일자": bar.date.strftime("%Y%m%d"), "현재가": fmt.price_vs(bar.close, bar.ref),
            "대비기호": fmt.sign_code(bar.close, bar.ref), "전일대비": fmt.signed(bar.close - bar.ref),
            "등락율": fmt.rate(fmt.change_rate(bar.close, bar.ref)), "누적거래량": str(bar.volume),
            "누적거래대금": str(bar.value // 1_000_000),
        }
        for name, value in zip(_GROUPS, values):
            row[name] = fmt.signed(value)
        rows.append(row)
    nxt = world.calendar.previous_session(page[-1].date) if more and page else None
    return TrPage(rows=rows, next_cursor=nxt)
