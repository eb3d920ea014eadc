"""The KRX price grid and daily limits."""
from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from koabus.services.sim.market import ticks


def test_stock_tick_table_boundaries():
    cases = [(1, 1), (1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (19_990, 10), (20_000, 50),
             (49_950, 50), (50_000, 100), (199_900, 100), (200_000, 500), (499_500, 500),
             (500_000, 1_000), (2_650_000, 1_000)]
    for price, step in cases:
        assert ticks.tick_size(price) == step, price
    assert list(ticks.tick_sizes(np.array([p for p, _ in cases]))) == [s for _, s in cases]


def test_etf_and_index_steps():
    assert {ticks.tick_size(p, "etf") for p in (1_000, 2_300, 35_000, 110_000)} == {5}
    assert ticks.tick_size(260_000, "index") == 1


def test_limits_match_the_mock_server_example_and_cut_inward():
    upper, lower = ticks.limits(77_500)
    assert lower == 54_300  # 54,250 rounded up to the 100 step (recorded on the mock server)
    assert upper == 100_700  # 100,750 cut down to the 100 step (2023 table)
    assert ticks.limits(260_000, "index") == (0, 0)


@given(st.integers(min_value=1_000, max_value=3_000_000), st.sampled_from(["stock", "etf"]))
def test_limits_are_on_grid_and_within_30_percent(ref, kind):
    ref = ticks.round_to_tick(ref, kind)
    upper, lower = ticks.limits(ref, kind)
    assert ticks.on_tick(upper, kind) and ticks.on_tick(lower, kind)
    assert lower <= ref <= upper
    assert upper <= ref * 1.3 and lower >= ref * 0.7


@given(st.floats(min_value=1.0, max_value=5_000_000.0), st.sampled_from(["stock", "etf"]))
def test_rounding_lands_on_grid_near_the_price(price, kind):
    r = ticks.round_to_tick(price, kind)
    assert ticks.on_tick(r, kind)
    assert abs(r - price) <= ticks.tick_size(max(price, r), kind)
    v = int(ticks.round_to_ticks(np.array([price]), kind)[0])
    assert v == r


@given(st.integers(min_value=2, max_value=2_000_000))
def test_tick_up_and_down_step_between_neighbours(price):
    p = ticks.floor_to_tick(price)
    up, down = ticks.tick_up(p), ticks.tick_down(p)
    assert ticks.on_tick(up) and up > p
    if down:
        assert ticks.on_tick(down) and down < p
        assert ticks.tick_up(down) == p
