"""Orders: SendOrder/SendOrderCredit/SendOrderFO and the recorded event sequence (facts §5.5, §8, §9).

Accepted order (mock server, recorded 2022-01-18):
  OnReceiveMsg(scr, rq, 'KOA_NORMAL_BUY_KP_ORD', '[100000] 모의투자 매수주문완료')
  OnReceiveTrData(scr, rq, 'KOA_NORMAL_BUY_KP_ORD', '', '', 0, '', '', '')  -> 주문번호 '0163911'
  OnReceiveChejanData('0', 35, ...) 913='접수'; one ('0', 35) 913='체결' per fill; ('1', 34) balance.
The fill of a market order comes a second after its acceptance (exchange.py), so 908 differs
between the 접수 and 체결 events as recorded (142940, 142941). 10010 (시간외단일가_현재가) is the
after-hours single-price market's last print (the previous session's before today's 16:00 one,
recorded '-77300' beside 현재가 '-77000'), not the current price. 8019 손익율 and 990/991 are the
realised figures of today's sells ('0.00' for a buy, as recorded while the holding was at a loss).
Rejected by the server: OnReceiveMsg with the server's text, then OnReceiveTrData with an empty
주문번호. Cancel/modify: the new order gets 913='확인' (904 = the original), then the original is
updated. SendOrderFO: the simulated accounts are stock accounts; it returns 0 and the server
rejects it with a message (no derivatives are modelled).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence

from koabus.metadata import catalog

from . import formats as fmt
from .core import (
    OP_ERR_NONE,
    OP_ERR_ORD_OVERFLOW,
    OP_ERR_ORD_SYMCODE_EMPTY,
    OP_ERR_ORD_WRONG_INPUT,
    OP_ERR_OTHER_ACC_USE,
    OP_ERR_SOCKET_CLOSED,
    SimCore,
)
from .world import OrderEvent, OrderTicket

log = logging.getLogger(__name__)

_SIDE_TEXT = fmt.ORDER_KIND_TEXT
_HOGA_TEXT = fmt.HOGA_TEXT
FO_REJECT = "[00Z917] 모의투자 선물옵션 계좌가 아닙니다"


def order_tr_name(order_type: int, market: str) -> str:
    """KOA_NORMAL_BUY_KP_ORD, KOA_NORMAL_SELL_KQ_ORD, KOA_NORMAL_KP_CANCEL, KOA_NORMAL_KQ_MODIFY..."""
    mk = "KQ" if market == "10" else "KP"
    if order_type == 1:
        return f"KOA_NORMAL_BUY_{mk}_ORD"
    if order_type == 2:
        return f"KOA_NORMAL_SELL_{mk}_ORD"
    if order_type in (3, 4):
        return f"KOA_NORMAL_{mk}_CANCEL"
    return f"KOA_NORMAL_{mk}_MODIFY"


class _OrderTrContext:
    """OnReceiveTrData of an order: the only field is 주문번호 (empty when rejected)."""

    def __init__(self, order_no: str):
        self._order_no = order_no

    def repeat_count(self) -> int:
        return 0

    def value(self, index: int, item: str) -> str:
        return self._order_no if item == "주문번호" and index == 0 else ""

    def value_at(self, row: int, column: int) -> str:
        return ""

    def rows_as_lists(self) -> List[List[str]]:
        return []


class OrderService:
    """Order members and the chejan stream from the simulated exchange."""

    def __init__(self, core: SimCore):
        self._core = core
        self._fids0 = catalog().chejan_fids("0")
        self._fids1 = catalog().chejan_fids("1")
        self._list0 = ";".join(str(f) for f in self._fids0)
        self._list1 = ";".join(str(f) for f in self._fids1)
        self._tickets: Dict[str, OrderTicket] = {}  # order number -> what the client sent

    # -- members -------------------------------------------------------------------------------
    def send_order(self, rq_name: str, screen: str, account: str, order_type: int, code: str,
                   qty: int, price: int, hoga: str, org_order_no: str) -> int:
        return self._send(rq_name, screen, account, order_type, code, qty, price, hoga, org_order_no,
                          credit="00")

    def send_order_credit(self, rq_name: str, screen: str, account: str, order_type: int, code: str,
                          qty: int, price: int, hoga: str, credit: str, loan_date: str,
                          org_order_no: str) -> int:
        return self._send(rq_name, screen, account, order_type, code, qty, price, hoga, org_order_no,
                          credit=credit.strip() or "00")

    def send_order_fo(self, rq_name: str, screen: str, account: str, code: str, kind: int, side: str,
                      hoga: str, qty: int, price: str, org_order_no: str) -> int:
        rc = self._precheck(screen, account, code)
        if rc != OP_ERR_NONE:
            return rc
        tr = "KOA_NORMAL_FO_ORD"
        self._core.post("OnReceiveMsg", screen, rq_name, tr, FO_REJECT)
        self._core.post("OnReceiveTrData", screen, rq_name, tr, "", "", 0, "", "", "",
                        context=_OrderTrContext(""))
        return OP_ERR_NONE

    def _precheck(self, screen: str, account: str, code: str) -> int:
        core = self._core
        if not core.connected:
            return OP_ERR_SOCKET_CLOSED
        if account.strip() not in {a.number for a in core.config.accounts}:
            return OP_ERR_OTHER_ACC_USE
        if not code.strip():
            return OP_ERR_ORD_SYMCODE_EMPTY
        if not core.valid_screen(screen):
            return OP_ERR_ORD_WRONG_INPUT
        if core.order_limiter.try_acquire(core.now()) is not None:
            return OP_ERR_ORD_OVERFLOW
        return OP_ERR_NONE

    def _send(self, rq_name: str, screen: str, account: str, order_type: int, code: str, qty: int,
              price: int, hoga: str, org_order_no: str, credit: str) -> int:
        core = self._core
        code = code.strip()
        if order_type not in _SIDE_TEXT or qty < 0 or price < 0:
            return OP_ERR_ORD_WRONG_INPUT
        if order_type <= 2 and qty == 0:
            return OP_ERR_ORD_WRONG_INPUT
        if order_type >= 3 and not org_order_no.strip():
            return OP_ERR_ORD_WRONG_INPUT
        rc = self._precheck(screen, account, code)
        if rc != OP_ERR_NONE:
            return rc
        inst = core.world.instrument(code)
        market = inst.market if inst is not None else "0"
        core.use_screen(screen)
        core.stats.orders += 1
        # One instant for the matching up to the order and the order itself, so a replay of the
        # stored input (store.py) through a fresh exchange gives the same fills.
        now = core.now()
        ticket = OrderTicket(rq_name=rq_name, screen=screen, account=account.strip(), order_type=order_type,
                             code=code, qty=qty, price=price, hoga=hoga.strip(),
                             org_order_no=org_order_no.strip(), credit=credit,
                             tr_name=order_tr_name(order_type, market), t=now)
        self.step(0.0, now)  # what the exchange matched before this instant goes first
        try:
            result = core.world.submit(ticket)  # with a store: on disk before SendOrder returns
        except OSError as exc:
            # The server could not keep the order: to the caller it is a lost link, not a 0.
            log.error("simulated server state: could not store an order input (%s); link dropped", exc)
            core.drop_connection()
            return OP_ERR_SOCKET_CLOSED
        if result.rejected:
            core.post("OnReceiveMsg", screen, rq_name, ticket.tr_name, result.message)
            core.post("OnReceiveTrData", screen, rq_name, ticket.tr_name, "", "", 0, "", "", "",
                      context=_OrderTrContext(""))
            return OP_ERR_NONE
        order_no = fmt.order_no(result.order_no)
        self._tickets[order_no] = ticket
        message = result.message if core.config.server_gubun == "1" else result.message.replace("모의투자 ", "")
        msg = ("OnReceiveMsg", (screen, rq_name, ticket.tr_name, message), None)
        trd = ("OnReceiveTrData", (screen, rq_name, ticket.tr_name, "", "", 0, "", "", ""),
               _OrderTrContext(order_no))
        chejan = self._render_events(result.events)
        if core.faults.chejan_before_tr and chejan:
            sequence = [chejan[0], msg, trd] + chejan[1:]
        else:
            sequence = [msg, trd] + chejan
        for name, args, context in sequence:
            core.post(name, *args, context=context)
        return OP_ERR_NONE

    def restore(self, tickets: Dict[str, OrderTicket]) -> None:
        """The tickets of orders replayed from the store (their screens for later chejan)."""
        self._tickets.update(tickets)

    # -- the exchange's clock ------------------------------------------------------------------
    def step(self, t0: float, t1: float) -> None:
        world = self._core.world
        if not world.exchange_started:
            return
        events = world.advance_exchange(t1)
        if not events or not self._core.connected:
            return
        for name, args, context in self._render_events(events):
            self._core.post(name, *args, context=context)

    # -- rendering -----------------------------------------------------------------------------
    def _render_events(self, events: Sequence[OrderEvent]) -> List[tuple]:
        out: List[tuple] = []
        for ev in events:
            if ev.kind == "balance":
                values = self._balance_values(ev)
                out.append(("OnReceiveChejanData", ("1", len(self._fids1), self._list1), values))
            else:
                values = self._order_values(ev)
                out.append(("OnReceiveChejanData", ("0", len(self._fids0), self._list0), values))
        return out

    def _after_hours_price(self, code: str, t: float) -> int:
        """시간외단일가_현재가 at t: today's last after-hours single-price print once there is one,
        else the previous session's, else the previous close (today's reference)."""
        world = self._core.world
        day = world.session_key(t)
        path = world.market.path(code, day)
        if path is not None and len(path):
            i = path.index_at(t)
            j = path.last_single(i) if i > path.reg_last >= 0 else -1
            if j >= 0:
                return int(path.price[j])
        prev = world.calendar.previous_session(day)
        path = world.market.path(code, prev)
        if path is not None and len(path):
            j = path.last_single(len(path) - 1)
            if j >= 0:
                return int(path.price[j])
        return world.reference_price(code, t)

    def _order_values(self, ev: OrderEvent) -> Dict[int, str]:
        world = self._core.world
        ticket = self._tickets.get(fmt.order_no(ev.order_no))
        screen = ticket.screen if ticket is not None else ev.screen
        inst = world.instrument(ev.code)
        ref = world.reference_price(ev.code, ev.t)
        last, ask, bid = world.snapshot_prices(ev.code, ev.t)
        filled = ev.kind == "filled"
        return {
            9201: ev.account,
            9203: fmt.order_no(ev.order_no),
            9205: "",
            9001: fmt.a_code(ev.code),
            912: "JJ",
            913: ev.status,
            302: inst.name if inst is not None else "",
            900: str(ev.qty),
            901: str(ev.price),
            902: str(ev.unfilled),
            903: str(ev.filled_amount),
            904: fmt.order_no(ev.org_order_no) if ev.org_order_no else "0000000",
            905: _SIDE_TEXT.get(ev.order_type, ""),
            906: _HOGA_TEXT.get(ev.hoga, ""),
            907: ev.side,
            908: fmt.hhmmss(fmt.from_epoch(ev.t)),
            909: ev.fill_no if filled else "",
            910: str(ev.fill_price) if filled else "",
            911: str(ev.filled_qty) if filled else "",
            10: fmt.price_vs(last, ref),
            27: fmt.price_vs(ask, ref),
            28: fmt.price_vs(bid, ref),
            914: str(ev.fill_price) if filled else "",
            915: str(ev.fill_qty) if filled else "",
            938: str(ev.commission),
            939: str(ev.tax),
            919: "0",
            920: screen,
            921: "",
            922: "00",
            923: "00000000",
            949: "3",
            10010: fmt.price_vs(self._after_hours_price(ev.code, ev.t), ref),
            969: "0",
            819: "0",
        }

    def _balance_values(self, ev: OrderEvent) -> Dict[int, str]:
        world = self._core.world
        pos = ev.position
        inst = world.instrument(ev.code)
        info = world.instrument_info(ev.code, ev.t)
        ref = info.ref
        last, ask, bid = world.snapshot_prices(ev.code, ev.t)
        rate = fmt.change_rate(last, ref)
        sold_cost = pos.avg_price * pos.today_sell
        realized_rate = (pos.realized_today * 100.0 / sold_cost) if sold_cost else 0.0
        return {
            9201: ev.account,
            9001: fmt.a_code(ev.code),
            917: "00",
            916: "00000000",
            302: inst.name if inst is not None else "",
            10: fmt.price_vs(last, ref),
            930: str(pos.qty),
            931: str(pos.avg_price),
            932: str(pos.cost),
            933: str(pos.orderable),
            945: str(pos.today_net),
            946: ev.side,
            950: str(pos.realized_today),
            951: "0",
            27: fmt.price_vs(ask, ref),
            28: fmt.price_vs(bid, ref),
            307: str(ref),
            8019: fmt.rate(realized_rate, plus=False),
            957: "0",
            958: "0",
            918: "00000000",
            990: str(pos.realized_today),
            991: fmt.rate(realized_rate, plus=False),
            992: "0",
            993: "0.00",
            959: "0",
            924: "0",
            10010: fmt.price_vs(self._after_hours_price(ev.code, ev.t), ref),
            25: fmt.sign_code(last, ref, info.upper, info.lower),
            11: fmt.signed(last - ref),
            12: fmt.rate(rate, plus=False) if last <= ref else fmt.rate(rate),
            306: fmt.price_vs(info.lower, ref),
            305: fmt.price_vs(info.upper, ref),
            970: str(inst.margin_rate // 2) if inst is not None else "10",
        }


