"""FID values with a recorded meaning: 32 거래비용 ('201' all session for 005930 on 2022-01-18)."""
from __future__ import annotations

from datetime import date, datetime

from koabus.common.clock import KST
from koabus.services.sim.fidvalues import DayState, InstrumentInfo, trading_cost


def test_trading_cost_reproduces_the_recorded_201():
    assert trading_cost(77_500, date(2022, 1, 18)) == 201  # 기준가 77,500 x (0.23% + 2 x 0.015%)
    assert trading_cost(77_500, date(2025, 6, 2)) == 139  # tax 0.15% in 2025
    assert trading_cost(77_500, None) > 0


def test_fid_32_is_constant_through_the_session_while_the_price_moves():
    info = InstrumentInfo("005930", 77_500, 100_500, 54_300, 5_969_782_550)
    day = DayState(info)
    fids = [10, 32]
    t0 = datetime(2022, 1, 18, 14, 29, 42, tzinfo=KST).timestamp()
    seen = []
    for k, (price, qty) in enumerate(((77_100, 3), (77_000, 20), (77_000, -262), (77_100, 3))):
        day.apply(t0 + k, price, qty)
        seen.append(tuple(day.trade_values(fids)))
    assert {v[1] for v in seen} == {"201"} and len({v[0] for v in seen}) == 2
    assert day.quote_values([32]) == ["201"]
