"""The pacer: one scheduler for every call Kiwoom rate-limits, as a plain class fed a clock.

Calls wait in queues instead of failing. Each call has a class (order, account, quote, bulk) that
fixes its priority and the budget it spends: orders have their own budget (5/s), the three query
classes share the TR budget (CommRqData, CommKwRqData and SendCondition all count), which has the
published 5/s window plus stricter long windows. Keyed calls (the same condition search) are also
spaced by a minimum interval. Within a class, clients are served round robin. The Qt-side driver
asks `take_ready()` for what may start now and `next_wakeup_s()` for when to look again; nothing here
waits or touches Qt.

Keyed calls are spaced by their interval plus `key_margin_s`, and the driver re-stamps the key with
`note_key_sent` once the call has run: the control counts from when it ran, not from when the pacer
released it, and a gap of 59.999 s is a refused repeat (facts §7).
"""
from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Deque, Dict, Hashable, List, Optional, Tuple

from koabus.common.clock import Clock
from koabus.common.errors import Overloaded

if TYPE_CHECKING:  # config.py may import the window constants below: no import cycle at run time
    from .config import PacingSettings

ORDER = "order"
ACCOUNT = "account"
QUOTE = "quote"
BULK = "bulk"
#: classes in priority order: orders before account queries before quotes before bulk history
CLASSES: Tuple[str, ...] = (ORDER, ACCOUNT, QUOTE, BULK)

ORDER_BUDGET = "order"
TR_BUDGET = "tr"
BUDGET_OF_CLASS = {ORDER: ORDER_BUDGET, ACCOUNT: TR_BUDGET, QUOTE: TR_BUDGET, BULK: TR_BUDGET}

#: TR windows that protect the real server (count, seconds). The documented rule is 5/s; since
#: 2017 an undisclosed stricter limit applies (facts §7). These are koapy's windows, proven on the
#: real server: 5 per 18 s gives "one burst of 5 in 1 s, then wait ~17 s" (the operator's guidance and
#: what real logs show); 25/90 s, 50/180 s and 1000/3600 s have the same long-run rate (1000 an hour)
#: and guard the longer horizons should a backoff or a clock step bunch calls. See docs/broker.md.
KIWOOM_TR_WINDOWS: Tuple[Tuple[int, float], ...] = (
    (5, 1.0), (5, 18.0), (25, 90.0), (50, 180.0), (1000, 3600.0))
#: orders: 5 per second across SendOrder/SendOrderCredit/SendOrderFO (-308 above it)
KIWOOM_ORDER_WINDOWS: Tuple[Tuple[int, float], ...] = ((5, 1.0),)
#: extra spacing for keyed calls (the same condition): the control stamps a little after the pacer
KEY_MARGIN_S = 1.0

_serial = itertools.count(1)


@dataclass(eq=False)
class PacedCall:
    """One rate-limited call waiting for its turn. `run` is invoked by the driver, not the pacer."""

    kind: str
    client: Hashable
    run: Callable[[], Any]
    #: calls sharing a key are spaced by `key_interval_s` (the same condition: once per minute)
    key: Optional[Hashable] = None
    key_interval_s: float = 0.0
    label: str = ""
    #: what the call belongs to (a TR job, an order), so it can be withdrawn with it
    owner: Any = None
    #: wall-clock (time.monotonic) deadline; past it the driver calls `on_expired` instead of `run`
    deadline: Optional[float] = None
    on_expired: Optional[Callable[[], Any]] = None
    enqueued_at: float = 0.0
    #: times the control refused it for overload and it was queued again
    overloads: int = 0
    #: the key's stamp before this call took its slot (restored if the call is requeued unsent)
    key_previous: Optional[float] = None
    serial: int = field(default_factory=lambda: next(_serial))

    def __post_init__(self) -> None:
        if self.kind not in BUDGET_OF_CLASS:
            raise ValueError(f"unknown pacing class {self.kind!r}")


@dataclass(frozen=True)
class ThrottleEvent:
    """A budget started or stopped holding calls back (published on `sys.throttle`)."""

    state: str  # "start" | "end"
    kind: str  # the budget: "tr" | "order"
    queue_depth: int
    wait_s: float


