"""The synthetic load stream (`synthetic_rate_eps`) must cost the broker's bench little: one prebuilt event
per code, reused round-robin and rebuilt from the code's day about once a wall second, so its payloads
stay the code's own figures while nearly all of its events cost no payload rendering."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

import pytest

from koabus.common.clock import KST
from koabus.services.sim import realtime
from koabus.services.sim.config import SimConfig
from tests.contract.conftest import login
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"
CODES = ["005930", "000660", "035420", "035720", "005380"]
RATE = 2_000.0


@pytest.fixture
def loaded(qapp):
    control = make_control(qapp, synthetic_rate_eps=RATE, events_per_tick=100_000)
    login(qapp, control)
    got = []
    control.OnReceiveRealData.connect(lambda code, name, data: got.append((code, name, data)))
    assert control.dynamicCall(REG, "1000", ";".join(CODES), "10", "0") == 0
    control.sim.advance(1.0)  # builds the codes' days (the ring holds codes whose day exists)
    pump(qapp, control)
    got.clear()
    yield control, got
    control.deleteLater()
    qapp.processEvents()


def _expected_payload(control, code):
    rt = control._realtime
    return "\t".join(rt._days[code].trade_values(rt._types[realtime.TRADE].fids))


def _trades(qapp, control, got, seconds):
    rt = control._realtime
    control.sim.advance(seconds)
    pump(qapp, control, timeout_s=30)
    return [e for e in got if e[1] == realtime.TRADE], rt


def test_rate_spreads_evenly_over_the_codes(qapp, loaded):
    control, got = loaded
    real_before = control.sim.stats.realtime_events
    trades, _ = _trades(qapp, control, got, 10.0)
    per_code = Counter(code for code, _, _ in trades)
    assert set(per_code) == set(CODES)
    synthetic = int(RATE * 10.0)
    assert len(trades) >= synthetic and control.sim.stats.realtime_events - real_before >= synthetic
    # the market's own trades come on top of an even round-robin
    assert min(per_code.values()) >= synthetic // len(CODES)


def test_payloads_are_refreshed_from_the_codes_day(qapp, loaded, monkeypatch):
    control, got = loaded
    monkeypatch.setattr(realtime, "SYNTHETIC_REFRESH_S", 0.0)  # every record, every step
    for _ in range(2):
        trades, _ = _trades(qapp, control, got, 60.0)
    last = {code: data for code, _, data in trades}  # a step's synthetic events follow its market events
    assert all(last[code] == _expected_payload(control, code) for code in CODES)


def test_records_are_reused_between_refreshes(qapp, loaded, monkeypatch):
    control, got = loaded
    monkeypatch.setattr(realtime, "SYNTHETIC_REFRESH_S", 1e9)  # one record per step at most
    rt = control._realtime
    built = []
    original = rt._synthetic_record
    monkeypatch.setattr(rt, "_synthetic_record", lambda code: built.append(code) or original(code))
    steps = 10
    for _ in range(steps):
        trades, _ = _trades(qapp, control, got, 6.0)
    assert len(got) >= RATE * 6.0 * steps
    assert len(built) <= steps  # against ~120,000 synthetic events
    last = {code: data for code, _, data in got}
    assert [c for c in CODES if last[c] != _expected_payload(control, c)]  # stale until their refresh


def test_a_queue_delay_applies_to_the_reused_records(qapp, loaded):
    control, got = loaded
    control.sim.delay_events(50)
    control.sim.advance(1.0)
    queued = list(control._queue._queue)
    assert len(queued) >= RATE and all(e.due_monotonic > 0 for e in queued)
    pump(qapp, control, timeout_s=30)
    assert len([e for e in got if e[1] == realtime.TRADE]) >= RATE


def test_a_window_confines_the_stream_to_its_times_of_day(qapp):
    """The soak's open burst: synthetic trades only between the window's KST times, the market's own outside."""
    control = make_control(qapp, synthetic_rate_eps=RATE, events_per_tick=100_000,
                           synthetic_window=["10:00:05", "10:00:08"])  # START is 10:00:00 KST
    login(qapp, control)
    got = []
    control.OnReceiveRealData.connect(lambda code, name, data: got.append(name))
    assert control.dynamicCall(REG, "1000", ";".join(CODES), "10", "0") == 0
    control.sim.advance(1.0)
    pump(qapp, control)
    per_second = []
    for _ in range(10):  # 10:00:01 .. 10:00:11
        got.clear()
        control.sim.advance(1.0)
        pump(qapp, control, timeout_s=30)
        per_second.append(got.count(realtime.TRADE))
    inside, outside = per_second[4:7], per_second[:4] + per_second[7:]
    assert all(n >= RATE for n in inside), per_second
    assert max(outside) < RATE / 10, per_second


def test_a_burst_is_offered_on_the_clock_and_what_does_not_fit_the_queue_is_dropped_and_counted(qapp):
    control = make_control(qapp, synthetic_rate_eps=RATE, events_per_tick=100_000, max_pending_events=1_000,
                           synthetic_window=["10:00:00", "10:01:00"])
    login(qapp, control)
    assert control.dynamicCall(REG, "1000", ";".join(CODES), "10", "0") == 0
    control.sim.advance(1.0)
    pump(qapp, control)
    control.sim.clock.advance(2.0)
    control.sim.tick()  # the wall timer's bounded step; the Qt loop does not drain meanwhile
    assert control.sim.pending_events == 1_000
    assert control.sim.stats.synthetic_dropped >= RATE * 2.0 - 1_000
    pump(qapp, control, timeout_s=30)  # room again: the next tick's burst is queued whole
    control.sim.clock.advance(0.25)
    dropped = control.sim.stats.synthetic_dropped
    control.sim.tick()
    assert control.sim.stats.synthetic_dropped == dropped and control.sim.pending_events >= RATE * 0.25


def test_window_seconds_count_each_day_and_only_inside():
    day = datetime(2024, 6, 14, tzinfo=KST).timestamp()
    window = ("09:00:00", "09:00:10")
    at = lambda h, m, s: day + h * 3600 + m * 60 + s  # noqa: E731
    assert realtime._inside_window(at(8, 59, 55), at(9, 0, 5), window) == 5.0
    assert realtime._inside_window(at(9, 0, 2), at(9, 0, 4), window) == 2.0
    assert realtime._inside_window(at(9, 0, 10), at(23, 0, 0), window) == 0.0
    assert realtime._inside_window(at(8, 0, 0), at(8, 0, 0) + 2 * 86400, window) == 20.0  # two days' windows


@pytest.mark.parametrize("window", [("09:00", "09:01:00"), ("09:01:00", "09:00:00"), ("x", "y"), ("09:00:00",)])
def test_a_malformed_window_is_refused_at_configuration(window):
    with pytest.raises(ValueError, match="synthetic_window"):
        SimConfig(synthetic_window=window)


def test_a_yaml_list_window_becomes_a_pair():
    assert SimConfig(synthetic_window=["09:00:00", "09:00:30"]).synthetic_window == ("09:00:00", "09:00:30")
