"""The matching engine and the simulated accounts."""
from __future__ import annotations

from datetime import date

import pytest

from koabus.services.sim.market import ExchangeConfig, ticks
from koabus.services.sim.market.exchange import (
    RECORDED_MARKET_FILL_DELAY_S,
    REJECTIONS,
    BalanceChange,
    Exchange,
    OrderEvent,
)

from .conftest import kst

DAY = date(2025, 3, 6)
ACC = "8123456711"
CASH = 5_000_000_000


@pytest.fixture
def venue(make_market):
    """(market, exchange) at 10:00 on 2025-03-06."""
    market = make_market(kst(2025, 3, 6, 10, 0))
    return market, Exchange(market, config=ExchangeConfig(initial_deposit=CASH))


def kinds(events):
    return [e.kind if isinstance(e, OrderEvent) else "balance" for e in events]


def test_mock_market_buy_fills_whole_at_the_current_price_not_the_ask(venue):
    """Facts §5.5: 현재가 77,000, ask 77,100, bid 77,000 -> one fill at 77,000."""
    market, ex = venue
    now = market.clock.time()
    book = market.book("005930")
    qty = book.asks[0][1] * 3  # more than the best ask holds: still one fill
    result = ex.submit(ACC, "buy", "005930", qty, 0, "03")
    assert kinds(result.events) == ["accepted", "filled", "balance"]
    fill = result.events[1].fill
    assert (fill.t, fill.qty, fill.price) == (now, qty, market.trading_state("005930", now).last)
    assert result.events[2].position.cost == fill.price * qty


def test_recorded_fill_delay_fills_a_second_after_the_acceptance(make_market):
    market = make_market(kst(2025, 3, 6, 10, 0))
    ex = Exchange(market, config=ExchangeConfig(initial_deposit=CASH),
                  market_fill_delay_s=RECORDED_MARKET_FILL_DELAY_S)
    now = market.clock.time()
    result = ex.submit(ACC, "buy", "005930", 5, 0, "03")
    assert result.ok and kinds(result.events) == ["accepted"]
    assert ex.advance(now + 0.5) == []
    events = ex.advance(now + 1.0)
    assert kinds(events) == ["filled", "balance"]
    fill = events[0].fill
    assert (fill.t, fill.qty) == (now + 1.0, 5) and events[0].order.remaining == 0
    assert fill.price == market.trading_state("005930", now + 1.0).last
    assert ex.submit(ACC, "buy", "005930", 1, 0, "03", t=now + 2).ok
    ex.cancel(ACC, "0000002", 0, t=now + 2.5)  # cancelled before its fill: never fills
    assert [e for e in ex.advance(now + 4) if isinstance(e, OrderEvent) and e.fill] == []


def test_market_buy_walks_the_book_off_the_mock_server(make_market):
    market = make_market(kst(2025, 3, 6, 10, 0))
    ex = Exchange(market, config=ExchangeConfig(initial_deposit=CASH, mock=False))
    book = market.book("005930")
    qty = book.asks[0][1] + book.asks[1][1] // 2  # needs two levels
    result = ex.submit(ACC, "buy", "005930", qty, 0, "03")
    assert result.ok and len(result.order_no) == 7 and result.order_no.isdigit()
    assert result.message == "[100000] 모의투자 매수주문완료"
    assert kinds(result.events) == ["accepted", "filled", "balance", "filled", "balance"]
    fills = [e.fill for e in result.events if isinstance(e, OrderEvent) and e.fill]
    assert [(f.price, f.qty) for f in fills] == [book.asks[0], (book.asks[1][0], qty - book.asks[0][1])]
    remaining = [e.order.remaining for e in result.events if isinstance(e, OrderEvent)]
    assert remaining == [qty, qty - book.asks[0][1], 0]
    last_balance = result.events[-1]
    assert isinstance(last_balance, BalanceChange) and last_balance.position.qty == qty
    amount = sum(f.price * f.qty for f in fills)
    assert last_balance.position.cost == amount
    fee = int(amount * 0.0035) // 10 * 10
    assert sum(f.fee for f in fills) == fee
    dep = ex.accounts.deposit(ACC, DAY)
    assert dep.cash == CASH and dep.d2 == CASH - amount - fee
    # D+2: settled two sessions later (2025-03-10 is a Monday)
    assert ex.accounts.deposit(ACC, date(2025, 3, 10)).cash == dep.d2
    assert ex.fills(ACC) == fills


def test_commission_rate_reproduces_the_mock_servers_260_on_77000():
    assert int(77_000 * 0.0035) // 10 * 10 == 260


