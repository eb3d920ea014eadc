"""The host core without sockets: trades in, bars to on_bar, orders out through the limits and the
journal, chejan into the ledger and on_fill, a raising hook stopping everything."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import List, Optional

import pytest

from koabus.common.client import RealtimeEvent
from koabus.common.clock import KST
from koabus.services.bars.core import BarBuilder
from koabus.services.strategy import Strategy
from koabus.services.strategy.app import StartError, load_strategy_class
from koabus.services.strategy.config import LimitSettings
from koabus.services.strategy.host import StrategyHost
from koabus.services.strategy.journal import OrderJournal
from koabus.services.strategy.ledger import Ledger
from koabus.services.strategy.limits import RiskGate
from tests.services.strategy.conftest import EXAMPLE

T0 = datetime(2024, 3, 6, 10, 0, 0, tzinfo=KST)


class Harness:
    def __init__(self, tmp_path, strategy: Strategy, limits: Optional[LimitSettings] = None):
        self.sent: List = []
        self.cancelled: List = []
        self.events: List = []
        self.journal = OrderJournal(str(tmp_path), "t", date(2024, 3, 6))
        self.host = StrategyHost(strategy, name="t", account="8000000011", journal=self.journal, ledger=Ledger(),
                                 gate=RiskGate(limits or LimitSettings()), builder=BarBuilder([60]), send=self.sent.append,
                                 cancel=lambda record, no: self.cancelled.append(record.id),
                                 emit=lambda event, body: self.events.append((event, body)))
        self.host.ledger.reconcile(10_000_000, [])
        self.host.set_clock(T0.timestamp())
        self.host.start()

    def trade(self, at: datetime, price: int, code: str = "005930") -> None:
        values = {"current_price": price, "volume": 5, "trade_time": at.strftime("%H:%M:%S")}
        self.host.on_trade(RealtimeEvent(f"rt.trade.{code}", "주식체결", code, values, at, at, 1, 1))

    def fill(self, record, price: int, fill_no: str = "1") -> None:
        values = {"order_no": f"{record.n:07d}", "code": record.code, "order_status": "체결",
                  "side": "2" if record.side == "buy" else "1", "order_qty": record.qty, "unfilled_qty": 0,
                  "fill_no": fill_no, "unit_fill_qty": record.qty, "unit_fill_price": price,
                  "commission_today": 0, "tax_today": 0, "order_time": "10:05:01"}
        self.host.on_chejan("order", {"client_order_id": record.id, "values": values})

    def named(self, event: str):
        return [body for name, body in self.events if name == event]


def _ma_cross(**params):
    return load_strategy_class(str(EXAMPLE))({"fast": 2, "slow": 3, "qty": 10, **params})


def test_bars_from_trades_drive_the_example_and_fills_reach_the_ledger(tmp_path):
    h = Harness(tmp_path, _ma_cross())
    for minute, price in enumerate([70_000, 70_000, 70_000, 70_500]):  # closes of 10:00..10:03
        h.trade(T0 + timedelta(minutes=minute, seconds=30), price)
    assert h.sent == []  # the 10:03 bar is not final yet
    h.host.set_clock((T0 + timedelta(minutes=4)).timestamp())
    assert [(r.side, r.code, r.qty, r.hoga) for r in h.sent] == [("buy", "005930", 10, "03")]
    assert h.host.counters["bars"] == 4
    record = h.sent[0]
    h.host.set_clock((T0 + timedelta(minutes=5)).timestamp())  # a carried bar: the order is still open
    assert len(h.sent) == 1
    h.fill(record, 70_600)
    assert h.host.ledger.position("005930") == 10 and h.host.ledger.cash == 10_000_000 - 706_000
    [fill] = h.named("fill")
    assert (fill["order_id"], fill["price"], fill["position"]) == (record.id, 70_600, 10)
    for minute, price in ((6, 69_000), (7, 68_000)):
        h.trade(T0 + timedelta(minutes=minute, seconds=1), price)
    h.host.set_clock((T0 + timedelta(minutes=8)).timestamp())
    assert [(r.side, r.qty) for r in h.sent] == [("buy", 10), ("sell", 10)]
    assert [r.n for r in h.sent] == [1, 2] and h.journal.orders.keys() == {r.id for r in h.sent}


def test_a_refused_order_is_reported_and_not_journaled(tmp_path):
    class Greedy(Strategy):
        params = {"code": "005930"}

        def on_start(self, ctx):
            self.result = (ctx.buy("005930", 11), ctx.buy("005930", 10))

    strategy = Greedy()
    h = Harness(tmp_path, strategy, LimitSettings(max_position=10))
    assert strategy.result[0] is None and strategy.result[1] == "t-20240306-000001"
    [refused] = h.named("refused")
    assert refused["limit"] == "max_position" and refused["qty"] == 11
    assert [r.qty for r in h.sent] == [10] and len(h.journal.orders) == 1


def test_a_raising_hook_fails_the_host_and_nothing_more_reaches_the_strategy(tmp_path):
    class Buggy(Strategy):
        params = {"code": "005930"}
        ticks = 0

        def on_tick(self, ctx, tick):
            self.ticks += 1
            raise KeyError("no such thing")

    strategy = Buggy()
    h = Harness(tmp_path, strategy)
    h.trade(T0 + timedelta(seconds=1), 70_000)
    h.trade(T0 + timedelta(seconds=2), 70_100)
    assert strategy.ticks == 1 and isinstance(h.host.failed, KeyError) and h.host.failed_hook == "on_tick"
    [error] = h.named("error")
    assert error["error"] == "KeyError" and "no such thing" in error["traceback"]
    assert h.host.submit("buy", "005930", 1, None) is None  # a failed host sends nothing


def test_loading_a_strategy_file(tmp_path):
    assert load_strategy_class(str(EXAMPLE)).__name__ == "MaCross"
    two = tmp_path / "two.py"
    two.write_text("from koabus.services.strategy import Strategy\nclass A(Strategy): pass\nclass B(Strategy): pass\n")
    with pytest.raises(StartError, match="give --class"):
        load_strategy_class(str(two))
    assert load_strategy_class(str(two), "B").__name__ == "B"
    with pytest.raises(StartError, match="no strategy file"):
        load_strategy_class(str(tmp_path / "missing.py"))
