"""Unit tests of the pacer: windows, priorities, round robin, keyed spacing, overload backoff, efficiency."""
from __future__ import annotations

import pytest

from koabus.common.clock import VirtualClock
from koabus.common.errors import Overloaded
from koabus.services.broker.config import PacingSettings
from koabus.services.broker.pacing import ACCOUNT, BULK, ORDER, QUOTE, PacedCall, Pacer
from koabus.services.sim.limits import WindowLimiter


def _call(kind, client="a", label="", **kw):
    return PacedCall(kind, client, lambda: None, label=label, **kw)


def _pacer(**kw):
    clock = VirtualClock(1_700_000_000.0, speed=0)
    return Pacer(PacingSettings(**kw), clock), clock


def test_five_per_second_then_wait():
    pacer, clock = _pacer()
    for i in range(12):
        pacer.submit(_call(QUOTE, label=str(i)))
    assert [c.label for c in pacer.take_ready()] == ["0", "1", "2", "3", "4"]
    wait = pacer.next_wakeup_s()
    assert 1.0 < wait < 1.02
    clock.advance(wait)
    assert len(pacer.take_ready()) == 5
    assert pacer.take_ready() == []
    clock.advance(pacer.next_wakeup_s())
    assert len(pacer.take_ready()) == 2
    assert pacer.next_wakeup_s() is None


def test_priority_orders_account_quote_bulk():
    pacer, _ = _pacer(tr_windows=((1, 1.0),), order_windows=((1, 1.0),))
    pacer.submit(_call(BULK, label="bulk"))
    pacer.submit(_call(QUOTE, label="quote"))
    pacer.submit(_call(ACCOUNT, label="account"))
    pacer.submit(_call(ORDER, label="order"))
    # orders have their own budget; of the query classes the account query goes first
    assert [c.label for c in pacer.take_ready()] == ["order", "account"]


def test_round_robin_between_clients_within_a_class():
    pacer, _ = _pacer(tr_windows=((100, 1.0),))
    for i in range(4):
        pacer.submit(_call(QUOTE, "a", f"a{i}"))
    for i in range(2):
        pacer.submit(_call(QUOTE, "b", f"b{i}"))
    assert [c.label for c in pacer.take_ready()] == ["a0", "b0", "a1", "b1", "a2", "a3"]


def test_same_key_spaced_but_others_not_blocked():
    pacer, clock = _pacer()
    pacer.submit(_call(QUOTE, label="c1", key=("cond", "x", 1), key_interval_s=60))
    pacer.submit(_call(QUOTE, label="c2", key=("cond", "x", 1), key_interval_s=60))
    pacer.submit(_call(QUOTE, label="tr"))
    assert [c.label for c in pacer.take_ready()] == ["c1", "tr"]
    assert 59 < pacer.next_wakeup_s() <= 60
    clock.advance(60)
    assert [c.label for c in pacer.take_ready()] == ["c2"]


def test_overload_pauses_the_budget_and_requeues_first():
    pacer, clock = _pacer(tr_backoff_s=17.0)
    pacer.submit(_call(QUOTE, label="x"))
    pacer.submit(_call(QUOTE, label="y"))
    first = pacer.take_next()
    assert first.label == "x"
    assert pacer.report_overload(QUOTE) == 17.0
    pacer.requeue_front(first)
    assert pacer.take_ready() == []
    assert pacer.throttle_events()[0].state == "start"
    clock.advance(17.01)
    assert [c.label for c in pacer.take_ready()] == ["x", "y"]
    events = pacer.throttle_events()
    assert [e.state for e in events] == ["end"]
    assert pacer.state()["tr"]["overloads"] == 1


def test_per_client_queue_limit():
    pacer, _ = _pacer(max_queue_per_client=3)
    for _ in range(3):
        pacer.submit(_call(QUOTE, "greedy"))
    with pytest.raises(Overloaded):
        pacer.submit(_call(QUOTE, "greedy"))
    pacer.submit(_call(QUOTE, "other"))  # other clients still get in


def test_remove_by_owner():
    pacer, _ = _pacer(tr_windows=((1, 1.0),))
    owner = object()
    pacer.submit(_call(QUOTE, owner=owner))
    pacer.submit(_call(QUOTE, label="keep"))
    removed = pacer.remove(lambda c: c.owner is owner)
    assert len(removed) == 1
    assert [c.label for c in pacer.take_ready()] == ["keep"]


@pytest.mark.parametrize("windows", [((5, 1.0), (1000, 3600.0)), ((5, 1.0), (5, 17.0), (25, 90.0))])
def test_efficiency_against_the_simulators_limiter(windows):
    """500 queued TRs: never refused by a limiter with the same windows, at >= 95% of the ideal rate."""
    pacer, clock = _pacer(tr_windows=windows)
    judge = WindowLimiter(windows)
    start = clock.time()
    for i in range(500):
        pacer.submit(_call((QUOTE, BULK, ACCOUNT)[i % 3], f"c{i % 4}"))
    sent = []
    for _ in range(100_000):
        for _ready in pacer.take_ready():
            assert judge.try_acquire(clock.time()) is None, "the pacer crossed a limit"
            sent.append(clock.time())
        wait = pacer.next_wakeup_s()
        if wait is None:
            break
        clock.advance(wait)
    assert len(sent) == 500
    ideal = _ideal_duration(500, windows)
    achieved = sent[-1] - start
    assert achieved <= ideal / 0.95, (achieved, ideal)


def _ideal_duration(n, windows):
    """Time of the n-th call under a greedy schedule with exact (margin-free) windows."""
    times = []
    t = 0.0
    for _ in range(n):
        for count, span in windows:
            if len(times) >= count:
                t = max(t, times[-count] + span)
        times.append(t)
    return times[-1]