class Budget:
    """Sliding windows over the times calls were sent, plus a server-imposed pause."""

    def __init__(self, name: str, windows: Tuple[Tuple[int, float], ...], margin_s: float, backoff_s: float):
        self.name = name
        self.windows = tuple(sorted(windows))
        self.margin_s = margin_s
        self.backoff_s = backoff_s
        self.sent: Deque[float] = deque(maxlen=max(n for n, _ in windows))
        self.blocked_until = 0.0
        self.sent_total = 0
        self.overloads = 0

    def earliest(self, now: float) -> float:
        """The first time (>= now) one more call fits in every window."""
        t = max(now, self.blocked_until)
        count = len(self.sent)
        for limit, seconds in self.windows:
            if count >= limit:
                t = max(t, self.sent[count - limit] + seconds + self.margin_s)
        return t

    def record(self, when: float) -> None:
        self.sent.append(when)
        self.sent_total += 1

    def overload(self, now: float) -> None:
        self.overloads += 1
        self.blocked_until = max(self.blocked_until, now + self.backoff_s)


class Pacer:
    """Queues rate-limited calls and releases them as fast as the configured limits allow."""

    def __init__(self, settings: PacingSettings, clock: Clock, key_margin_s: float = KEY_MARGIN_S):
        self.settings = settings
        self.clock = clock
        self.key_margin_s = float(key_margin_s)
        # orders first: when both budgets have room, an order goes before a query
        self.budgets: Dict[str, Budget] = {
            ORDER_BUDGET: Budget(ORDER_BUDGET, settings.order_windows, settings.margin_s,
                                 settings.order_backoff_s),
            TR_BUDGET: Budget(TR_BUDGET, settings.tr_windows, settings.margin_s, settings.tr_backoff_s),
        }
        # class -> client -> calls (OrderedDict order is the round-robin order)
        self._queues: Dict[str, OrderedDict[Hashable, Deque[PacedCall]]] = {k: OrderedDict() for k in CLASSES}
        self._key_last: Dict[Hashable, float] = {}
        self._throttled: Dict[str, bool] = {name: False for name in self.budgets}
        self._per_client: Dict[Hashable, int] = {}

    # -- queueing ---------------------------------------------------------------------------
    def submit(self, call: PacedCall) -> None:
        """Queue a call; Overloaded when its client already has too many waiting."""
        if self._per_client.get(call.client, 0) >= self.settings.max_queue_per_client:
            raise Overloaded(
                f"too many queued calls for this client ({self.settings.max_queue_per_client})",
                details={"queue": call.kind},
            )
        call.enqueued_at = call.enqueued_at or self.clock.time()
        self._queues[call.kind].setdefault(call.client, deque()).append(call)
        self._per_client[call.client] = self._per_client.get(call.client, 0) + 1

    def requeue_front(self, call: PacedCall) -> None:
        """Put a call back at the head of its client's queue (the server refused it with overload).

        The call was not sent, so its key gets back the stamp it had before this attempt.
        """
        if call.key is not None:
            if call.key_previous is None:
                self._key_last.pop(call.key, None)
            else:
                self._key_last[call.key] = call.key_previous
        queue = self._queues[call.kind]
        calls = queue.get(call.client)
        if calls is None:
            calls = queue[call.client] = deque()
            queue.move_to_end(call.client, last=False)
        calls.appendleft(call)
        self._per_client[call.client] = self._per_client.get(call.client, 0) + 1

    def remove(self, predicate: Callable[[PacedCall], bool]) -> List[PacedCall]:
        """Drop every queued call matching `predicate` (client gone, request cancelled, link lost)."""
        removed: List[PacedCall] = []
        for queue in self._queues.values():
            for client in list(queue):
                calls = queue[client]
                keep = deque(c for c in calls if not predicate(c))
                if len(keep) != len(calls):
                    removed += [c for c in calls if predicate(c)]
                    if keep:
                        queue[client] = keep
                    else:
                        del queue[client]
        for call in removed:
            self._per_client[call.client] -= 1
            if self._per_client[call.client] <= 0:
                del self._per_client[call.client]
        return removed

    # -- releasing ---------------------------------------------------------------------------
    def take_next(self) -> Optional[PacedCall]:
        """The next call that may be sent now (its slot is spent), or None."""
        now = self.clock.time()
        for name, budget in self.budgets.items():
            if budget.earliest(now) > now:
                continue
            call = self._pop_next(name, now)
            if call is None:
                continue
            budget.record(now)
            if call.key is not None:
                call.key_previous = self._key_last.get(call.key)
                self._key_last[call.key] = now
            return call
        return None

    def note_key_sent(self, key: Hashable) -> None:
        """The keyed call ran now (the control's stamp): the next one is spaced from here."""
        self._key_last[key] = max(self._key_last.get(key, 0.0), self.clock.time())

    def key_last_sent(self, key: Hashable) -> Optional[float]:
        """When a call with this key last took its slot (or ran, if later); None if never."""
        return self._key_last.get(key)

    def take_ready(self) -> List[PacedCall]:
        """Every call that may be sent now, in the order to send them; their slots are spent."""
        ready: List[PacedCall] = []
        while True:
            call = self.take_next()
            if call is None:
                return ready
            ready.append(call)

    def next_wakeup_s(self) -> Optional[float]:
        """Virtual seconds until some queued call may start; None when nothing is queued."""
        now = self.clock.time()
        best: Optional[float] = None
        for name, budget in self.budgets.items():
            key_ready = self._earliest_key_ready(name, now)
            if key_ready is None:
                continue
            t = max(budget.earliest(now), key_ready)
            best = t if best is None else min(best, t)
        return None if best is None else max(0.0, best - now)

    def report_overload(self, kind: str) -> float:
        """The server refused a call for overload (-200/-308): pause that budget; returns the pause."""
        budget = self.budgets[BUDGET_OF_CLASS[kind]]
        budget.overload(self.clock.time())
        return budget.backoff_s

    def throttle_events(self) -> List[ThrottleEvent]:
        """Start/end transitions since the last call: a budget holds back calls that are queued."""
        now = self.clock.time()
        events = []
        for name, budget in self.budgets.items():
            depth = self._depth_of_budget(name)
            earliest = budget.earliest(now)
            throttled = depth > 0 and earliest > now
            if throttled != self._throttled[name]:
                self._throttled[name] = throttled
                events.append(ThrottleEvent("start" if throttled else "end", name, depth,
                                            round(max(0.0, earliest - now), 3)))
        return events

    # -- inspection --------------------------------------------------------------------------
    def depth(self) -> Dict[str, int]:
        return {kind: sum(len(c) for c in queue.values()) for kind, queue in self._queues.items()}

    def __len__(self) -> int:
        return sum(self.depth().values())

    def state(self) -> Dict[str, Any]:
        """Rate-limit state for `status`."""
        now = self.clock.time()
        return {
            name: {
                "queued": self._depth_of_budget(name),
                "sent": budget.sent_total,
                "overloads": budget.overloads,
                "throttled": self._throttled[name],
                "wait_s": round(max(0.0, budget.earliest(now) - now), 3),
                "windows": [list(w) for w in budget.windows],
            }
            for name, budget in self.budgets.items()
        }

    # -- internals ---------------------------------------------------------------------------
    def _depth_of_budget(self, budget: str) -> int:
        return sum(
            sum(len(c) for c in self._queues[kind].values())
            for kind in CLASSES if BUDGET_OF_CLASS[kind] == budget
        )

    def _key_ok(self, call: PacedCall, now: float) -> bool:
        if call.key is None:
            return True
        last = self._key_last.get(call.key)
        return last is None or now >= last + call.key_interval_s + self.key_margin_s

    def _earliest_key_ready(self, budget: str, now: float) -> Optional[float]:
        best: Optional[float] = None
        for kind in CLASSES:
            if BUDGET_OF_CLASS[kind] != budget:
                continue
            for calls in self._queues[kind].values():
                for call in calls:
                    if call.key is None:
                        return now
                    last = self._key_last.get(call.key)
                    t = now if last is None else max(now, last + call.key_interval_s + self.key_margin_s)
                    best = t if best is None else min(best, t)
        return best

    def _pop_next(self, budget: str, now: float) -> Optional[PacedCall]:
        for kind in CLASSES:
            if BUDGET_OF_CLASS[kind] != budget:
                continue
            queue = self._queues[kind]
            for client in list(queue):
                calls = queue[client]
                for index, call in enumerate(calls):
                    if self._key_ok(call, now):
                        del calls[index]
                        if calls:
                            queue.move_to_end(client)  # round robin: this client goes last
                        else:
                            del queue[client]
                        self._per_client[client] -= 1
                        if self._per_client[client] <= 0:
                            del self._per_client[client]
                        return call
        return None
