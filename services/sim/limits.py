"""Sliding-window rate limits measured on the shared (virtual) clock, as Kiwoom counts them."""
from __future__ import annotations

from collections import deque
from typing import Deque, Dict, Iterable, Optional, Tuple


class WindowLimiter:
    """Allows a call when every (count, window_s) pair has room; `try_acquire` records it.

    Returns the index of the first window that is full (so callers can tell the documented
    5-per-second rule from an undisclosed stricter one), or None when the call is allowed.
    """

    def __init__(self, windows: Iterable[Tuple[int, float]]):
        self._windows = tuple((int(n), float(w)) for n, w in windows)
        longest = max((w for _, w in self._windows), default=0.0)
        self._longest_s = longest
        self._stamps: Deque[float] = deque()

    def blocked_by(self, now: float) -> Optional[int]:
        self._forget(now)
        for index, (count, window_s) in enumerate(self._windows):
            if count <= 0:
                return index
            recent = 0
            for stamp in reversed(self._stamps):
                if stamp <= now - window_s:
                    break
                recent += 1
                if recent >= count:
                    return index
        return None

    def try_acquire(self, now: float) -> Optional[int]:
        blocked = self.blocked_by(now)
        if blocked is None:
            self._stamps.append(now)
        return blocked

    def reset(self) -> None:
        self._stamps.clear()

    def _forget(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self._longest_s:
            self._stamps.popleft()


class OncePer:
    """At most one use per key per `interval_s` (the same condition searched once a minute)."""

    def __init__(self, interval_s: float):
        self._interval_s = float(interval_s)
        self._last: Dict[object, float] = {}

    def try_acquire(self, key: object, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and now - last < self._interval_s:
            return False
        self._last[key] = now
        return True
