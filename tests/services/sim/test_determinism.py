"""A simulated day replayed twice from the same seed yields the identical realtime event sequence."""
from __future__ import annotations

import hashlib
from datetime import datetime

from koabus.common.clock import KST
from tests.contract.conftest import Recorder, login
from tests.services.sim.conftest import make_control, pump

DAY_START = datetime(2024, 6, 13, 8, 0, 0, tzinfo=KST)


def _day_hash(qapp, seed: int) -> tuple:
    # a twentieth of the realistic prints: a whole day of three codes at the real rate is ~10^6 events
    control = make_control(qapp, seed=seed, start=DAY_START, market_config={"trade_intensity": 0.05})
    login(qapp, control)
    rec = Recorder(control)
    digest = hashlib.sha256()
    try:
        call = control.dynamicCall
        assert call("SetRealReg(QString, QString, QString, QString)", "2000", "005930;035720;069500", "10;27", "0") == 0
        assert call("SetRealReg(QString, QString, QString, QString)", "2001", "", "215", "0") == 0
        assert call("SetRealReg(QString, QString, QString, QString)", "2002", "001", "10", "0") == 0
        count = 0
        for _ in range(10 * 12):  # 08:00 -> 18:00 in 5-minute steps
            control.sim.advance(300, max_step_s=300)
            pump(qapp, control)
            for name, args, _x in rec.events:
                digest.update(repr((name, args)).encode())
            count += len(rec.events)
            rec.clear()
        return digest.hexdigest(), count
    finally:
        rec.close()
        control.deleteLater()
        qapp.processEvents()


def test_same_seed_same_day_same_events(qapp):
    first = _day_hash(qapp, 7)
    second = _day_hash(qapp, 7)
    assert first == second
    assert first[1] > 1000  # a whole day of trades, quotes and status changes
    other = _day_hash(qapp, 8)
    assert other[0] != first[0]
