"""The wall timer's step keeps the realtime stream's work bounded (issue 14: heartbeats on time under
load). A tick streams at most `max_realtime_span_s` of market time and the rest follows on later
ticks; while the Qt loop is more than `max_pending_events` behind, the stream waits; only once it is
more than `max_realtime_lag_s` behind the clock is the older part skipped, and counted. (Before, one
tick built its whole span at once: a list of hundreds of thousands of objects whose garbage-collector
passes paused every thread of the broker for seconds.)"""
from __future__ import annotations

from koabus.services.sim.market.listing import Listing
from tests.contract.conftest import login
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"


def _registered(qapp, **overrides):
    # every stream built in the tick that first streams it: these tests are about the span and lag bounds
    # (test_stream_build.py covers the build budget, which starts codes at different ticks)
    control = make_control(qapp, **{"stream_build_ms": 0, **overrides})
    login(qapp, control)
    codes = [c for c in Listing.default().codes() if control.sim.world.is_stock(c)][:60]
    assert control.dynamicCall(REG, "0001", ";".join(codes), "10;41", "0") == 0
    pump(qapp, control)
    return control


def _close(qapp, control):
    control.deleteLater()
    qapp.processEvents()


def _delivered(control) -> int:
    return control.sim._queue.delivered


def test_a_stall_within_the_lag_bound_is_caught_up_in_bounded_ticks_and_loses_nothing(qapp):
    bounded = _registered(qapp, max_pending_events=0, max_realtime_span_s=5.0, max_realtime_lag_s=60.0)
    whole = _registered(qapp, max_pending_events=0, max_realtime_span_s=0.0, max_realtime_lag_s=0.0)
    try:
        sim, before = bounded.sim, _delivered(bounded)
        sim.clock.advance(40.0)  # the Qt loop stalled for 40 market seconds
        sim.tick()
        first = sim.pending_events
        for _ in range(8):  # ticks of a stopped clock catch up (the timer ticks during the pumps too)
            pump(qapp, bounded, timeout_s=20)
            sim.tick()
        pump(qapp, bounded, timeout_s=20)
        caught_up = _delivered(bounded) - before
        assert sim.stats.realtime_skips == 0
        assert 0 < first < caught_up, (first, caught_up)  # the first tick streamed only its 5 s

        before = _delivered(whole)
        whole.sim.clock.advance(40.0)
        whole.sim.tick()
        assert whole.sim.pending_events == caught_up  # the same 40 s in one piece: nothing was lost
        pump(qapp, whole, timeout_s=20)
        assert _delivered(whole) - before == caught_up
    finally:
        _close(qapp, bounded)
        _close(qapp, whole)


def test_a_stall_beyond_the_lag_bound_skips_the_older_part_and_counts_it(qapp):
    control = _registered(qapp, max_pending_events=0, max_realtime_span_s=5.0, max_realtime_lag_s=60.0)
    try:
        sim = control.sim
        sim.clock.advance(600.0)
        sim.tick()
        assert sim.stats.realtime_skips == 1 and abs(sim.stats.realtime_skipped_s - 595.0) < 1e-6
        assert sim.pending_events > 0  # the latest 5 s
    finally:
        _close(qapp, control)


def test_a_queue_behind_the_market_holds_the_stream_back_and_stays_bounded(qapp):
    limit = 200
    control = _registered(qapp, max_pending_events=limit, max_realtime_span_s=5.0, max_realtime_lag_s=60.0)
    try:
        sim = control.sim
        biggest = 0
        for _ in range(40):  # 40 ticks of 30 market seconds, the Qt loop never draining
            sim.clock.advance(30.0)
            before = sim.pending_events
            sim.tick()
            biggest = max(biggest, sim.pending_events - before)
        assert biggest > 0, "the market produced nothing: the test proves nothing"
        assert sim.pending_events <= limit + biggest, (sim.pending_events, biggest)
        assert sim.stats.realtime_skips > 0  # 1,200 s behind: the older part went

        pump(qapp, control, timeout_s=20)  # the loop catches up: the stream resumes
        sim.tick()
        assert sim.pending_events > 0
    finally:
        _close(qapp, control)


def test_explicit_steps_stream_everything(qapp):
    control = _registered(qapp, max_pending_events=10, max_realtime_span_s=5.0, max_realtime_lag_s=60.0)
    try:
        sim = control.sim
        for _ in range(3):  # a test driving time itself gets every event, pumped or not: 90 s, past the lag bound
            sim.advance(30.0)
        assert sim.pending_events > 10 and sim.stats.realtime_skips == 0
    finally:
        _close(qapp, control)
