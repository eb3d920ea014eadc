"""The simulated server's persistent state (services/sim/store.py): the file format, the lock, `koabus sim
reset`, and simulators restarted on a store rebuilding the same exchange (orders, fills, cash, positions)."""
from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

import pytest

from koabus.common.cli.main import main as koabus
from koabus.common.clock import KST
from koabus.services.sim.config import SimConfig
from koabus.services.sim.market import ticks
from koabus.services.sim.store import (
    INPUTS_FILE,
    ClockAnchor,
    InputRecord,
    SimStore,
    StoreCorrupt,
    StoreHeader,
    StoreLocked,
    StoreMismatch,
    header_for,
    open_store,
    reset_store,
    resume_time,
)
from tests.contract.conftest import Recorder, login
from tests.services.sim.conftest import START, make_control, pump

SEND = "SendOrder(QString, QString, QString, int, QString, int, int, QString, QString)"
ACC = "8000000011"
CODE = "005930"
RESTING = "035720"  # its prints on 2024-06-14 dip after 10:10: a buy below them rests, then fills
HEADER = header_for(SimConfig())


def _record(seq: int, t: float = 1_718_326_800.25, **changes) -> InputRecord:
    values = dict(seq=seq, t=t, day="2024-06-14", order_type=1, action="new", side="buy", account=ACC, code=CODE,
                  qty=3, price=0, hoga="03", org_order_no="", credit="00", screen="0001", rq_name="rq",
                  tr_name="KOA_NORMAL_BUY_KP_ORD", accepted=True, order_no=f"{seq:07d}",
                  message="[100000] 모의투자 매수주문완료", wall=1.5)
    values.update(changes)
    return InputRecord(**values)


# -- the files -----------------------------------------------------------------------------------------

def test_inputs_are_written_at_once_and_read_back_typed(tmp_path):
    store = open_store(tmp_path, HEADER)
    try:
        first, second = _record(1), _record(2, accepted=False, order_no="", message="[RC4003] 모의투자 호가단위 오류입니다.")
        store.append(first)
        assert SimStore(tmp_path).inputs() == [first]  # readable by another reader before the writer closes
        store.append(second)
        view = SimStore(tmp_path)
        assert view.inputs() == [first, second]
        assert view.orders() == [first]
        assert view.header() == HEADER
        assert isinstance(view.inputs()[0].t, float) and view.inputs()[0].t == first.t
    finally:
        store.close()


def test_a_torn_last_line_is_not_in_the_store_and_is_cut_when_a_writer_opens_it(tmp_path):
    store = open_store(tmp_path, HEADER)
    store.append(_record(1))
    store.close()
    path = tmp_path / INPUTS_FILE
    whole = path.read_bytes()
    path.write_bytes(whole + _record(2).to_line()[:40])  # a crash in the middle of the second write
    assert [r.seq for r in SimStore(tmp_path).inputs()] == [1]
    store = open_store(tmp_path, HEADER)
    try:
        assert path.read_bytes() == whole
        assert store.next_seq == 2
        store.append(_record(2))
        assert [r.seq for r in SimStore(tmp_path).inputs()] == [1, 2]
    finally:
        store.close()


@pytest.mark.parametrize("line", [b"not json\n", b'{"seq": 1}\n', b"[1, 2]\n",
                                  json.dumps({**_record(1).__dict__, "qty": "3"}).encode() + b"\n",
                                  json.dumps({**_record(1).__dict__, "accepted": 1}).encode() + b"\n"])
def test_a_damaged_record_is_a_typed_error_naming_the_line(tmp_path, line):
    (tmp_path / INPUTS_FILE).write_bytes(_record(1).to_line() + line + _record(3).to_line())
    with pytest.raises(StoreCorrupt, match=f"{INPUTS_FILE}:2"):
        SimStore(tmp_path).inputs()
    with pytest.raises(StoreCorrupt):
        open_store(tmp_path, HEADER)
    assert SimStore(tmp_path).holder() is None  # the refusal released the lock


def test_one_simulator_at_a_time_and_the_holder_is_named(tmp_path):
    store = open_store(tmp_path, HEADER)
    try:
        with pytest.raises(StoreLocked, match="stop the broker first: make stop") as caught:
            open_store(tmp_path, HEADER)
        assert caught.value.details["pid"] == os.getpid()
        assert SimStore(tmp_path).holder() == os.getpid()
    finally:
        store.close()
    assert SimStore(tmp_path).holder() is None
    open_store(tmp_path, HEADER).close()