def test_limit_order_rests_then_fills_when_the_path_trades_through(venue):
    market, ex = venue
    now = market.clock.time()
    future = market.trades_between("000660", now, now + 4 * 3600)
    continuous = [p for p in future if p.kind == "continuous"]
    low = min(p.price for p in continuous)
    bid = market.book("000660").bids[0][0]
    assert low < bid, "the test needs a path that dips below the current bid"
    limit = ticks.tick_up(low)  # strictly above the day's later low: certain to trade through
    result = ex.submit(ACC, "buy", "000660", 5, limit, "00")
    assert kinds(result.events) == ["accepted"]
    assert [o.order_no for o in ex.open_orders(ACC)] == [result.order_no]
    reserved = ex.accounts.deposit(ACC, DAY).reserved
    assert reserved == int(5 * limit * 1.0035)
    events = ex.advance(now + 4 * 3600)
    assert kinds(events)[-2:] == ["filled", "balance"]
    fill_times = [e.fill.t for e in events if isinstance(e, OrderEvent)]
    first_through = next(p for p in continuous if p.price < limit)
    assert fill_times[0] <= first_through.t
    assert all(e.fill.price == limit for e in events if isinstance(e, OrderEvent))
    assert ex.open_orders(ACC) == [] and ex.accounts.deposit(ACC, DAY).reserved == 0


def test_cancel_part_then_the_rest(venue):
    market, ex = venue
    bid = market.book("035420").bids[0][0]
    price = ticks.tick_down(ticks.tick_down(bid))
    new = ex.submit(ACC, "buy", "035420", 10, price, "00")
    part = ex.cancel(ACC, new.order_no, 4)
    assert part.ok and kinds(part.events) == ["accepted", "confirmed"]
    confirmed = part.events[1]
    assert confirmed.order.action == "cancel" and confirmed.order.orig_order_no == new.order_no
    assert confirmed.orig.remaining == 6 and int(confirmed.order.order_no) == int(new.order_no) + 1
    too_many = ex.cancel(ACC, new.order_no, 7)
    assert not too_many.ok and too_many.message == "[00Z924] 모의투자 취소수량이 취소가능수량을 초과합니다"
    rest = ex.cancel(ACC, new.order_no, 0)
    assert rest.ok and rest.events[1].orig.remaining == 0 and rest.events[1].orig.status == "cancelled"
    assert ex.open_orders(ACC) == [] and ex.accounts.deposit(ACC, DAY).reserved == 0
    again = ex.cancel(ACC, new.order_no, 0)
    assert not again.ok and again.reason == "nothing_to_change"


def test_modify_moves_quantity_to_a_new_marketable_price(venue):
    market, ex = venue
    book = market.book("035720")
    low = ticks.tick_down(ticks.tick_down(book.bids[0][0]))
    new = ex.submit(ACC, "buy", "035720", 10, low, "00")
    ask = book.asks[0]
    modified = ex.modify(ACC, new.order_no, 3, ask[0], "00")
    assert modified.ok
    assert kinds(modified.events)[:2] == ["accepted", "confirmed"]
    assert modified.events[1].orig.remaining == 7 and modified.events[1].order.orig_order_no == new.order_no
    fills = [e.fill for e in modified.events if isinstance(e, OrderEvent) and e.fill]
    assert sum(f.qty for f in fills) == 3 and all(f.price <= ask[0] for f in fills)
    open_orders = ex.open_orders(ACC)
    assert [(o.order_no, o.remaining) for o in open_orders] == [(new.order_no, 7)]
    same = ex.modify(ACC, new.order_no, 0, low, "00")
    assert not same.ok and same.reason == "same_price"


def test_sell_pays_tax_and_books_realised_pnl(venue):
    market, ex = venue
    buy = ex.submit(ACC, "buy", "005380", 20, 0, "03")
    assert buy.ok
    sell = ex.submit(ACC, "sell", "005380", 8, 0, "03")
    assert sell.ok and sell.message == "[100000] 모의투자 매도주문완료"
    fills = [e.fill for e in sell.events if isinstance(e, OrderEvent) and e.fill]
    amount = sum(f.price * f.qty for f in fills)
    assert sum(f.tax for f in fills) == int(amount * 0.0015)  # 2025 rate
    pos = ex.accounts.position(ACC, "005380", DAY)
    assert pos.qty == 12 and pos.today_buy_qty == 20 and pos.today_sell_qty == 8
    avg = buy.events[-1].position.avg_price
    expected_pnl = amount - round(buy.events[-1].position.cost * 8 / 20) - sum(f.fee + f.tax for f in fills)
    assert pos.realized_pnl_today == expected_pnl and pos.avg_price == avg
    etf = ex.submit(ACC, "buy", "069500", 10, 0, "03")
    etf_sell = ex.submit(ACC, "sell", "069500", 10, 0, "03")
    assert etf.ok and all(e.fill.tax == 0 for e in etf_sell.events if isinstance(e, OrderEvent) and e.fill)


