"""RealtimeWork on a real Qt event loop: bounded chunks per turn, request order, answers after their work."""
from __future__ import annotations

from koabus.services.broker.realwork import RealtimeWork
from koabus.services.broker.session import RealReg, RealRemove
from tests.helpers import pump_until


def _work(qapp, **kw):
    ran, turns = [], []
    work = RealtimeWork(ran.append, **kw)
    original = work._turn

    def counting_turn():
        before = len(ran)
        original()
        turns.append(ran[before:])

    work._timer.timeout.disconnect()
    work._timer.timeout.connect(counting_turn)
    return work, ran, turns


def test_releases_run_a_bounded_chunk_per_turn_in_order(qapp):
    work, ran, turns = _work(qapp, turn_budget_s=60.0)
    removes = [RealRemove("0001", f"{i:06d}") for i in range(250)]
    answered = []
    work.submit(removes, lambda: answered.append(len(ran)))
    assert ran == [] and work.pending() == 250  # nothing runs inside submit
    assert pump_until(qapp, lambda: answered, 5.0)
    assert ran == removes and answered == [250]
    assert [len(t) for t in turns] == [100, 100, 50]
    assert work.pending() == 0


def test_a_full_screen_registration_is_one_turn(qapp):
    work, ran, turns = _work(qapp, turn_budget_s=60.0)
    regs = [RealReg(f"{s:04d}", tuple(f"{s:02d}{i:04d}" for i in range(100)), (10,), "0") for s in range(1, 4)]
    work.submit(regs)
    assert pump_until(qapp, lambda: len(ran) == 3, 5.0)
    assert [len(t) for t in turns] == [1, 1, 1]


def test_answers_follow_their_own_work_and_later_work_waits(qapp):
    work, ran, _ = _work(qapp, turn_budget_s=60.0)
    order = []
    work.submit([RealRemove("0001", f"{i:06d}") for i in range(150)], lambda: order.append(("a", len(ran))))
    work.submit([RealReg("0002", ("005930",), (10,), "0")], lambda: order.append(("b", len(ran))))
    work.submit([], lambda: order.append(("c", len(ran))))  # nothing to do, but queued work comes first
    assert pump_until(qapp, lambda: len(order) == 3, 5.0)
    assert order == [("a", 150), ("b", 151), ("c", 151)]
    idle = []
    work.submit([], lambda: idle.append(True))
    assert idle == [True]  # with nothing queued, answered at once


def test_clear_drops_the_calls_but_answers_every_waiter(qapp):
    work, ran, _ = _work(qapp, turn_budget_s=60.0)
    answered = []
    work.submit([RealRemove("0001", f"{i:06d}") for i in range(300)], lambda: answered.append("a"))
    work.submit([RealRemove("0002", "005930")], lambda: answered.append("b"))
    qapp.processEvents()
    work.clear()
    assert answered == ["a", "b"] and work.pending() == 0
    done = len(ran)
    assert done < 301
    pump_until(qapp, lambda: False, 0.05)
    assert len(ran) == done  # nothing runs after clear


def test_a_failing_call_does_not_stop_the_rest(qapp):
    calls = []

    def run(action):
        calls.append(action)
        if action.code == "000002":
            raise RuntimeError("control refused")

    work = RealtimeWork(run)
    answered = []
    work.submit([RealRemove("0001", f"{i:06d}") for i in range(5)], lambda: answered.append(True))
    assert pump_until(qapp, lambda: answered, 5.0)
    assert len(calls) == 5
