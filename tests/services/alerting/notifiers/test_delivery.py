"""The Dispatcher: a hung or failing channel never delays the others; queues are bounded (oldest
dropped and counted); dispatch never blocks; stop is bounded; backoff grows with jitter and a cap."""
from __future__ import annotations

import random
import threading

import pytest

from koabus.services.alerting.notifiers import DeliveryError, Dispatcher, make_notifier

from .conftest import Reply, make_alert


def test_a_hung_webhook_does_not_delay_a_working_one(http_server):
    stuck, good = http_server(), http_server()
    stuck.default = Reply(500, hang=True)
    notifiers = [make_notifier("stuck", {"type": "webhook", "url": stuck.url, "timeout_s": 30}),
                 make_notifier("good", {"type": "webhook", "url": good.url})]
    dispatcher = Dispatcher(notifiers, retries=2, sleep=lambda s: None)
    dispatcher.start()
    try:
        for n in range(3):
            assert dispatcher.dispatch(make_alert(rule=f"r{n}", notify=("stuck", "good"))) == ("stuck", "good")
        assert good.wait_for(3)
        assert stuck.wait_for(1)
        # the three alerts reached `good` while `stuck` still holds its first request
        assert len(stuck.received) == 1
        assert [r.json()["rule"] for r in good.received] == ["r0", "r1", "r2"]
        assert dispatcher.stats()["stuck"].queued == 2
        stuck.release()
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()
    finally:
        dispatcher.stop(5)
    assert stats["good"].sent == 3 and stats["good"].failed == 0
    assert stats["stuck"].failed == 3 and stats["stuck"].sent == 0  # 500s now answered at once


def test_full_queue_drops_the_oldest_and_counts_it(http_server):
    server = http_server()
    server.reply(Reply(200, hang=True))
    dispatcher = Dispatcher([make_notifier("hook", {"type": "webhook", "url": server.url, "timeout_s": 30})],
                            queue_size=3, retries=0)
    dispatcher.start()
    try:
        dispatcher.dispatch(make_alert(rule="first"))
        assert server.wait_for(1)  # the worker is now stuck sending "first"
        for n in range(10):
            dispatcher.dispatch(make_alert(rule=f"r{n}"))
        stats = dispatcher.stats()["hook"]
        assert (stats.queued, stats.dropped_full) == (3, 7)
        server.release()
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop(5)
    assert [r.json()["rule"] for r in server.received] == ["first", "r7", "r8", "r9"]
    assert dispatcher.stats()["hook"].sent == 4


def test_unknown_notifier_names_are_skipped():
    sent = []

    class Recording:
        name = "a"

        def send(self, alert):
            sent.append(alert.rule)

    with Dispatcher([Recording()]) as dispatcher:
        assert dispatcher.dispatch(make_alert(notify=("a", "nope", "a"))) == ("a",)
        assert dispatcher.wait_idle(5)
    assert sent == ["samsung-above-75k"]


def test_a_notifier_bug_is_counted_and_the_worker_keeps_going():
    calls = []

    class Buggy:
        name = "buggy"

        def send(self, alert):
            calls.append(alert.rule)
            if alert.rule == "boom":
                raise KeyError("oops")

    with Dispatcher([Buggy()], sleep=lambda s: None) as dispatcher:
        dispatcher.dispatch(make_alert(rule="boom", notify=("buggy",)))
        dispatcher.dispatch(make_alert(rule="fine", notify=("buggy",)))
        assert dispatcher.wait_idle(5)
        stats = dispatcher.stats()["buggy"]
    assert calls == ["boom", "fine"]
    assert (stats.sent, stats.failed, stats.retried) == (1, 1, 0)
    assert "KeyError" in stats.last_error


def test_stop_is_bounded_while_a_send_hangs(http_server):
    server = http_server()
    server.default = Reply(200, hang=True)
    dispatcher = Dispatcher([make_notifier("hook", {"type": "webhook", "url": server.url, "timeout_s": 30})])
    dispatcher.start()
    dispatcher.dispatch(make_alert())
    dispatcher.dispatch(make_alert(rule="queued"))
    assert server.wait_for(1)
    assert dispatcher.stop(0.2) is False  # the hung send is left to its daemon thread
    assert dispatcher.stats()["hook"].dropped_stop == 1
    assert dispatcher.dispatch(make_alert()) == ()  # no intake after stop
    server.release()


def test_stop_delivers_what_is_queued_and_joins():
    release = threading.Event()
    sent = []

    class Slow:
        name = "slow"

        def send(self, alert):
            release.wait(5)
            sent.append(alert.rule)

    dispatcher = Dispatcher([Slow()])
    dispatcher.start()
    for n in range(3):
        dispatcher.dispatch(make_alert(rule=f"r{n}", notify=("slow",)))
    release.set()
    assert dispatcher.stop(5) is True
    assert sent == ["r0", "r1", "r2"]


def test_stop_interrupts_a_backoff_wait_and_gives_up():
    attempts = []

    class Down:
        name = "down"

        def send(self, alert):
            attempts.append(alert.rule)
            raise DeliveryError("down", retryable=True)

    dispatcher = Dispatcher([Down()], retries=5, backoff_s=60, max_backoff_s=60)  # real, interruptible sleep
    dispatcher.start()
    dispatcher.dispatch(make_alert(notify=("down",)))
    assert dispatcher.stop(5) is True
    stats = dispatcher.stats()["down"]
    assert stats.failed == 1 and len(attempts) <= 2


def test_backoff_doubles_with_jitter_up_to_the_cap():
    dispatcher = Dispatcher([], backoff_s=1.0, max_backoff_s=10.0, rng=random.Random(1))
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        delay = dispatcher.retry_delay(attempt)
        assert base / 2 <= delay <= base
    assert dispatcher.retry_delay(1, retry_after_s=3.5) == 3.5


def test_duplicate_notifier_names_are_refused():
    class N:
        name = "same"

        def send(self, alert):
            pass

    with pytest.raises(ValueError, match="same"):
        Dispatcher([N(), N()])
