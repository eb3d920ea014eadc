"""Clocks: the system clock and a virtual clock the simulator and the broker's pacer share.

Everything that waits or paces asks a Clock rather than `time`, so tests can run a trading day in
seconds. A VirtualClock runs at `speed` times wall time from a chosen start and can be jumped
forward with `advance`; `wall_delay` converts a virtual interval into the wall interval a timer
must wait.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

KST = timezone(timedelta(hours=9), "KST")


class Clock:
    """Interface: `time()` epoch seconds, `now()` KST datetime, `wall_delay(s)` wall seconds."""

    def time(self) -> float:
        raise NotImplementedError

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), KST)

    def wall_delay(self, seconds: float) -> float:
        return max(0.0, seconds)

    @property
    def speed(self) -> float:
        return 1.0


class SystemClock(Clock):
    def time(self) -> float:
        return time.time()


class VirtualClock(Clock):
    """Time that starts at `start` and runs at `speed` x wall time; `speed=0` freezes it.

    Thread-safe: the simulator (Qt thread) and the broker's pacer read it concurrently.
    """

    def __init__(self, start: float | datetime | None = None, speed: float = 1.0):
        if isinstance(start, datetime):
            start = start.timestamp()
        self._lock = threading.Lock()
        self._base = time.time() if start is None else float(start)
        self._wall_base = time.monotonic()
        self._speed = float(speed)

    def time(self) -> float:
        with self._lock:
            return self._base + (time.monotonic() - self._wall_base) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        with self._lock:
            self._rebase()
            self._speed = float(speed)

    def advance(self, seconds: float) -> None:
        """Jump forward (never backward) by `seconds` of virtual time."""
        if seconds < 0:
            raise ValueError("a clock never goes back")
        with self._lock:
            self._rebase()
            self._base += seconds

    def set_time(self, when: float | datetime) -> None:
        if isinstance(when, datetime):
            when = when.timestamp()
        with self._lock:
            self._rebase()
            if when < self._base:
                raise ValueError("a clock never goes back")
            self._base = float(when)

    def wall_delay(self, seconds: float) -> float:
        if seconds <= 0:
            return 0.0
        if self._speed <= 0:
            return float("inf")
        return seconds / self._speed

    def _rebase(self) -> None:
        now_wall = time.monotonic()
        self._base += (now_wall - self._wall_base) * self._speed
        self._wall_base = now_wall
