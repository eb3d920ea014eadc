"""Unit tests of the pacer: windows, priorities, round robin, keyed spacing, overload backoff, efficiency."""
from __future__ import annotations

import pytest

from koabus.common.clock import VirtualClock
from koabus.common.errors import Overloaded
from koabus.services.broker.config import PacingSettings
from koabus.services.broker.pacing import (
    ACCOUNT,
    BULK,
    KEY_MARGIN_S,
    KIWOOM_TR_WINDOWS,
    ORDER,
    QUOTE,
    PacedCall,
    Pacer,
)
from koabus.services.sim.limits import OncePer, WindowLimiter


def _call(kind, client="a", label="", **kw):
    return PacedCall(kind, client, lambda: None, label=label, **kw)


FIVE_PER_SECOND = ((5, 1.0), (1000, 3600.0))  # the documented rule plus an hourly budget


def _pacer(key_margin_s=KEY_MARGIN_S, **kw):
    clock = VirtualClock(1_700_000_000.0, speed=0)
    return Pacer(PacingSettings(**kw), clock, key_margin_s=key_margin_s), clock


def test_five_per_second_then_wait():
    pacer, clock = _pacer(tr_windows=FIVE_PER_SECOND)
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
    pacer, clock = _pacer(key_margin_s=0.0, tr_windows=FIVE_PER_SECOND)
    pacer.submit(_call(QUOTE, label="c1", key=("cond", "x", 1), key_interval_s=60))
    pacer.submit(_call(QUOTE, label="c2", key=("cond", "x", 1), key_interval_s=60))
    pacer.submit(_call(QUOTE, label="tr"))
    assert [c.label for c in pacer.take_ready()] == ["c1", "tr"]
    assert 59 < pacer.next_wakeup_s() <= 60
    clock.advance(60)
    assert [c.label for c in pacer.take_ready()] == ["c2"]


def test_overload_pauses_the_budget_and_requeues_first():
    pacer, clock = _pacer(tr_backoff_s=17.0, tr_windows=FIVE_PER_SECOND)
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


def test_efficiency_with_the_kiwoom_windows():
    test_efficiency_against_the_simulators_limiter(KIWOOM_TR_WINDOWS)


@pytest.mark.parametrize("margin_s, note_after_run, latency_s", [
    (KEY_MARGIN_S, True, 3.0),  # the driver re-stamps the key when the call has run
    (KEY_MARGIN_S, False, 0.5),  # the margin alone covers a call that runs a little late
])
def test_same_condition_is_sixty_seconds_apart_at_the_control(margin_s, note_after_run, latency_s):
    """The control stamps a condition when SendCondition runs, which is after the pacer released it."""
    pacer, clock = _pacer(key_margin_s=margin_s, tr_windows=FIVE_PER_SECOND)
    control = OncePer(60.0)  # the simulator's once-a-minute rule, stamped at the control
    stamps = []
    key = ("condition", "cond", 1)

    def run_condition(call, late_s):
        clock.advance(late_s)  # the Qt thread was busy: the call runs a little after its release
        assert control.try_acquire(key, clock.time()), "the control refused the repeat (-13)"
        stamps.append(clock.time())
        if note_after_run:
            pacer.note_key_sent(call.key)

    for _ in range(3):
        pacer.submit(_call(QUOTE, key=key, key_interval_s=60.0))
    for _ in range(100):
        ready = pacer.take_ready()
        for call in ready:
            run_condition(call, latency_s if not stamps else 0.0)
        wait = pacer.next_wakeup_s()
        if wait is None:
            break
        clock.advance(wait)
    assert len(stamps) == 3
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(gap >= 60.0 for gap in gaps), gaps
    assert all(gap <= 60.0 + margin_s + latency_s + 0.01 for gap in gaps), gaps  # and not much later


def test_without_margin_or_restamp_a_late_first_call_breaks_the_rule():
    """The failure the margin prevents: a release exactly 60 s after the pacer's own stamp."""
    pacer, clock = _pacer(key_margin_s=0.0, tr_windows=FIVE_PER_SECOND)
    control = OncePer(60.0)
    key = ("condition", "cond", 1)
    for _ in range(2):
        pacer.submit(_call(QUOTE, key=key, key_interval_s=60.0))
    pacer.take_ready()
    clock.advance(0.001)
    assert control.try_acquire(key, clock.time())
    clock.advance(pacer.next_wakeup_s())
    assert len(pacer.take_ready()) == 1
    assert not control.try_acquire(key, clock.time())


def test_requeued_keyed_call_gets_its_key_back():
    """A keyed call refused for overload was not sent: the retry waits for the backoff, not a minute."""
    pacer, clock = _pacer(tr_backoff_s=17.0, tr_windows=FIVE_PER_SECOND)
    key = ("condition", "cond", 1)
    pacer.submit(_call(QUOTE, label="c", key=key, key_interval_s=60.0))
    call = pacer.take_next()
    assert pacer.key_last_sent(key) == clock.time()
    pacer.report_overload(QUOTE)
    pacer.requeue_front(call)
    assert pacer.key_last_sent(key) is None
    assert 17.0 <= pacer.next_wakeup_s() < 17.1
    clock.advance(pacer.next_wakeup_s())
    assert [c.label for c in pacer.take_ready()] == ["c"]


def test_kiwoom_windows_give_bursts_of_five_then_a_seventeen_second_pause():
    """60 queued TRs against the operator's guidance emulated as windows: never refused; 5 fast, ~17 s pause."""
    pacer, clock = _pacer(tr_windows=KIWOOM_TR_WINDOWS)
    guidance = WindowLimiter(((5, 1.0), (5, 17.0), (25, 90.0), (50, 180.0), (1000, 3600.0)))
    for i in range(60):
        pacer.submit(_call((QUOTE, BULK, ACCOUNT)[i % 3], f"c{i % 4}"))
    sent = []
    for _ in range(1000):
        for _ready in pacer.take_ready():
            assert guidance.try_acquire(clock.time()) is None, "a call the real server's guidance forbids"
            sent.append(clock.time())
        wait = pacer.next_wakeup_s()
        if wait is None:
            break
        clock.advance(wait)
    assert len(sent) == 60
    for i in range(1, 60):
        gap = sent[i] - sent[i - 1]
        if i % 5:
            assert gap < 1.0, (i, gap)  # inside a burst: as fast as the 5/s rule allows
        else:
            assert 17.9 < sent[i] - sent[i - 5] < 18.1 and gap > 17.0, (i, gap)
    assert 11 * 18.0 <= sent[-1] - sent[0] <= 11 * 18.1  # 1000 an hour, the long-run rate


def test_simulator_default_windows_are_not_stricter_than_the_broker_defaults():
    """Every window the simulator enforces is implied by a broker window (fewer calls over a longer span),
    so the broker never sees -200 from the simulator in normal operation."""
    from koabus.services.sim.config import LimitsConfig

    for broker_windows in (KIWOOM_TR_WINDOWS, PacingSettings().tr_windows):
        for count, span in LimitsConfig().tr_windows:
            assert any(n <= count and s >= span for n, s in broker_windows), (count, span, broker_windows)
    for count, span in LimitsConfig().order_windows:
        assert any(n <= count and s >= span for n, s in PacingSettings().order_windows)
