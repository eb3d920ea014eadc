"""The realistic trade rate costs only what is registered: a registration starts its code's statistics
from the path in one vectorised pass (the same numbers as replaying every print), paths are built
for registered codes only, and the stream carries the open burst at its real rate."""
from __future__ import annotations

from datetime import date, datetime, time

import pytest

from koabus.common.clock import KST, SystemClock
from koabus.services.sim.config import SimConfig
from koabus.services.sim.fidvalues import DayState
from koabus.services.sim.market import MarketConfig
from koabus.services.sim.realtime import seed_day
from koabus.services.sim.world import World
from tests.contract.conftest import Recorder, login
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"
DAY = date(2024, 6, 14)


def _t(hh: int, mm: int, ss: int = 0) -> float:
    return datetime.combine(DAY, time(hh, mm, ss), KST).timestamp()


def _state(day: DayState) -> dict:
    return {k: getattr(day, k) for k in DayState.__slots__ if k != "info"}


@pytest.mark.parametrize("code", ["005930", "035720"])
def test_seeding_from_the_path_equals_replaying_every_print(code):
    # a tenth of the prints: the equivalence does not depend on how many there are
    world = World(SimConfig(market_config={"trade_intensity": 0.1}), SystemClock())
    for t in (_t(8, 20), _t(8, 35), _t(9, 0), _t(9, 0, 30), _t(11, 0), _t(15, 25), _t(15, 30), _t(17, 0),
              _t(21, 0)):
        replayed = DayState(world.instrument_info(code, t))
        for tt, price, qty, regular in world.trades(code, world.session_start(t), t):
            replayed.apply(tt, price, qty, regular)
        seeded = DayState(world.instrument_info(code, t))
        seed_day(seeded, world.market.path(code, world.session_key(t)), t)
        assert _state(seeded) == _state(replayed), (code, t)


def test_a_light_market_config_from_settings(qapp):
    config = SimConfig(market_config={"trade_intensity": 0.05})
    assert isinstance(config.market_config, MarketConfig)
    assert config.market_config.trade_intensity == 0.05 and config.market_config.seed == config.seed


def _trade_events(rec, code: str):
    return [data for _n, (c, kind, data), _x in rec.of("OnReceiveRealData") if kind == "주식체결" and c == code]


def test_only_registered_codes_get_paths_and_the_open_bursts(qapp):
    control = make_control(qapp, start=datetime.combine(DAY, time(8, 59, 50), KST))
    login(qapp, control)
    rec = Recorder(control)
    try:
        market = control.sim.world.market
        built_before = {code for code, _day in market._paths}
        assert control.dynamicCall(REG, "0101", "005930", "10;15", "0") == 0
        control.sim.advance(10.0)  # to 09:00:00, the opening auction
        pump(qapp, control)
        at_open = len(_trade_events(rec, "005930"))
        control.sim.advance(60.0, max_step_s=1.0)  # the first minute of continuous trading
        pump(qapp, control, timeout_s=30.0)
        first_minute = len(_trade_events(rec, "005930")) - at_open
        assert {code for code, _day in market._paths} - built_before <= {"005930"}
        # the realistic open: tens of prints a second (the before-state streamed about one a second)
        assert first_minute > 20 * 60, first_minute
        # and each print carries its size (FID 15), mostly a few shares
        sizes = sorted(abs(int(data.split("\t")[6])) for data in _trade_events(rec, "005930")[at_open:])
        assert sizes[len(sizes) // 2] < 50
    finally:
        rec.close()
        control.deleteLater()
        qapp.processEvents()


def _stream_of(qapp, skip_idle: bool, start: time, seconds: float) -> list:
    control = make_control(qapp, start=datetime.combine(DAY, start, KST), market_config={"trade_intensity": 0.2})
    login(qapp, control)
    rec = Recorder(control)
    try:
        control._realtime._skip_idle = skip_idle
        codes = "005930;035720;000660;069500;005380"
        assert control.dynamicCall(REG, "0101", codes, "10;41;27;9068;23", "0") == 0
        left = seconds
        while left > 0:
            control.sim.advance(min(0.05, left), max_step_s=0.05)
            left -= 0.05
        pump(qapp, control, timeout_s=30.0)
        return [args for _n, args, _x in rec.of("OnReceiveRealData")]
    finally:
        rec.close()
        control.deleteLater()
        qapp.processEvents()


@pytest.mark.parametrize("start", [time(8, 59, 50), time(15, 19, 50)])
def test_skipping_codes_with_nothing_due_changes_no_event(qapp, start):
    skipped = _stream_of(qapp, True, start, 30.0)
    full = _stream_of(qapp, False, start, 30.0)
    assert len(skipped) > 100 and skipped == full
