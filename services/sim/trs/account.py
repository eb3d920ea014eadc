"""Account TRs from the simulated accounts: opw00001 (deposit), opw00004/opw00018 (valuation and
holdings), opw00005 (not on mock), opw00007 (order history of any day), opt10074/opt10077 (realised P&L),
opt10075 (open orders), opt10076 (fills), opt10085 (returns).

Numbers of opw00001/opw00004/opw00018 are zero-padded to the record widths (12 or 15 digits,
sign included) as the real control sends them; opw00018 종목번호 and opt10075 종목코드 carry 'A'.
An account that is not one of the simulated ones gets an empty answer.
"""
from __future__ import annotations

from datetime import datetime
from typing import Dict, List

from koabus.common.clock import KST

from .. import formats as fmt
from .base import TrPage, TrRequest, paginate, responds_to

MSG_NOT_ON_MOCK = "[00Z113] 모의투자에서는 해당업무가 제공되지 않습니다"


def _z15(value: int) -> str:
    return fmt.zero_pad(int(value), 15)


def _account(world, req: TrRequest):
    number = req.get("계좌번호")
    return number if world.has_account(number) else None


@responds_to("opw00001")
def deposit(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    cash = world.cash(acc, req.t)
    single: Dict[str, str] = {f.name: _z15(0) for f in req.spec.single_outputs}
    single.update({
        "예수금": _z15(cash.deposit), "출금가능금액": _z15(cash.withdrawable),
        "주문가능금액": _z15(cash.orderable), "100%종목주문가능금액": _z15(cash.orderable),
        "20%종목주문가능금액": _z15(cash.orderable), "30%종목주문가능금액": _z15(cash.orderable),
        "40%종목주문가능금액": _z15(cash.orderable), "최소주문가능금액": _z15(cash.orderable),
        "d+1추정예수금": _z15(cash.d1), "d+1출금가능금액": _z15(cash.d1),
        "d+2추정예수금": _z15(cash.d2), "d+2출금가능금액": _z15(cash.d2),
        "신용담보비율": "0.00", "출력건수": "0001",
    })
    row = {f.name: "" for f in req.spec.multi_outputs}
    row.update({"통화코드": "KRW", "외화예수금": "0.00"})
    return TrPage(single=single, rows=[row])


def _valuation(world, acc: str, t: float):
    rows = []
    total_cost = total_eval = 0
    for pos in world.positions(acc, t):
        if pos.qty <= 0:
            continue
        last = world.last_price(pos.code, t)
        value = last * pos.qty
        total_cost += pos.cost
        total_eval += value
        rows.append((pos, last, value))
    return rows, total_cost, total_eval


@responds_to("opw00018")
def holdings(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    items, total_cost, total_eval = _valuation(world, acc, req.t)
    cash = world.cash(acc, req.t)
    out_rows: List[dict] = []
    for pos, last, value in items:
        inst = world.instrument(pos.code)
        pnl = value - pos.cost
        rate = pnl * 100.0 / pos.cost if pos.cost else 0.0
        out_rows.append({
            "종목번호": fmt.a_code(pos.code), "종목명": inst.name if inst else "",
            "평가손익": _z15(pnl), "수익률(%)": fmt.zero_pad_rate(rate, 12),
            "매입가": _z15(pos.avg_price), "전일종가": _z15(world.reference_price(pos.code, req.t)),
            "보유수량": _z15(pos.qty), "매매가능수량": _z15(pos.orderable), "현재가": _z15(last),
            "전일매수수량": _z15(0), "전일매도수량": _z15(0),
            "금일매수수량": _z15(pos.today_buy), "금일매도수량": _z15(pos.today_sell),
            "매입금액": _z15(pos.cost), "매입수수료": _z15(pos.cost * 35 // 10000 // 10 * 10),
            "평가금액": _z15(value), "평가수수료": _z15(value * 35 // 10000 // 10 * 10),
            "세금": _z15(0), "수수료합": _z15((pos.cost + value) * 35 // 10000 // 10 * 10),
            "보유비중(%)": fmt.zero_pad_rate(value * 100.0 / total_eval if total_eval else 0.0, 12),
            "신용구분": "00", "신용구분명": "", "대출일": "",
        })
    pnl_total = total_eval - total_cost
    single = {
        "총매입금액": _z15(total_cost), "총평가금액": _z15(total_eval), "총평가손익금액": _z15(pnl_total),
        "총수익률(%)": fmt.zero_pad_rate(pnl_total * 100.0 / total_cost if total_cost else 0.0, 12),
        "추정예탁자산": _z15(cash.d2 + total_eval), "총대출금": _z15(0), "총융자금액": _z15(0),
        "총대주금액": _z15(0), "조회건수": str(len(out_rows)).zfill(4),
    }
    return TrPage(single=single, rows=out_rows)


@responds_to("opw00004")
def valuation(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    items, total_cost, total_eval = _valuation(world, acc, req.t)
    cash = world.cash(acc, req.t)
    rows = []
    for pos, last, value in items:
        inst = world.instrument(pos.code)
        pnl = value - pos.cost
        rows.append({
            "종목코드": fmt.a_code(pos.code), "종목명": inst.name if inst else "", "보유수량": _z15(pos.qty),
            "평균단가": _z15(pos.avg_price), "현재가": _z15(last), "평가금액": _z15(value),
            "손익금액": _z15(pnl), "손익율": fmt.zero_pad(int(pnl * 10000 / pos.cost) if pos.cost else 0, 12),
            "대출일": "", "매입금액": _z15(pos.cost), "결제잔고": _z15(pos.qty), "전일매수수량": _z15(0),
            "전일매도수량": _z15(0), "금일매수수량": _z15(pos.today_buy), "금일매도수량": _z15(pos.today_sell),
        })
    page, nxt = paginate(rows, req.cursor, 30)
    pnl_total = total_eval - total_cost
    single = {
        "계좌명": "모의투자", "지점명": "모의투자", "예수금": _z15(cash.deposit), "D+2추정예수금": _z15(cash.d2),
        "유가잔고평가액": _z15(total_eval), "예탁자산평가액": _z15(cash.d2 + total_eval),
        "총매입금액": _z15(total_cost), "추정예탁자산": _z15(cash.d2 + total_eval), "매도담보대출금": _z15(0),
        "당일투자원금": _z15(total_cost), "당월투자원금": _z15(total_cost), "누적투자원금": _z15(total_cost),
        "당일투자손익": _z15(pnl_total), "당월투자손익": _z15(pnl_total), "누적투자손익": _z15(pnl_total),
        "당일손익율": fmt.zero_pad_rate(pnl_total * 100.0 / total_cost if total_cost else 0.0, 12),
        "당월손익율": fmt.zero_pad_rate(pnl_total * 100.0 / total_cost if total_cost else 0.0, 12),
        "누적손익율": fmt.zero_pad_rate(pnl_total * 100.0 / total_cost if total_cost else 0.0, 12),
        "출력건수": str(len(page)).zfill(4),
    }
    return TrPage(single=single, rows=page, next_cursor=nxt)


@responds_to("opw00005")
def fill_balance(world, req: TrRequest) -> TrPage:
    return TrPage(message=MSG_NOT_ON_MOCK)


def _order_rows(world, acc: str, t: float):
    return world.orders(acc, t)


@responds_to("opt10075")
def open_orders(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    only_code = req.get("종목코드") if req.get("전체종목구분", "0") == "1" else ""
    side = req.get("매매구분", "0")
    fill_kind = req.get("체결구분", "0")
    rows = []
    for o in reversed(_order_rows(world, acc, req.t)):
        if only_code and o.code != only_code:
            continue
        if side in ("1", "2") and o.side != side:
            continue
        if fill_kind == "1" and o.unfilled == 0:
            continue
        if fill_kind == "2" and o.filled_qty == 0:
            continue
        if fill_kind == "0" and o.unfilled == 0:
            continue  # 미체결: the default lists what is still open
        ref = world.reference_price(o.code, req.t)
        last, ask, bid = world.snapshot_prices(o.code, req.t)
        inst = world.instrument(o.code)
        rows.append({
            "계좌번호": acc, "주문번호": fmt.order_no(o.order_no), "관리사번": "", "종목코드": fmt.a_code(o.code),
            "업무구분": "JJ", "주문상태": o.status, "종목명": inst.name if inst else "", "주문수량": str(o.qty),
            "주문가격": str(o.price), "미체결수량": str(o.unfilled), "체결누계금액": str(o.filled_amount),
            "원주문번호": fmt.order_no(o.org_order_no) if o.org_order_no else "0000000",
            "주문구분": fmt.ORDER_KIND_TEXT[o.order_type], "매매구분": fmt.HOGA_TEXT.get(o.hoga, ""), "시간": fmt.hhmmss(fmt.from_epoch(o.t)),
            "체결번호": o.last_fill_no,
            "체결가": str(o.last_fill_price) if o.last_fill_price else "",
            "체결량": str(o.filled_qty) if o.filled_qty else "",
            "현재가": fmt.price_vs(last, ref), "매도호가": fmt.price_vs(ask, ref), "매수호가": fmt.price_vs(bid, ref),
            "단위체결가": str(o.last_fill_price) if o.last_fill_price else "",
            "단위체결량": str(o.last_fill_qty) if o.last_fill_qty else "",
            "당일매매수수료": str(o.commission), "당일매매세금": str(o.tax), "개인투자자": "",
        })
    page, nxt = paginate(rows, req.cursor, 100)
    return TrPage(rows=page, next_cursor=nxt)


@responds_to("opt10076")
def fills(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    only_code = req.get("종목코드") if req.get("조회구분", "0") == "1" else ""
    side = req.get("매도수구분", "0")
    rows = []
    for o in reversed(_order_rows(world, acc, req.t)):
        if o.filled_qty == 0 or (only_code and o.code != only_code) or (side in ("1", "2") and o.side != side):
            continue
        inst = world.instrument(o.code)
        rows.append({
            "주문번호": fmt.order_no(o.order_no), "종목명": inst.name if inst else "", "주문구분": fmt.ORDER_KIND_TEXT[o.order_type],
            "주문가격": str(o.price), "주문수량": str(o.qty),
            "체결가": str(o.filled_amount // o.filled_qty), "체결량": str(o.filled_qty),
            "미체결수량": str(o.unfilled), "당일매매수수료": str(o.commission), "당일매매세금": str(o.tax),
            "주문상태": o.status, "매매구분": fmt.HOGA_TEXT.get(o.hoga, ""),
            "원주문번호": fmt.order_no(o.org_order_no) if o.org_order_no else "0000000",
            "주문시간": fmt.hhmmss(fmt.from_epoch(o.t)), "종목코드": o.code,
        })
    page, nxt = paginate(rows, req.cursor, 100)
    return TrPage(rows=page, next_cursor=nxt)


def _history_orders(world, acc: str, req: TrRequest) -> list:
    """opw00007's orders: those of the session day 주문일자 (blank: today), filtered by 조회구분 (1 by
    order, 2 reverse, 3 unfilled, 4 fills only), 매도수구분 and 종목코드; a day with no session has none."""
    day_text = req.get("주문일자")
    t = req.t
    if day_text:
        try:
            day = datetime.strptime(day_text, "%Y%m%d").replace(hour=12, tzinfo=KST)
        except ValueError:
            return []
        t = day.timestamp()
        if world.session_key(t) != day.date():
            return []
    kind, side, code = req.get("조회구분", "1"), req.get("매도수구분", "0"), req.get("종목코드")
    orders = [o for o in _order_rows(world, acc, t)
              if (side not in ("1", "2") or o.side == side) and (not code or o.code == code)
              and (kind != "3" or o.unfilled > 0) and (kind != "4" or o.filled_qty > 0)]
    return orders[::-1] if kind == "2" else orders


@responds_to("opw00007")
def order_history(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    rows = []
    for o in _history_orders(world, acc, req):
        inst = world.instrument(o.code)
        rows.append({
            "주문번호": fmt.order_no(o.order_no), "종목번호": fmt.a_code(o.code),
            "매매구분": fmt.HOGA_TEXT.get(o.hoga, ""),
            "신용구분": "보통매매", "주문수량": str(o.qty), "주문단가": str(o.price), "확인수량": str(o.qty),
            "접수구분": "접수", "반대여부": "", "주문시간": fmt.hhmmss(fmt.from_epoch(o.t)),
            "원주문": fmt.order_no(o.org_order_no) if o.org_order_no else "0000000",
            "종목명": inst.name if inst else "", "주문구분": fmt.ORDER_KIND_TEXT[o.order_type], "대출일": "",
            "체결수량": str(o.filled_qty),
            "체결단가": str(o.filled_amount // o.filled_qty) if o.filled_qty else "0",
            "주문잔량": str(o.unfilled), "통신구분": "오픈API", "정정취소": "", "확인시간": "",
        })
    return TrPage(single={"출력건수": str(len(rows))}, rows=rows)


@responds_to("opt10085")
def returns(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    day = world.session_key(req.t).strftime("%Y%m%d")
    rows = []
    for pos, last, _value in _valuation(world, acc, req.t)[0]:
        inst = world.instrument(pos.code)
        rows.append({
            "일자": day, "종목코드": pos.code, "종목명": inst.name if inst else "",
            "현재가": str(last), "매입가": str(pos.avg_price), "매입금액": str(pos.cost),
            "보유수량": str(pos.qty), "당일매도손익": str(pos.realized_today), "당일매매수수료": "0",
            "당일매매세금": "0", "신용구분": "00", "대출일": "", "결제잔고": str(pos.qty),
            "청산가능수량": str(pos.orderable), "신용금액": "0", "신용이자": "0", "만기일": "",
        })
    page, nxt = paginate(rows, req.cursor, 100)
    return TrPage(rows=page, next_cursor=nxt)


@responds_to("opt10074")
def realized_by_day(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    orders = _order_rows(world, acc, req.t)
    buy = sum(o.filled_amount for o in orders if o.side == "2")
    sell = sum(o.filled_amount for o in orders if o.side == "1")
    fee = sum(o.commission for o in orders)
    tax = sum(o.tax for o in orders)
    realized = sum(p.realized_today for p in world.positions(acc, req.t))
    single = {"총매수금액": str(buy), "총매도금액": str(sell), "실현손익": fmt.signed(realized),
              "매매수수료": str(fee), "매매세금": str(tax)}
    rows = []
    if orders:
        rows.append({"일자": world.session_key(req.t).strftime("%Y%m%d"), "매수금액": str(buy),
                     "매도금액": str(sell), "당일매도손익": fmt.signed(realized),
                     "당일매매수수료": str(fee), "당일매매세금": str(tax)})
    return TrPage(single=single, rows=rows)


@responds_to("opt10077")
def realized_today(world, req: TrRequest) -> TrPage:
    acc = _account(world, req)
    if acc is None:
        return TrPage()
    only = req.get("종목코드")
    rows = []
    total = 0
    for pos in world.positions(acc, req.t):
        if (only and pos.code != only) or not pos.today_sell:
            continue
        inst = world.instrument(pos.code)
        total += pos.realized_today
        rows.append({
            "종목명": inst.name if inst else "", "체결량": str(pos.today_sell), "매입단가": str(pos.avg_price),
            "체결가": str(world.last_price(pos.code, req.t)), "당일매도손익": fmt.signed(pos.realized_today),
            "손익율": fmt.rate(pos.realized_today * 100.0 / (pos.avg_price * pos.today_sell)
                              if pos.avg_price and pos.today_sell else 0.0),
            "당일매매수수료": "0", "당일매매세금": "0", "종목코드": pos.code,
        })
    return TrPage(single={"당일실현손익": fmt.signed(total)}, rows=rows)
