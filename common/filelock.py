"""An exclusive, non-blocking lock on a file, held while its descriptor stays open (standard library only).

One process owns a piece of durable state (a broker's `state_dir`, the simulated server's store):
a second one that tries to take the same lock fails at once and is told which pid holds it, instead
of writing into the same files. The kernel releases the lock when the process dies, even by `kill -9`.
"""
from __future__ import annotations

import os
import sys
import weakref


class FileLocked(OSError):
    """The lock is held by another process (`pid`, 0 when it cannot be read)."""

    def __init__(self, path: str, pid: int):
        super().__init__(f"{path} is locked{f' by pid {pid}' if pid else ''}")
        self.path = path
        self.pid = pid


class FileLock:
    """Held from `acquire` until `release()` (or the owner is garbage-collected, or the process exits)."""

    def __init__(self, fd: int, path: str):
        self.path = path
        self._close = weakref.finalize(self, os.close, fd)

    @classmethod
    def acquire(cls, path: str, write_pid: bool = True) -> FileLock:
        """Take the lock on `path` (created if missing) or raise FileLocked; writes our pid into it."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock_fd(fd)
        except OSError:
            pid = _read_pid(fd)
            os.close(fd)
            raise FileLocked(path, pid) from None
        if write_pid:
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"{os.getpid()}\n".encode())
        return cls(fd, path)

    def release(self) -> None:
        self._close()  # runs once


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock_fd(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _read_pid(fd: int) -> int:
        return 0  # the locked byte cannot be read by others on Windows
else:
    import fcntl

    def _lock_fd(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _read_pid(fd: int) -> int:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            text = os.read(fd, 32).decode("ascii", errors="replace").strip()
            return int(text) if text.isdigit() else 0
        except OSError:
            return 0
