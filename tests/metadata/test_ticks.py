"""The KRX tick table (metadata/ticks.py): bands, grid membership and the nearest grid prices, and the
simulated market uses the very same table."""
from __future__ import annotations

import pytest

from koabus.metadata import ticks


@pytest.mark.parametrize("price, step", [
    (1, 1), (1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10), (20_000, 50), (49_950, 50),
    (50_000, 100), (199_900, 100), (200_000, 500), (499_500, 500), (500_000, 1_000), (3_000_000, 1_000),
])
def test_stock_bands(price, step):
    assert ticks.tick_size(price) == step
    assert ticks.on_grid(price)
    assert not ticks.on_grid(price + 1) or step == 1


@pytest.mark.parametrize("kind", ["etf", "etn", "elw"])
def test_five_won_kinds(kind):
    assert ticks.tick_size(123_455, kind) == 5
    assert ticks.on_grid(123_455, kind) and not ticks.on_grid(123_456, kind)


@pytest.mark.parametrize("price, around", [
    (70_050, (70_000, 70_100)), (4_999, (4_995, 5_000)), (19_999, (19_990, 20_000)), (20_010, (20_000, 20_050)),
    (70_000, (70_000, 70_000)), (0, (0, 1)),
])
def test_grid_around(price, around):
    assert ticks.grid_around(price) == around
    assert all(p == 0 or ticks.on_grid(p) for p in around)


def test_not_positive_is_never_on_the_grid():
    assert not ticks.on_grid(0) and not ticks.on_grid(-100)


def test_the_simulated_market_prices_on_the_same_table():
    market_ticks = pytest.importorskip("koabus.services.sim.market.ticks")
    assert market_ticks.STOCK_TICKS is ticks.STOCK_TICKS and market_ticks.ETF_TICK == ticks.ETF_TICK
    for price in (1_999, 2_000, 49_950, 70_000, 650_000):
        assert market_ticks.tick_size(price) == ticks.tick_size(price)
