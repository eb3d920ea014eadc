"""opt10001's per-period figures: EPS, BPS and 매출액 are fixed for a reporting period (the last
annual report in force), PER and PBR follow the price over them (recorded 77,000 / 3,841 = 20.05)."""
from __future__ import annotations

from datetime import date, datetime

from koabus.common.clock import KST
from koabus.services.sim.trs.base import TrRequest
from koabus.services.sim.trs.quotes import basic_info, reporting_year
from tests.services.sim.conftest import make_control


def _info(world, when: datetime) -> dict:
    world.market.clock.set_time(when)
    return basic_info(world, TrRequest("opt10001", {"종목코드": "005930"}, "0101", "rq",
                                       t=when.timestamp())).single


def test_reporting_year_switches_in_april():
    assert reporting_year(date(2022, 1, 18)) == 2020  # the recorded EPS 3,841 is 005930's 2020
    assert reporting_year(date(2022, 3, 31)) == 2020
    assert reporting_year(date(2022, 4, 1)) == 2021


def test_eps_bps_sales_stay_while_per_pbr_follow_the_price(qapp):
    control = make_control(qapp, start=datetime(2024, 6, 14, 9, 0, tzinfo=KST))
    world = control.sim.world
    seen = [_info(world, datetime(2024, 6, d, h, 30, tzinfo=KST)) for d, h in ((14, 9), (14, 15), (17, 11))]
    assert len({s["현재가"] for s in seen}) > 1
    for name in ("EPS", "BPS", "매출액", "영업이익", "당기순이익"):
        assert len({s[name] for s in seen}) == 1, name
    for s in seen:
        price = abs(int(s["현재가"]))
        assert s["PER"] == f"{price / int(s['EPS']):.2f}"
        assert s["PBR"] == f"{price / int(s['BPS']):.2f}"
    control.deleteLater()


def test_a_new_reporting_period_brings_new_figures(qapp):
    control = make_control(qapp, start=datetime(2024, 3, 29, 10, 0, tzinfo=KST))
    world = control.sim.world
    march = _info(world, datetime(2024, 3, 29, 10, 0, tzinfo=KST))
    april = _info(world, datetime(2024, 4, 1, 10, 0, tzinfo=KST))
    assert march["EPS"] != april["EPS"] and march["매출액"] != april["매출액"]
    control.deleteLater()
