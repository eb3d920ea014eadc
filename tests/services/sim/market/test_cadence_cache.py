"""The book cadence cache is bounded by bytes, not only by entries: a busy code's session of
refreshes is megabytes, so `path_cache_days` of them would pin gigabytes in the broker's process."""
from __future__ import annotations

from datetime import date

import numpy as np

from koabus.services.sim.market import market as market_module
from koabus.services.sim.market.market import Market

DAY = date(2025, 6, 2)
CODES = ("005930", "000660", "035720", "005380", "035420")


def test_cadence_arrays_are_compact():
    cad = Market(seed=7).cadence("005930", DAY)
    assert len(cad) > 10_000
    for name in ("trade_i", "ask1", "bid1", "exp_price", "exp_qty"):
        assert getattr(cad, name).dtype == np.int32, name
    assert cad.nbytes < 40 * len(cad) + cad.sizes.nbytes


def test_the_cadence_cache_is_bounded_by_bytes(monkeypatch):
    m = Market(seed=7)
    one = m.cadence(CODES[0], DAY).nbytes
    monkeypatch.setattr(market_module, "CADENCE_CACHE_BYTES", 2 * one)
    for code in CODES[1:]:
        m.cadence(code, DAY)
    assert m._cadence_bytes == sum(c.nbytes for c in m._cadences.values())
    assert m._cadence_bytes <= 2 * one or len(m._cadences) == 1
    assert len(m._cadences) < len(CODES)
    assert (CODES[0], DAY.toordinal()) not in m._cadences  # the least recently used went first


def test_an_evicted_cadence_is_rebuilt_the_same(monkeypatch):
    m = Market(seed=7)
    first = m.cadence(CODES[0], DAY)
    monkeypatch.setattr(market_module, "CADENCE_CACHE_BYTES", 1)
    m.cadence(CODES[1], DAY)
    again = m.cadence(CODES[0], DAY)
    assert again is not first
    for name in ("t", "trade_i", "ask1", "bid1", "exp_price", "exp_qty", "widen"):
        assert np.array_equal(getattr(first, name), getattr(again, name)), name
