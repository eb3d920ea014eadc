"""Realtime registration work (Qt thread): the control's SetRealReg/SetRealRemove calls, in order, in bounded chunks.

Registering or releasing thousands of codes is thousands of control calls. Made in one go they hold
the control's thread for as long as they take, and nothing else gets a turn: TRs, orders, events,
the ordered shutdown. The registry decides at once (its state, the screen budget and `wanted()` are
always current); the calls are queued here in request order and run at most `codes_per_turn` codes
(one SetRealReg of a full screen, or 100 SetRealRemove) per Qt event-loop turn, continued by a
zero-delay timer. A callback queued behind a request's calls answers it once they have run, so a
reply means "done", and order is kept: a subscribe right after an unsubscribe of the same code runs
after it, never undone by a later chunk.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable, Deque, Iterable, Optional, Union

from PyQt5.QtCore import QObject, QTimer

from .session import RealReg, RealRemove

log = logging.getLogger(__name__)

#: codes handled per event-loop turn (a SetRealReg counts its codes, a SetRealRemove one)
CODES_PER_TURN = 100
#: a turn also ends after this many seconds of control calls (a slow control still yields)
TURN_BUDGET_S = 0.02


class _Then:
    __slots__ = ("callback",)

    def __init__(self, callback: Callable[[], None]):
        self.callback = callback


Item = Union[RealReg, RealRemove, _Then]


class RealtimeWork(QObject):
    """FIFO of control actions and completion callbacks, run a bounded chunk per event-loop turn.

    `run_action(action)` performs one RealReg/RealRemove (the core's adapter call; it decides what
    to do when the control is not connected).
    """

    def __init__(self, run_action: Callable[[Union[RealReg, RealRemove]], None],
                 codes_per_turn: int = CODES_PER_TURN, turn_budget_s: float = TURN_BUDGET_S,
                 parent: Optional[QObject] = None):
        super().__init__(parent)
        self._run_action = run_action
        self.codes_per_turn = max(1, int(codes_per_turn))
        self.turn_budget_s = turn_budget_s
        self._queue: Deque[Item] = deque()
        self._pending_codes = 0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._turn)
        #: event-loop turns taken and control actions run (status, tests)
        self.turns = 0
        self.actions_run = 0

    def submit(self, actions: Iterable[Union[RealReg, RealRemove]],
               then: Optional[Callable[[], None]] = None) -> None:
        """Queue `actions` behind everything already queued; `then()` runs once they all have."""
        for action in actions:
            self._queue.append(action)
            self._pending_codes += _weight(action)
        if then is not None:
            if self._queue:
                self._queue.append(_Then(then))
            else:
                _call(then)
        if self._queue and not self._timer.isActive():
            self._timer.start(0)

    def pending(self) -> int:
        """Codes whose control call has not run yet."""
        return self._pending_codes

    def clear(self) -> None:
        """Drop every queued call (the control forgot its registrations, or the broker stops);
        the completion callbacks still run, in order, so every waiting request is answered."""
        items, self._queue = self._queue, deque()
        self._pending_codes = 0
        self._timer.stop()
        for item in items:
            if isinstance(item, _Then):
                _call(item.callback)

    def _turn(self) -> None:
        done = 0
        started = time.perf_counter()
        while self._queue:  # re-read each time: a callback may have cleared it
            item = self._queue[0]
            if isinstance(item, _Then):  # answers cost nothing: send them as soon as their work is done
                self._queue.popleft()
                _call(item.callback)
                continue
            if done >= self.codes_per_turn or time.perf_counter() - started >= self.turn_budget_s:
                break
            self._queue.popleft()
            weight = _weight(item)
            self._pending_codes -= weight
            done += weight
            self.actions_run += 1
            try:
                self._run_action(item)
            except Exception:
                log.exception("realtime %s failed", type(item).__name__)
        self.turns += 1
        if self._queue:
            self._timer.start(0)


def _weight(action: Union[RealReg, RealRemove]) -> int:
    return max(1, len(action.codes)) if isinstance(action, RealReg) else 1


def _call(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        log.exception("realtime completion callback failed")
