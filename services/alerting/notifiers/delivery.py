"""Delivery: a worker thread per notifier with its own bounded queue, retries with backoff, counters.

`dispatch(alert)` only appends to the queues of the notifiers the alert names and returns: the bus
reader never waits on a channel. Each notifier's thread sends one alert at a time, so a channel that
hangs or fails delays only its own queue. A full queue drops its OLDEST alert (counted in
`dropped_full`): when a channel has been down long enough to fill it, the newest alerts describe the
present and are the ones worth delivering when it comes back.

Retries: a retryable DeliveryError is retried up to `retries` times after
`min(max_backoff_s, backoff_s * 2**(n-1))` scaled by a jitter factor in [0.5, 1.0] (spreads the retries
of many alerts), or after the channel's Retry-After (capped at `retry_after_max_s`). A final error or
exhausted retries counts as `failed` and is logged; the service keeps running either way.
"""
from __future__ import annotations

import collections
import logging
import random
import threading
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple

from koabus.services.alerting.notifiers.base import DeliveryError, Notifier

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 30.0
DEFAULT_RETRY_AFTER_MAX_S = 60.0


@dataclass(frozen=True)
class NotifierStats:
    """Counters of one notifier. `retried` counts retry attempts; `failed` alerts given up on;
    `dropped_full` alerts dropped because the queue was full; `dropped_stop` alerts still queued when
    `stop` ran out of time; `queued` waiting now. `last_error_s` is the clock time of `last_error`."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    dropped_full: int = 0
    dropped_stop: int = 0
    queued: int = 0
    last_error: str = ""
    last_error_s: float = 0.0

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


class _Lane:
    """One notifier's queue, counters and thread. The lock guards the deque and the counters."""

    def __init__(self, notifier: Notifier, queue_size: int):
        self.notifier = notifier
        self.queue: Deque[Alert] = collections.deque()
        self.queue_size = queue_size
        self.cond = threading.Condition()
        self.busy = False
        self.counts: Dict[str, Any] = {"sent": 0, "failed": 0, "retried": 0, "dropped_full": 0,
                                       "dropped_stop": 0, "last_error": "", "last_error_s": 0.0}
        self.thread: Optional[threading.Thread] = None

    def put(self, alert: Alert) -> None:
        with self.cond:
            if len(self.queue) >= self.queue_size:
                self.queue.popleft()
                self.counts["dropped_full"] += 1
            self.queue.append(alert)
            self.cond.notify()

    def count(self, key: str, n: int = 1) -> None:
        with self.cond:
            self.counts[key] += n

    def error(self, text: str, when_s: float) -> None:
        with self.cond:
            self.counts["last_error"] = text
            self.counts["last_error_s"] = when_s

    def stats(self) -> NotifierStats:
        with self.cond:
            return NotifierStats(queued=len(self.queue), **self.counts)

    def idle(self) -> bool:
        with self.cond:
            return not self.queue and not self.busy


