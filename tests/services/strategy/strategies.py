"""Small strategies the process tests run with `koabus strategy tests/services/strategy/strategies.py --class`."""
from __future__ import annotations

from koabus.services.strategy import Strategy


class BuyOnce(Strategy):
    """Hold `qty` shares: buy at market on a bar when holding none and nothing is on order."""

    params = {"code": "005930", "qty": 10, "interval": "10s"}

    def on_bar(self, ctx, bar):
        if not ctx.position(bar.code) and not ctx.open_orders(bar.code):
            ctx.buy(bar.code, int(self.params["qty"]))


class RaiseAfterRestingOrder(Strategy):
    """A buy limit well below the market on the first bar, then an exception on the next one."""

    params = {"code": "005930", "qty": 3, "interval": "10s"}

    def on_start(self, ctx):
        self.order_id = None

    def on_bar(self, ctx, bar):
        if self.order_id is None:
            self.order_id = ctx.buy(bar.code, int(self.params["qty"]), price=bar.close * 90 // 100 // 1000 * 1000)
            ctx.log.info("resting order %s", self.order_id)
        elif ctx.open_orders(bar.code) and ctx.open_orders(bar.code)[0].order_no:
            raise RuntimeError("boom: a bug in the strategy")


class OverLimit(Strategy):
    """At start: asks for more than its max_position, then sells shares it does not hold."""

    params = {"code": "005930"}

    def on_start(self, ctx):
        ctx.log.info("refused: %s %s", ctx.buy("005930", 100), ctx.sell("005930", 1))


class RestingBuy(Strategy):
    """One buy limit well below the market, placed when nothing is held or on order."""

    params = {"code": "005930", "qty": 2, "interval": "10s"}

    def on_bar(self, ctx, bar):
        if not ctx.position(bar.code) and not ctx.open_orders(bar.code):
            ctx.buy(bar.code, int(self.params["qty"]), price=bar.close * 90 // 100 // 1000 * 1000)
