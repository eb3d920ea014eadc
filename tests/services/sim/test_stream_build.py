"""`stream_build_ms`: registering hundreds of codes at once must not hold the Qt thread (and every request the
broker has) for seconds in one tick. The wall timer builds new codes' streams within a budget per tick; a
code streams from the tick after its build, with its day state as if it had streamed all along."""
from __future__ import annotations

from koabus.services.sim.market.listing import Listing
from koabus.services.sim.realtime import TRADE
from tests.contract.conftest import login
from tests.services.sim.conftest import make_control, pump

REG = "SetRealReg(QString, QString, QString, QString)"
CODES = 20


def _registered(qapp, **overrides):
    control = make_control(qapp, max_pending_events=0, **overrides)
    login(qapp, control)
    got = []
    control.OnReceiveRealData.connect(lambda code, name, data: got.append((code, name, data)))
    codes = [c for c in Listing.default().codes() if control.sim.world.is_stock(c)][:CODES]
    assert control.dynamicCall(REG, "0001", ";".join(codes), "10;41", "0") == 0
    return control, got, codes


def _tick(qapp, control, seconds: float) -> None:
    control.sim.clock.advance(seconds)
    control.sim.tick()
    pump(qapp, control, timeout_s=20)


def test_a_tick_builds_what_its_budget_allows_and_later_ticks_the_rest(qapp):
    control, got, codes = _registered(qapp, stream_build_ms=1)  # one build (~15 ms) already spends it
    try:
        streams = control._realtime._streams
        _tick(qapp, control, 1.0)
        assert 1 <= len(streams) < CODES
        assert {code for code, _, _ in got} <= set(streams)  # nothing streams before its build
        for _ in range(CODES * 2):  # bounded: at least one build per tick
            if len(streams) == CODES:
                break
            _tick(qapp, control, 1.0)
        assert set(streams) == set(codes)
    finally:
        control.deleteLater()
        qapp.processEvents()


def test_a_code_built_late_streams_the_same_values_as_one_built_at_once(qapp):
    late, late_got, codes = _registered(qapp, stream_build_ms=1)
    whole, whole_got, _ = _registered(qapp, stream_build_ms=0)
    try:
        for _ in range(CODES * 2):
            _tick(qapp, late, 1.0)
            _tick(qapp, whole, 1.0)
            if len(late._realtime._streams) == CODES:
                break
        assert set(late._realtime._streams) == set(codes)
        late_got.clear()
        whole_got.clear()
        _tick(qapp, late, 5.0)  # one tick's span (max_realtime_span_s): all of it streams in that tick
        _tick(qapp, whole, 5.0)
        trades = [[e for e in got if e[1] == TRADE] for got in (late_got, whole_got)]
        # cumulative volume, open, high...: the day state as if it had streamed all along, to the character (a
        # book's changes are against the last book streamed, which a code built late has not had yet)
        assert trades[0] and trades[0] == trades[1]
    finally:
        for control in (late, whole):
            control.deleteLater()
        qapp.processEvents()


def test_a_stopped_clock_builds_nothing_until_it_moves(qapp):
    """Tests register thousands of codes on a frozen clock (tests/services/broker/wide_listing.py): they cost
    nothing until the clock moves, so the wall timer's ticks of a stopped clock build no stream."""
    control, _got, _codes = _registered(qapp, stream_build_ms=50)
    try:
        for _ in range(3):
            control.sim.tick()
        assert not control._realtime._streams
        _tick(qapp, control, 1.0)
        assert control._realtime._streams
    finally:
        control.deleteLater()
        qapp.processEvents()
