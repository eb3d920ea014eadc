"""The wall timer's step keeps the control's event queue bounded: when the Qt loop falls behind the
simulated market (a high speed on a slow machine), realtime spans are skipped and counted instead of
queued without bound (each queued event is a few Python objects, and the garbage collector's full
passes over a growing heap paused every thread of the broker for seconds)."""
from __future__ import annotations

from koabus.services.sim.market.listing import Listing
from tests.contract.conftest import login
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"
LIMIT = 200


def _registered(qapp, **overrides):
    control = make_control(qapp, **{"max_pending_events": LIMIT, "max_realtime_span_s": 0.0, **overrides})
    login(qapp, control)
    codes = [c for c in Listing.default().codes() if control.sim.world.is_stock(c)][:60]
    assert control.dynamicCall(REG, "0001", ";".join(codes), "10;41", "0") == 0
    pump(qapp, control)
    return control


def test_a_queue_behind_the_market_skips_realtime_and_stays_bounded(qapp):
    control = _registered(qapp)
    try:
        sim = control.sim
        biggest = 0
        for _ in range(40):  # 40 wall ticks of 30 market seconds each, the Qt loop never draining
            sim.clock.advance(30.0)
            before = sim.pending_events
            sim.tick()
            biggest = max(biggest, sim.pending_events - before)
        assert biggest > 0, "the market produced nothing: the test proves nothing"
        assert sim.stats.realtime_skips > 0 and sim.stats.realtime_skipped_s > 0
        # at most one span's events beyond the limit, however long the loop stays behind
        assert sim.pending_events <= LIMIT + biggest, (sim.pending_events, biggest)

        pump(qapp, control, timeout_s=20)  # the loop catches up: the stream resumes
        skips = sim.stats.realtime_skips
        sim.clock.advance(30.0)
        sim.tick()
        assert sim.stats.realtime_skips == skips and sim.pending_events > 0
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_the_bound_can_be_switched_off_and_explicit_steps_never_skip(qapp):
    control = _registered(qapp)
    try:
        sim = control.sim
        for _ in range(10):  # a test driving time itself gets every event, pumped or not
            sim.advance(30.0)
        assert sim.pending_events > LIMIT and sim.stats.realtime_skips == 0
    finally:
        control.deleteLater()
        qapp.processEvents()
    control = make_control(qapp, max_pending_events=0, max_realtime_span_s=0.0)
    login(qapp, control)
    try:
        codes = [c for c in Listing.default().codes() if control.sim.world.is_stock(c)][:60]
        control.dynamicCall(REG, "0001", ";".join(codes), "10;41", "0")
        for _ in range(10):
            control.sim.clock.advance(30.0)
            control.sim.tick()
        assert control.sim.pending_events > LIMIT and control.sim.stats.realtime_skips == 0
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_after_a_stall_a_tick_streams_only_the_latest_span(qapp):
    control = _registered(qapp, max_pending_events=0, max_realtime_span_s=5.0)
    try:
        sim = control.sim
        sim.clock.advance(600.0)  # the Qt loop stalled for ten market minutes (speed 0: no wall share)
        sim.tick()
        stalled = sim.pending_events
        assert sim.stats.realtime_skips == 1 and abs(sim.stats.realtime_skipped_s - 595.0) < 1e-6
        pump(qapp, control, timeout_s=20)
        for _ in range(120):  # the same ten minutes in 5 s ticks stream everything
            sim.clock.advance(5.0)
            sim.tick()
        assert sim.stats.realtime_skips == 1
        assert 0 < stalled < sim.pending_events / 20, (stalled, sim.pending_events)
    finally:
        control.deleteLater()
        qapp.processEvents()