def test_a_store_of_other_settings_is_refused_unless_it_holds_no_input(tmp_path):
    other = StoreHeader(seed=HEADER.seed + 1, accounts=HEADER.accounts)
    open_store(tmp_path, HEADER).close()
    open_store(tmp_path, other).close()  # nothing to lose: relabelled
    assert SimStore(tmp_path).header() == other
    store = open_store(tmp_path, other)
    store.append(_record(1))
    store.close()
    with pytest.raises(StoreMismatch, match="koabus sim reset") as caught:
        open_store(tmp_path, HEADER)
    assert f"seed {other.seed}" in str(caught.value) and f"seed {HEADER.seed}" in str(caught.value)
    fewer = StoreHeader(seed=other.seed, accounts=other.accounts[:1])
    with pytest.raises(StoreMismatch):
        open_store(tmp_path, fewer)
    assert SimStore(tmp_path).header() == other  # a refusal changes nothing


def test_the_clock_resumes_where_the_servers_time_is_and_never_goes_back():
    anchor = ClockAnchor(virtual_t=1000.0, wall_t=50.0, speed=20.0, seed=1, trading_day="2024-06-14")
    assert resume_time(900.0, anchor, [], wall_now=60.0) == 1000.0 + 10 * 20.0  # ran on while down
    assert resume_time(5000.0, anchor, [], wall_now=60.0) == 5000.0  # a later configured start wins
    assert resume_time(900.0, anchor, [_record(1, t=1500.0)], wall_now=50.0) == 1500.0  # the last order
    frozen = ClockAnchor(virtual_t=1000.0, wall_t=50.0, speed=0.0, seed=1, trading_day="2024-06-14")
    assert resume_time(900.0, frozen, [], wall_now=500.0) == 1000.0
    assert resume_time(900.0, None, [], wall_now=500.0) == 900.0


# -- koabus sim reset ---------------------------------------------------------------------------------

