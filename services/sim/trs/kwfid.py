"""OPTKWFID (관심종목정보요청, only via CommKwRqData): one 63-column row per requested code.

Field meanings follow the recorded rows (condition_search_with_optkwfid, 14:29): 예상체결가 is the
last auction's price (equal to 시가 during the session), not the current price; 액면가 is the whole
won par value ('5000', '500'); 거래대금 is the same cumulative value the realtime FID 14 carries.
"""
from __future__ import annotations

from datetime import datetime

from koabus.common.clock import KST

from .. import formats as fmt
from .base import TrPage, TrRequest, last_auction, responds_to, traded_value


def kw_row(world, code: str, t: float) -> dict:
    inst = world.instrument(code)
    q = world.quote(code, t)
    asks, bids = world.book(code, t)
    ref = q.ref
    strength = (q.buy_volume * 100.0 / q.sell_volume) if q.sell_volume else 0.0
    vol_ratio = (q.volume * 100.0 / q.prev_volume) if q.prev_volume else 0.0
    auction_price, auction_qty = last_auction(world, code, t, q)
    row = {
        "종목코드": code, "종목명": inst.name,
        "현재가": fmt.price_vs(q.last, ref), "기준가": str(ref), "전일대비": fmt.signed(q.change),
        "전일대비기호": str(q.sign), "등락율": fmt.rate(q.rate, plus=False) if q.rate <= 0 else fmt.rate(q.rate),
        "거래량": str(q.volume), "거래대금": str(traded_value(world, code, t) // 1_000_000),
        "체결량": fmt.signed(q.last_qty), "체결강도": fmt.rate(strength, plus=False),
        "전일거래량대비": fmt.rate(vol_ratio - 100.0),
        "매도호가": fmt.price_vs(q.ask1, ref), "매수호가": fmt.price_vs(q.bid1, ref),
        "상한가": fmt.price_vs(q.upper, ref), "하한가": fmt.price_vs(q.lower, ref),
        "시가": fmt.price_vs(q.open, ref), "고가": fmt.price_vs(q.high, ref),
        "저가": fmt.price_vs(q.low, ref), "종가": fmt.price_vs(q.last, ref),
        "체결시간": fmt.hhmmss(fmt.from_epoch(q.last_time)) if q.last_time else "",
        "예상체결가": fmt.price_vs(auction_price, ref) if auction_price else "0",
        "예상체결량": str(auction_qty),
        "자본금": str(inst.face_value * inst.shares // 100_000_000),
        "액면가": str(inst.face_value),  # '5000', '500' (recorded; KRW par values are whole)
        "시가총액": str(q.last * inst.shares // 100_000_000), "주식수": str(inst.shares // 1000),
        "호가시간": datetime.fromtimestamp(t, KST).strftime("%H%M%S"),
        "일자": q.session_date.strftime("%Y%m%d"),
        "우선매도잔량": str(q.ask1_qty), "우선매수잔량": str(q.bid1_qty), "우선매도건수": "", "우선매수건수": "",
        "총매도잔량": str(sum(x for _, x in asks)), "총매수잔량": str(sum(x for _, x in bids)),
        "총매도건수": "0", "총매수건수": "",
        "패리티": "0.00", "기어링": "0.00", "손익분기": "0.00", "자본지지": "0.00", "ELW행사가": "0",
        "전환비율": "0.0000", "ELW만기일": "00000000",
    }
    for level in range(1, 6):
        ask = asks[level - 1][0] if level - 1 < len(asks) else 0
        bid = bids[level - 1][0] if level - 1 < len(bids) else 0
        row[f"매도{level}차호가"] = fmt.price_vs(ask, ref)
        row[f"매수{level}차호가"] = fmt.price_vs(bid, ref)
    return row


@responds_to("optkwfid")
def watchlist(world, req: TrRequest) -> TrPage:
    rows = []
    for code in req.get("종목코드").split(";"):
        if code and world.is_stock(code):
            rows.append(kw_row(world, code, req.t))
    return TrPage(rows=rows)
