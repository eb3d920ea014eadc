"""OPTKWFID field meanings (the recorded 63-column rows): 예상체결가 is the auction price, 액면가 a
whole won amount, 거래대금 the same figure as the realtime FID 14."""
from __future__ import annotations

from datetime import datetime

from koabus.common.clock import KST
from koabus.services.sim.fidvalues import DayState
from koabus.services.sim.trs.kwfid import kw_row
from tests.services.sim.conftest import make_control


def _world(qapp, when):
    control = make_control(qapp, start=when)
    return control, control.sim.world


def test_expected_price_is_the_opening_auction_in_the_session(qapp):
    control, world = _world(qapp, datetime(2024, 6, 14, 11, 0, tzinfo=KST))
    t = world.market.clock.time()
    for code in ("005930", "000660", "035420"):
        row = kw_row(world, code, t)
        path = world.market.path(code, world.session_key(t))
        assert row["예상체결가"] == row["시가"] and int(row["시가"]) != 0
        assert int(row["예상체결량"]) == abs(int(path.qty[path.reg_first]))
    control.deleteLater()


def test_expected_price_is_the_indication_during_the_auction_and_zero_before(qapp):
    control, world = _world(qapp, datetime(2024, 6, 14, 8, 50, tzinfo=KST))
    t = world.market.clock.time()
    price, qty = world.expected("005930", t)
    row = kw_row(world, "005930", t)
    assert price and abs(int(row["예상체결가"])) == price and row["예상체결량"] == str(qty)
    early = kw_row(world, "005930", datetime(2024, 6, 14, 8, 10, tzinfo=KST).timestamp())
    assert (early["예상체결가"], early["예상체결량"]) == ("0", "0")
    control.deleteLater()


def test_expected_price_after_the_close_is_the_closing_auction(qapp):
    control, world = _world(qapp, datetime(2024, 6, 14, 15, 45, tzinfo=KST))
    t = world.market.clock.time()
    row = kw_row(world, "005930", t)
    path = world.market.path("005930", world.session_key(t))
    assert abs(int(row["예상체결가"])) == int(path.price[path.reg_last]) == abs(int(row["종가"]))
    control.deleteLater()


def test_par_value_is_whole_won(qapp):
    control, world = _world(qapp, datetime(2024, 6, 14, 11, 0, tzinfo=KST))
    t = world.market.clock.time()
    assert kw_row(world, "005930", t)["액면가"] == "100"
    assert kw_row(world, "000660", t)["액면가"] == "5000"
    control.deleteLater()


def test_trade_value_equals_the_realtime_sum(qapp):
    control, world = _world(qapp, datetime(2024, 6, 14, 11, 0, tzinfo=KST))
    t = world.market.clock.time()
    day = DayState(world.instrument_info("005930", t))
    for when, price, qty, regular in world.trades("005930", world.session_start(t), t):
        day.apply(when, price, qty, regular)
    fids = [14]
    assert kw_row(world, "005930", t)["거래대금"] == day.trade_values(fids)[0]
    assert int(day.trade_values(fids)[0]) > 0
    control.deleteLater()
