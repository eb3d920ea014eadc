"""Console notifier: one line per alert on stdout, stderr or the log (what supervisor captures)."""
from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Optional, TextIO

from koabus.services.alerting.notifiers.base import DeliveryError, alert_time_text

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

log = logging.getLogger(__name__)
_LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}


def console_line(alert: Alert) -> str:
    """`2026-12-03 10:05:47 KST WARNING [rule] 005930 title: text` on one line."""
    code = f" {alert.code}" if alert.code else ""
    text = " ".join(alert.text.split())
    return f"{alert_time_text(alert)} {alert.severity.upper()} [{alert.rule}]{code} {alert.title}: {text}"


class ConsoleNotifier:
    """Writes `console_line(alert)` to `to` = stdout | stderr | log (logger at the alert's severity)."""

    TARGETS = ("stdout", "stderr", "log")

    def __init__(self, name: str = "console", to: str = "stdout", stream: Optional[TextIO] = None):
        if to not in self.TARGETS:
            raise ValueError(f"to must be one of {self.TARGETS}")
        self.name = name
        self.to = to
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> ConsoleNotifier:
        return cls(name, to=options.text("to", "stdout", choices=cls.TARGETS))

    def send(self, alert: Alert) -> None:
        line = console_line(alert)
        if self.to == "log":
            log.log(_LEVELS.get(alert.severity, logging.WARNING), "%s", line)
            return
        stream = self._stream or (sys.stdout if self.to == "stdout" else sys.stderr)
        try:
            with self._lock:
                stream.write(line + "\n")
                stream.flush()
        except (OSError, ValueError) as exc:  # closed or broken stream
            raise DeliveryError(f"{self.name}: cannot write to {self.to}: {exc}", retryable=False) from None

    def __repr__(self) -> str:
        return f"ConsoleNotifier(name={self.name!r}, to={self.to!r})"
