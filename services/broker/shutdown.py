"""SIGINT/SIGTERM for the broker process: the ordered shutdown, and a watchdog that ends the process if it stalls.

The ordered path runs on the Qt thread (stop intake, fail and flush, close sockets, quit), so it needs
the Qt loop to get a turn; long work is chunked so that it normally does. The watchdog does not
depend on it: the first signal starts a countdown on a daemon thread that ends the process with
`os._exit(1)` (logged) if it is still running `grace_s` later; a second signal ends it at once. The
watchdog hears signals through `signal.set_wakeup_fd` (Python's C-level handler writes the signal
number to a socket its thread reads), so it does not wait for the main thread to run Python code.
Only a call that never returns while holding the interpreter lock can keep it from running; then
the supervisor's own timeout (`stopwaitsecs`) is the last resort.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from typing import Callable, Optional, Sequence

log = logging.getLogger(__name__)

#: seconds from the first signal to a forced exit; below supervisor's stopwaitsecs (15) and the 10 s
#: an operator is promised
SHUTDOWN_GRACE_S = 8.0
DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ShutdownWatchdog:
    """Installed once by the process entry point (main thread): `install(request_stop)`.

    `request_stop()` runs on the main thread for each signal (Python's signal handler) and should
    start the ordered shutdown. `finished()` says it completed; the countdown still ends a process
    that hangs after that (exit code 0 then, 1 when the ordered shutdown never finished).
    `exit` is `os._exit` except in tests.
    """

    def __init__(self, grace_s: float = SHUTDOWN_GRACE_S, exit: Callable[[int], None] = os._exit):
        self.grace_s = grace_s
        self._exit = exit
        self._request_stop: Callable[[], None] = lambda: None
        self._signals: Sequence[int] = ()
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self._timer: Optional[threading.Timer] = None
        self._reader: Optional[socket.socket] = None
        self._writer: Optional[socket.socket] = None
        self.forced: Optional[str] = None

    def install(self, request_stop: Callable[[], None], signals: Sequence[int] = DEFAULT_SIGNALS) -> None:
        self._request_stop = request_stop
        self._signals = tuple(int(s) for s in signals)
        for signum in self._signals:
            signal.signal(signum, self._on_signal)
        try:
            self._reader, self._writer = socket.socketpair()
            self._writer.setblocking(False)  # set_wakeup_fd requires it
            signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        except (OSError, ValueError) as exc:  # no wakeup fd: the Python handler counts signals instead
            log.warning("shutdown watchdog without a wakeup socket (%s); it needs the main thread", exc)
            self._close_sockets()
            return
        threading.Thread(target=self._listen, name="koabus-shutdown-watchdog", daemon=True).start()

    def finished(self) -> None:
        """The ordered shutdown completed."""
        self._done.set()

    # -- signals -----------------------------------------------------------------------------------
    def _on_signal(self, signum: int, frame) -> None:
        """Main thread, between bytecodes: ask for the ordered shutdown."""
        log.info("signal %s: stopping", signum)
        if self._reader is None:
            self.signalled(signum)
        try:
            self._request_stop()
        except Exception:
            log.exception("requesting the ordered shutdown failed")

    def _listen(self) -> None:
        assert self._reader is not None
        while True:
            try:
                data = self._reader.recv(64)
            except OSError:
                return
            if not data:
                return
            for signum in data:
                if signum in self._signals:
                    self.signalled(signum)

    def signalled(self, signum: int) -> None:
        """Count a signal: the first starts the countdown, the second exits at once."""
        with self._lock:
            self._count += 1
            count = self._count
            if count == 1:
                self._timer = threading.Timer(self.grace_s, self._expired)
                self._timer.daemon = True
                self._timer.start()
        if count >= 2:
            self._force(f"signal {signum} again while stopping", 1)

    def _expired(self) -> None:
        if self._done.is_set():
            self._force(f"the process is still running {self.grace_s:g} s after the ordered shutdown", 0)
        else:
            self._force(f"the ordered shutdown did not finish within {self.grace_s:g} s", 1)

    def _force(self, why: str, code: int) -> None:
        self.forced = why
        log.critical("%s: exiting now (os._exit(%d))", why, code)
        for handler in logging.getLogger().handlers:
            try:
                handler.flush()
            except Exception:  # pragma: no cover - best effort on the way out
                pass
        try:
            sys.stderr.flush()
        except Exception:  # pragma: no cover
            pass
        self._exit(code)

    def _close_sockets(self) -> None:
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = None
