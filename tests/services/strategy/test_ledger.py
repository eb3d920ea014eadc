"""The ledger from chejan values (English FID names, as the broker publishes them)."""
from __future__ import annotations

from koabus.services.strategy.ledger import Ledger


def _fill(order_no, fill_no, side, qty, price, unfilled, commission=0, tax=0, code="005930"):
    return {"order_no": order_no, "code": code, "order_status": "체결", "side": "2" if side == "buy" else "1",
            "order_kind": "+매수" if side == "buy" else "-매도", "order_qty": qty + unfilled, "unfilled_qty": unfilled,
            "fill_no": fill_no, "unit_fill_qty": qty, "unit_fill_price": price, "commission_today": commission,
            "tax_today": tax, "order_time": "10:00:01"}


def test_fills_move_cash_positions_and_realised_profit_once():
    ledger = Ledger()
    ledger.reconcile(1_000_000, [{"code": "000660", "holding_qty": 2, "avg_price": 150_000, "current_price": 151_000}])
    assert ledger.position("000660") == 2 and ledger.unrealised == 2_000

    buy = ledger.on_order_event(_fill("0001", "1", "buy", 10, 70_000, 0, commission=100))
    assert buy is not None and (buy.qty, buy.price, buy.fees, buy.realised) == (10, 70_000, 100, -100)
    assert ledger.on_order_event(_fill("0001", "1", "buy", 10, 70_000, 0, commission=100)) is None  # same fill
    assert ledger.cash == 1_000_000 - 700_000 - 100
    assert ledger.position("005930") == 10 and ledger.positions["005930"].avg_price == 70_000

    # two fills of one sell order: fees are the order's cumulative commission and tax, counted as deltas
    first = ledger.on_order_event(_fill("0002", "2", "sell", 4, 71_000, 6, commission=40, tax=500))
    second = ledger.on_order_event(_fill("0002", "3", "sell", 6, 69_000, 0, commission=100, tax=1_300))
    assert (first.fees, second.fees) == (540, 860)
    assert first.realised == 4 * 1_000 - 540 and second.realised == 6 * -1_000 - 860
    assert ledger.position("005930") == 0 and "005930" not in ledger.positions
    assert ledger.cash == 1_000_000 - 700_100 + 284_000 - 540 + 414_000 - 860
    assert ledger.realised == -100 + first.realised + second.realised
    assert ledger.pnl == ledger.realised + 2_000 and ledger.fees == 1_500


def test_a_balance_event_is_the_servers_word_on_a_holding():
    ledger = Ledger()
    ledger.reconcile(0, [])
    ledger.on_order_event(_fill("0001", "1", "buy", 10, 70_000, 0))
    ledger.on_balance_event({"code": "005930", "holding_qty": 7, "avg_price": 69_950, "current_price": 70_100})
    assert ledger.position("005930") == 7 and ledger.positions["005930"].avg_price == 69_950
    assert ledger.last_price["005930"] == 70_100 and ledger.unrealised == 7 * 150
    ledger.on_balance_event({"code": "005930", "holding_qty": 0, "avg_price": 0, "current_price": 70_100})
    assert ledger.positions == {}


def test_order_events_without_a_fill_change_nothing():
    ledger = Ledger()
    ledger.reconcile(500, [])
    accepted = {"order_no": "0001", "code": "005930", "order_status": "접수", "side": "2", "fill_no": "",
                "unit_fill_qty": None, "unit_fill_price": None}
    assert ledger.on_order_event(accepted) is None
    assert ledger.cash == 500 and ledger.positions == {} and ledger.fills == 0


def test_a_fill_the_account_trs_already_counted_is_remembered_not_applied_again():
    ledger = Ledger()
    ledger.reconcile(1_000_000 - 700_100, [{"code": "005930", "holding_qty": 10, "avg_price": 70_000}])
    early = _fill("0001", "1", "buy", 10, 70_000, 0, commission=100)
    ledger.note_order_event(early)
    assert ledger.on_order_event(early) is None  # the same fill, now live: not counted twice
    later = ledger.on_order_event(_fill("0001", "2", "buy", 0, 0, 0))  # no quantity: not a fill
    assert later is None and ledger.cash == 1_000_000 - 700_100 and ledger.position("005930") == 10
