"""The per-strategy limits, on an explicit clock."""
from __future__ import annotations

from koabus.services.strategy.config import LimitSettings
from koabus.services.strategy.limits import RiskGate


def _check(gate, side="buy", qty=1, held=0, open_buy=0, open_sell=0, pnl=0, now_s=0.0):
    refusal = gate.check(side, "005930", qty, held=held, open_buy=open_buy, open_sell=open_sell, pnl=pnl, now_s=now_s)
    return refusal.limit if refusal else None


def test_max_position_counts_holdings_and_open_buys():
    gate = RiskGate(LimitSettings(max_position=10))
    assert _check(gate, qty=4, held=3, open_buy=3) is None
    assert _check(gate, qty=5, held=3, open_buy=3) == "max_position"
    assert _check(gate, "sell", qty=3, held=3, open_sell=0) is None
    assert _check(gate, "sell", qty=3, held=3, open_sell=1) == "no_position"


def test_orders_per_minute_slide_with_the_broker_clock():
    gate = RiskGate(LimitSettings(max_orders_per_minute=2))
    for t in (100.0, 130.0):
        assert _check(gate, now_s=t) is None
        gate.record(t)
    assert _check(gate, now_s=159.9) == "max_orders_per_minute"
    assert _check(gate, now_s=160.0) is None  # the order at 100 s left the window


def test_the_daily_loss_stop_is_sticky_and_lets_positions_shrink():
    gate = RiskGate(LimitSettings(max_daily_loss=50_000))
    assert _check(gate, pnl=-49_999) is None
    assert _check(gate, pnl=-50_000) == "max_daily_loss"
    assert _check(gate, pnl=10_000) == "max_daily_loss"  # stopped for the day
    assert _check(gate, "sell", qty=5, held=5, pnl=-60_000) is None
    assert gate.stopped


def test_no_limits_set_means_only_the_position_rules():
    gate = RiskGate(LimitSettings())
    assert _check(gate, qty=10**6, pnl=-10**9) is None
    assert _check(gate, qty=0) == "qty"