class Dispatcher:
    """Delivers alerts to notifiers by name (`alert.notify`); see the module docstring for the policy.

    `sleep(seconds)` and `clock()` are injectable so tests drive retries without waiting; the default
    sleep returns early when `stop` is called. `rng` supplies the jitter (a `random.Random`).
    """

    def __init__(self, notifiers: Iterable[Notifier], *, queue_size: int = DEFAULT_QUEUE_SIZE,
                 retries: int = DEFAULT_RETRIES, backoff_s: float = DEFAULT_BACKOFF_S,
                 max_backoff_s: float = DEFAULT_MAX_BACKOFF_S,
                 retry_after_max_s: float = DEFAULT_RETRY_AFTER_MAX_S,
                 sleep: Optional[Callable[[float], Any]] = None, clock: Callable[[], float] = time.time,
                 rng: Optional[random.Random] = None):
        if queue_size < 1 or retries < 0 or backoff_s < 0 or max_backoff_s < 0 or retry_after_max_s < 0:
            raise ValueError("queue_size >= 1, and retries and delays >= 0")
        self._lanes: Dict[str, _Lane] = {}
        for notifier in notifiers:
            if notifier.name in self._lanes:
                raise ValueError(f"two notifiers are named {notifier.name!r}")
            self._lanes[notifier.name] = _Lane(notifier, queue_size)
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.retry_after_max_s = retry_after_max_s
        self._stopping = threading.Event()
        self._abandon = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._clock = clock
        self._rng = rng or random.Random()
        self._started = False
        self._unknown_warned: set = set()

    @property
    def names(self) -> Tuple[str, ...]:
        return tuple(self._lanes)

    def start(self) -> None:
        """Start one daemon worker thread per notifier (idempotent)."""
        if self._started:
            return
        self._started = True
        for name, lane in self._lanes.items():
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"notify-{name}", daemon=True)
            lane.thread.start()

    def dispatch(self, alert: Alert, names: Optional[Iterable[str]] = None) -> Tuple[str, ...]:
        """Queue `alert` for the notifiers named by `names` (default `alert.notify`); never blocks.
        Returns the names it was queued for; unknown names are logged once and skipped."""
        if self._stopping.is_set():
            return ()
        queued: List[str] = []
        for name in dict.fromkeys(alert.notify if names is None else names):
            lane = self._lanes.get(name)
            if lane is None:
                if name not in self._unknown_warned:
                    self._unknown_warned.add(name)
                    log.warning("alert %s names notifier %r, which is not configured", alert.rule, name)
                continue
            lane.put(alert)
            queued.append(name)
        return tuple(queued)

    def stats(self) -> Dict[str, NotifierStats]:
        return {name: lane.stats() for name, lane in self._lanes.items()}

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait (bounded) until every queue is empty and no send is in flight; True if so."""
        deadline = time.monotonic() + timeout_s
        for lane in self._lanes.values():
            with lane.cond:
                while lane.queue or lane.busy:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return False
                    lane.cond.wait(min(remaining, 0.05))
        return True

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Stop taking alerts, deliver what is queued (one attempt each, no retry waits) within
        `timeout_s`, and join the threads. Alerts still queued at the deadline are counted in
        `dropped_stop`; a send stuck past it is left to its daemon thread. True if all threads ended."""
        self._stopping.set()
        for lane in self._lanes.values():
            with lane.cond:
                lane.cond.notify_all()
        deadline = time.monotonic() + max(0.0, timeout_s)
        for lane in self._lanes.values():
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
        self._abandon.set()
        all_ended = True
        for lane in self._lanes.values():
            with lane.cond:
                lane.counts["dropped_stop"] += len(lane.queue)
                lane.queue.clear()
                lane.cond.notify_all()
            if lane.thread is not None and lane.thread.is_alive():
                all_ended = False
                log.warning("notifier %s still sending at shutdown; left behind", lane.notifier.name)
        return all_ended

    def __enter__(self) -> Dispatcher:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # worker side

    def _take(self, lane: _Lane) -> Optional[Alert]:
        with lane.cond:
            lane.busy = False
            lane.cond.notify_all()  # wakes wait_idle
            while not lane.queue:
                if self._stopping.is_set():
                    return None
                lane.cond.wait()
            if self._abandon.is_set():
                return None
            lane.busy = True
            return lane.queue.popleft()

    def _run(self, lane: _Lane) -> None:
        while True:
            alert = self._take(lane)
            if alert is None:
                return
            self._deliver(lane, alert)

    def _deliver(self, lane: _Lane, alert: Alert) -> None:
        name = lane.notifier.name
        attempt = 0
        while True:
            try:
                lane.notifier.send(alert)
            except DeliveryError as exc:
                error = exc
            except Exception as exc:  # a notifier bug must not kill its worker
                log.exception("notifier %s raised unexpectedly", name)
                error = DeliveryError(f"{name}: {type(exc).__name__}: {exc}", retryable=False)
            else:
                lane.count("sent")
                return
            lane.error(str(error), self._clock())
            if not error.retryable or attempt >= self.retries or self._stopping.is_set():
                lane.count("failed")
                log.warning("alert %s not delivered by %s after %d attempt(s): %s", alert.rule, name,
                            attempt + 1, error)
                return
            attempt += 1
            lane.count("retried")
            delay = self.retry_delay(attempt, error.retry_after_s)
            log.info("alert %s via %s: %s; retry %d/%d in %.1f s", alert.rule, name, error, attempt,
                     self.retries, delay)
            self._sleep(delay)

    def retry_delay(self, attempt: int, retry_after_s: Optional[float] = None) -> float:
        """Seconds before retry number `attempt` (1-based)."""
        if retry_after_s is not None:
            return min(max(0.0, retry_after_s), self.retry_after_max_s)
        base = min(self.max_backoff_s, self.backoff_s * (2 ** (attempt - 1)))
        return base * (0.5 + 0.5 * self._rng.random())
