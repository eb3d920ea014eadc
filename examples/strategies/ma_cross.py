"""A moving-average cross: long `qty` shares while the fast average of closes is above the slow one.

Run it on the simulated market (`make run` does) or on a replayed day:

    koabus strategy examples/strategies/ma_cross.py --param code=005930 --param fast=5 --param slow=20

It decides from its position and open orders, not from what it remembers, so a restarted process picks
up where the account is: it never buys twice for one signal.
"""
from __future__ import annotations

from collections import deque

from koabus.services.strategy import Strategy


class MaCross(Strategy):
    params = {"code": "005930", "fast": 5, "slow": 20, "qty": 10, "interval": "1m"}

    def on_start(self, ctx):
        if not 0 < int(self.params["fast"]) < int(self.params["slow"]):
            raise ValueError("fast must be a positive number of bars below slow")
        self.closes = deque(maxlen=int(self.params["slow"]))
        ctx.log.info("ma_cross on %s: fast %s, slow %s, qty %s; holding %d", self.params["code"],
                     self.params["fast"], self.params["slow"], self.params["qty"], ctx.position(self.params["code"]))

    def on_bar(self, ctx, bar):
        self.closes.append(bar.close)
        if len(self.closes) < self.closes.maxlen:
            return
        code, fast_n = bar.code, int(self.params["fast"])
        fast = sum(list(self.closes)[-fast_n:]) / fast_n
        slow = sum(self.closes) / len(self.closes)
        if ctx.open_orders(code):
            return  # wait for the last order to settle
        held = ctx.position(code)
        if fast > slow and held == 0:
            ctx.buy(code, int(self.params["qty"]))
        elif fast < slow and held > 0:
            ctx.sell(code, held)

    def on_fill(self, ctx, fill):
        ctx.log.info("%s %d %s at %s: holding %d, cash %s", fill.side, fill.qty, fill.code, f"{fill.price:,}",
                     ctx.position(fill.code), f"{ctx.cash:,}")

    def on_stop(self, ctx):
        ctx.log.info("ma_cross stopping: holding %d, P&L %s", ctx.position(self.params["code"]), f"{ctx.pnl:,}")