def test_sim_reset_refuses_while_a_simulator_holds_the_state_and_clears_it_after(tmp_path, capsys):
    state = tmp_path / "sim"
    store = open_store(state, HEADER)
    store.append(_record(1))
    (state / "notes.txt").write_text("not the store's")
    try:
        assert koabus(["sim", "reset", "--state-dir", str(state)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "stop the broker first: make stop" in err[0] and str(state) in err[0]
        assert SimStore(state).inputs() == [_record(1)]
    finally:
        store.close()
    assert koabus(["sim", "reset", "--state-dir", str(state)]) == 0
    assert "1 order inputs" in capsys.readouterr().out
    assert not SimStore(state).exists() and SimStore(state).inputs() == []
    assert sorted(p.name for p in state.iterdir()) == ["notes.txt"]  # only the store's files go
    assert koabus(["sim", "reset", "--state-dir", str(state)]) == 0
    assert "no simulated server state" in capsys.readouterr().out
    assert reset_store(tmp_path / "missing") == 0


# -- simulators on a store ------------------------------------------------------------------------------

def _control(qapp, state, **overrides):
    control = make_control(qapp, state_dir=str(state), **overrides)
    login(qapp, control)
    return control


def _dispose(qapp, *controls):
    for control in controls:
        control.sim.close()
        control.deleteLater()
    qapp.processEvents()


def _book(control):
    """Everything the account TRs are built from, for both accounts."""
    world = control.sim.world
    ex = control.sim.exchange
    t = control.sim.clock.time()
    day = world.session_key(t)
    return {acc: (ex.orders(acc, day), ex.fills(acc, day), ex.open_orders(acc), ex.accounts.deposit(acc, day),
                  ex.accounts.positions(acc, day))
            for acc in ("8000000011", "8000000031")}


def _resting_buy_price(control, after_s: float, within_s: float) -> int:
    """A buy price (on the tick grid) that the market's trades do not reach in the next `after_s` seconds
    but do reach before `within_s`: the order rests, then fills."""
    market = control.sim.market
    now = control.sim.clock.time()
    early = min(tr.price for tr in market.trades_between(RESTING, now, now + after_s))
    late = min(tr.price for tr in market.trades_between(RESTING, now + after_s, now + within_s))
    price = ticks.ceil_to_tick(late + 1)
    assert late < price < early, (late, price, early)
    return price


def _send(control, *args) -> int:
    return control.dynamicCall(SEND, *args)


def test_a_restarted_simulator_rebuilds_the_same_exchange_and_resting_orders_fill_alike(qapp, tmp_path):
    state = tmp_path / "sim"
    first = _control(qapp, state)
    second = None
    try:
        step = lambda s: (first.sim.advance(s, max_step_s=0.5), pump(qapp, first))  # noqa: E731 (ticks)
        assert _send(first, "rq1", "0041", ACC, 1, CODE, 5, 0, "03", "") == 0  # fills at once
        step(30)
        resting = _resting_buy_price(first, 300, 3600)
        assert _send(first, "rq2", "0042", ACC, 1, RESTING, 2, resting, "00", "") == 0  # rests, fills later
        step(20)
        far = ticks.floor_to_tick(first.sim.market.best(CODE)[1] * 0.9)
        assert _send(first, "rq3", "0043", ACC, 1, CODE, 4, far, "00", "") == 0  # rests all day
        step(15)
        assert _send(first, "rq4", "0044", ACC, 2, CODE, 2, 0, "03", "") == 0  # sells 2 of the 5
        assert _send(first, "rq5", "0045", "8000000031", 2, CODE, 1, 0, "03", "") == 0  # rejected: holds none
        step(10)
        assert _send(first, "rq6", "0046", ACC, 3, CODE, 3, 0, "00", "0000003") == 0  # cancel 3 of order 3
        step(10)
        pump(qapp, first)
        inputs = SimStore(state).inputs()
        assert [(r.action, r.accepted) for r in inputs] == [("new", True), ("new", True), ("new", True),
                                                            ("new", True), ("new", False), ("cancel", True)]
        assert [r.order_no for r in inputs] == ["0000001", "0000002", "0000003", "0000004", "", "0000005"]
        assert inputs[-1].org_order_no == "0000003" and inputs[1].screen == "0042"
        original = _book(first)
        assert [o.order_no for o in original[ACC][2]] == ["0000002", "0000003"]  # both still rest
        first.sim.close()  # the broker process is gone; its exchange stays readable here

        second = _control(qapp, state)
        assert second.sim.clock.time() == first.sim.clock.time()  # frozen clock: resumes at the anchor
        assert _book(second) == original
        rec = Recorder(second)
        rec.readers["OnReceiveChejanData"] = lambda gubun, *_: (
            gubun, second.dynamicCall("GetChejanData(int)", 9203), second.dynamicCall("GetChejanData(int)", 920),
            second.dynamicCall("GetChejanData(int)", 913))
        for control in (first, second):
            control.sim.advance(3600, max_step_s=60)
            pump(qapp, control)
        assert _book(second) == _book(first)
        filled = {o.order_no: o for o in second.sim.exchange.orders(ACC)}["0000002"]
        assert filled.status == "filled" and filled.price == resting
        fills = [e[2] for e in rec.of("OnReceiveChejanData") if e[2][0] == "0" and e[2][1] == "0000002"]
        assert fills and all(f == ("0", "0000002", "0042", "체결") for f in fills)  # its own screen
        rec.close()
    finally:
        _dispose(qapp, *(c for c in (first, second) if c is not None))


def test_the_downtimes_fills_are_not_delivered_but_the_account_has_them(qapp, tmp_path):
    state = tmp_path / "sim"
    first = _control(qapp, state)
    try:
        price = _resting_buy_price(first, 300, 3600)
        assert _send(first, "rq", "0042", ACC, 1, RESTING, 2, price, "00", "") == 0
        pump(qapp, first)
        assert [o.order_no for o in first.sim.exchange.open_orders(ACC)] == ["0000001"]
    finally:
        _dispose(qapp, first)
    # Restarted an hour of server time later (the broker was down meanwhile).
    second = make_control(qapp, state_dir=str(state), start=START + timedelta(hours=1))
    rec = Recorder(second)
    try:
        login(qapp, second)
        pump(qapp, second)
        second.sim.advance(5)
        pump(qapp, second)
        assert rec.of("OnReceiveChejanData") == []
        order = second.sim.exchange.orders(ACC)[0]
        assert order.order_no == "0000001" and order.status == "filled" and order.filled_qty == 2
        assert second.sim.world.position(ACC, RESTING, second.sim.clock.time()).qty == 2
    finally:
        rec.close()
        _dispose(qapp, second)


def test_holdings_and_cash_carry_into_the_next_trading_day_and_day_orders_expire(qapp, tmp_path):
    state = tmp_path / "sim"
    first = _control(qapp, state)
    try:
        assert _send(first, "rq", "0041", ACC, 1, CODE, 3, 0, "03", "") == 0
        price = ticks.floor_to_tick(first.sim.market.best(CODE)[1] * 0.9)
        assert _send(first, "rq", "0042", ACC, 1, CODE, 1, price, "00", "") == 0  # never fills today
        pump(qapp, first)
        cost = first.sim.world.position(ACC, CODE, first.sim.clock.time()).cost
        d2 = first.sim.world.cash(ACC, first.sim.clock.time()).d2
    finally:
        _dispose(qapp, first)
    monday = datetime(2024, 6, 17, 10, 0, tzinfo=KST)  # START is Friday 2024-06-14
    second = _control(qapp, state, start=monday)
    try:
        t = second.sim.clock.time()
        assert t == monday.timestamp()
        held = second.sim.world.position(ACC, CODE, t)
        assert (held.qty, held.cost) == (3, cost)
        assert second.sim.exchange.open_orders(ACC) == []  # the day order expired at Friday's close
        assert second.sim.world.orders(ACC, t) == []  # opt10075 lists today's orders only
        assert second.sim.world.cash(ACC, t).d2 == d2
        assert _send(second, "rq", "0041", ACC, 2, CODE, 3, 0, "03", "") == 0  # Friday's shares can be sold
        pump(qapp, second)
        assert second.sim.world.position(ACC, CODE, second.sim.clock.time()).qty == 0
        assert [r.day for r in SimStore(state).orders()] == ["2024-06-14", "2024-06-14", "2024-06-17"]
    finally:
        _dispose(qapp, second)


def test_a_second_simulator_on_the_same_state_is_refused_and_the_first_keeps_working(qapp, tmp_path, capsys):
    state = tmp_path / "sim"
    first = _control(qapp, state)
    try:
        with pytest.raises(StoreLocked):
            make_control(qapp, state_dir=str(state))
        assert _send(first, "rq", "0041", ACC, 1, CODE, 1, 0, "03", "") == 0
        assert len(SimStore(state).orders()) == 1
        # `koabus sim show` reads it meanwhile (rebuilt read-only, the lock untouched)
        assert koabus(["sim", "show", "--state-dir", str(state), "--json"]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["holder_pid"] == os.getpid() and (shown["inputs"], shown["accepted"]) == (1, 1)
        book = {b["account"]: b for b in shown["books"]}[ACC]
        held = first.sim.world.position(ACC, CODE, first.sim.clock.time())
        assert [(p["code"], p["qty"], p["avg_price"]) for p in book["positions"]] == [(CODE, 1, held.avg_price)]
        assert book["cash"]["d2"] == first.sim.world.cash(ACC, first.sim.clock.time()).d2
        assert [f["order_no"] for f in book["fills_today"]] == ["0000001"]
        assert _send(first, "rq", "0041", ACC, 1, CODE, 1, 0, "03", "") == 0  # still the writer
    finally:
        _dispose(qapp, first)


def test_without_a_state_dir_nothing_is_written(qapp, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    control = make_control(qapp)
    try:
        login(qapp, control)
        assert control.sim.store is None
        assert _send(control, "rq", "0041", ACC, 1, CODE, 1, 0, "03", "") == 0
        pump(qapp, control)
    finally:
        _dispose(qapp, control)
    assert list(tmp_path.iterdir()) == []


def test_replay_mode_resumes_inside_a_session_never_after_the_close():
    """`make run` promises live data at any hour: a replayed session resumed after its close (or on a
    holiday) moves on to the next session's open; inside a session the resumed time stands."""
    from datetime import datetime

    from koabus.common.clock import KST
    from koabus.services.sim.harness import replay_resume_time

    def t(*args):
        return datetime(*args, tzinfo=KST).timestamp()

    assert replay_resume_time(t(2025, 6, 2, 11, 30)) == t(2025, 6, 2, 11, 30)
    # Monday after the close: Tuesday 2025-06-03 was the presidential election holiday
    assert replay_resume_time(t(2025, 6, 2, 16, 0)) == t(2025, 6, 4, 9, 0)
    assert replay_resume_time(t(2025, 6, 7, 12, 0)) == t(2025, 6, 9, 9, 0)  # a Saturday
    assert replay_resume_time(t(2025, 6, 4, 8, 10)) == t(2025, 6, 4, 9, 0)  # before the open