@pytest.mark.parametrize("when, reason", [
    ((2025, 3, 6, 7, 0), "before_open"), ((2025, 3, 6, 8, 10), "before_open"),
    ((2025, 3, 6, 15, 35), "closed"), ((2025, 3, 6, 19, 0), "closed"), ((2025, 3, 8, 11, 0), "closed"),
])
def test_orders_outside_trading_hours_are_rejected(make_market, when, reason):
    market = make_market(kst(*when))
    result = Exchange(market).submit(ACC, "buy", "005930", 1, 0, "03")
    assert not result.ok and result.reason == reason and result.message == REJECTIONS[reason][0]
    assert kinds(result.events) == ["rejected"]


def test_rejections_carry_the_mock_texts(venue):
    market, ex = venue
    upper, lower = market.limits("005930")
    cases = [
        (("buy", "005930", 1, 70_000, "03"), "[00Z237] 모의투자 단가를 입력하지 않는 호가입니다."),
        (("buy", "005930", 1, upper + 100, "00"), "[RC4027] 모의투자 상/하한가 오류입니다."),
        (("buy", "005930", 1, lower + 1, "00"), "[RC4003] 모의투자 호가단위 오류입니다."),
        (("buy", "005930", 10_000_000, 0, "03"), "[RC4025] 모의투자 주문가능금액을 확인하세요."),
        (("sell", "005930", 1, 0, "03"), "[800033] 모의투자 매도가능수량이 부족합니다."),
    ]
    for args, message in cases:
        result = ex.submit(ACC, *args)
        assert not result.ok and result.message == message, args
    assert ex.submit(ACC, "buy", "005930", 1, 0, "05").reason == "hoga"
    assert ex.submit("0000000000", "buy", "005930", 1, 0, "03").reason == "account"
    assert ex.orders(ACC) == []


def test_pre_open_order_fills_at_the_opening_auction(make_market):
    market = make_market(kst(2025, 3, 6, 8, 45))
    ex = Exchange(market)
    result = ex.submit(ACC, "buy", "000270", 7, 0, "03")
    assert kinds(result.events) == ["accepted"]
    assert ex.advance(kst(2025, 3, 6, 8, 59, 59)) == []
    events = ex.advance(kst(2025, 3, 6, 9, 0, 1))
    fills = [e.fill for e in events if isinstance(e, OrderEvent)]
    bar = market.daily_bar("000270", DAY)
    assert [(f.price, f.qty, f.t) for f in fills] == [(bar.open, 7, kst(2025, 3, 6, 9, 0).timestamp())]


def test_unfilled_orders_expire_after_the_close_and_numbers_restart_next_day(make_market):
    market = make_market(kst(2025, 3, 6, 15, 0))
    ex = Exchange(market)
    _, lower = market.limits("005930")
    first = ex.submit(ACC, "buy", "005930", 3, lower, "00")
    assert first.order_no == "0000001" and ex.accounts.deposit(ACC, DAY).reserved > 0
    ex.advance(kst(2025, 3, 6, 15, 31))
    assert ex.open_orders(ACC) == [] and ex.orders(ACC, DAY)[0].status == "expired"
    assert ex.accounts.deposit(ACC, DAY).reserved == 0
    market.clock.set_time(kst(2025, 3, 7, 9, 30))
    nxt = ex.submit(ACC, "buy", "005930", 1, 0, "03")
    assert nxt.order_no == "0000001"


def test_accounts_default_to_the_current_session(venue):
    market, ex = venue
    ex.submit(ACC, "buy", "010140", 3, 0, "03")
    assert ex.accounts.deposit(ACC) == ex.accounts.deposit(ACC, DAY)
    assert [p.code for p in ex.accounts.positions(ACC)] == ["010140"]
    assert ex.accounts.numbers() == ["8123456711", "8123456712"]
    assert ex.accounts.positions("8123456712") == []


def test_fill_numbers_are_the_servers_seven_digit_running_number(venue):
    market, ex = venue
    first = ex.submit(ACC, "buy", "005930", 1, 0, "03")
    second = ex.submit(ACC, "buy", "000660", 1, 0, "03")
    fills = [e.fill for e in first.events + second.events if isinstance(e, OrderEvent) and e.fill]
    assert [f.fill_no for f in fills] == ["1000001", "1000002"]  # recorded shape: '1234931'
