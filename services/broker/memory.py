"""The broker's own memory: its resident set size, read a few times a second, and when to shed load.

Per-connection queues bound what one client can pin; this is the backstop for everything else: the
I/O thread reads its process's RSS (Linux `/proc/self/statm`, Windows `GetProcessMemoryInfo`; stdlib
only) and, above `shed_fraction` of `max_rss_mb`, sheds work it can refuse until memory is back below
a lower mark. Freed memory is not always returned to the system, so leaving the shedding state needs
RSS to drop; the guard asks the allocator to give free pages back while it sheds.
"""
from __future__ import annotations

import ctypes
import gc
import logging
import os
import sys
from typing import Callable, Optional

log = logging.getLogger(__name__)

MB = 1024 * 1024
#: shedding stops once RSS is below this share of the shedding mark
RESUME_FRACTION = 0.9
#: while shedding, at most one collection and allocator trim per this many seconds
TRIM_EVERY_S = 2.0


def _statm_reader() -> Optional[Callable[[], Optional[int]]]:
    page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def read() -> Optional[int]:
        try:
            with open("/proc/self/statm", "rb") as fh:
                return int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            return None

    return read if read() is not None else None


def _windows_reader() -> Optional[Callable[[], Optional[int]]]:
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t), ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined]
    get_info = kernel32.K32GetProcessMemoryInfo
    get_info.argtypes = [wintypes.HANDLE, ctypes.POINTER(Counters), wintypes.DWORD]
    get_info.restype = wintypes.BOOL
    kernel32.GetCurrentProcess.restype = wintypes.HANDLE
    process = kernel32.GetCurrentProcess()

    def read() -> Optional[int]:
        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        if not get_info(process, ctypes.byref(counters), counters.cb):
            return None
        return int(counters.WorkingSetSize)

    return read if read() is not None else None


def rss_reader() -> Optional[Callable[[], Optional[int]]]:
    """A function returning this process's resident bytes, or None where it cannot be read."""
    try:
        if sys.platform == "win32":
            return _windows_reader()
        return _statm_reader()
    except Exception:  # no /proc, no psapi: the bound is not watched (logged by the caller)
        return None


def _trimmer() -> Callable[[], None]:
    """glibc's malloc_trim(0) (returns free heap pages to the system); a no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return lambda: None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


class MemoryGuard:
    """Decides when the broker sheds, from RSS readings (I/O thread; `reader` injectable for tests).

    `check(now)` reads RSS (at most every `interval_s`) and returns "start" or "stop" when the
    shedding state changes, else None. Shedding starts above `shed_mb` and stops below
    `RESUME_FRACTION * shed_mb`. `max_mb` 0 switches the guard off.
    """

    def __init__(self, max_mb: int, shed_fraction: float, interval_s: float = 0.25,
                 reader: Optional[Callable[[], Optional[int]]] = None, trim: Optional[Callable[[], None]] = None):
        self.max_mb = max_mb
        self.shed_mb = max_mb * shed_fraction
        self.resume_mb = self.shed_mb * RESUME_FRACTION
        self.interval_s = interval_s
        self.reader = reader if reader is not None else (rss_reader() if max_mb > 0 else None)
        self.trim = trim if trim is not None else _trimmer()
        self.rss_mb = 0.0
        self.peak_mb = 0.0
        self.shedding = False
        self.episodes = 0
        self._next = 0.0
        self._next_trim = 0.0
        if max_mb > 0 and self.reader is None:
            log.warning("cannot read this process's memory here: limits.max_rss_mb is not enforced")

    @property
    def enabled(self) -> bool:
        return self.max_mb > 0 and self.reader is not None

    def check(self, now: float) -> Optional[str]:
        if not self.enabled or now < self._next:
            return None
        self._next = now + self.interval_s
        rss = self.reader() if self.reader is not None else None
        if rss is None:
            return None
        self.rss_mb = rss / MB
        self.peak_mb = max(self.peak_mb, self.rss_mb)
        if self.shedding and now >= self._next_trim:
            self._next_trim = now + TRIM_EVERY_S
            gc.collect()
            self.trim()
        if not self.shedding and self.rss_mb > self.shed_mb:
            self.shedding = True
            self.episodes += 1
            self._next_trim = now  # give memory back at once, then every TRIM_EVERY_S
            return "start"
        if self.shedding and self.rss_mb < self.resume_mb:
            self.shedding = False
            return "stop"
        return None

    def status(self) -> dict:
        return {"rss_mb": round(self.rss_mb, 1), "peak_mb": round(self.peak_mb, 1), "max_rss_mb": self.max_mb,
                "shed_mb": round(self.shed_mb, 1), "shedding": self.shedding, "shed_episodes": self.episodes,
                "watched": self.enabled}
