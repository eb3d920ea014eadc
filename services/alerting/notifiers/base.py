"""The notifier interface every delivery channel implements, its one error, and shared text helpers.

A notifier turns an Alert into one message on one channel and sends it synchronously with a bounded
timeout. It does not retry, queue or thread: the Dispatcher (delivery.py) does that for all of them,
so a channel is a small class that only knows its message format.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Optional, Protocol, runtime_checkable

from koabus.common.clock import KST
from koabus.common.errors import KoabusError

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert


class DeliveryError(KoabusError):
    """A message that did not reach its channel.

    `retryable` says whether sending the same message again may succeed (a 5xx, a timeout, a refused
    connection) or cannot (a 4xx: bad token, bad payload). `retry_after_s` is the wait the channel
    asked for (HTTP 429 Retry-After), if any. The message never contains a secret.
    """

    kind = "DeliveryError"

    def __init__(self, message: str, *, retryable: bool, retry_after_s: Optional[float] = None,
                 status: Optional[int] = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.status = status


@runtime_checkable
class Notifier(Protocol):
    """One delivery channel. `send` blocks until delivered, raises DeliveryError otherwise; it is
    called from one worker thread at a time and must finish within its configured timeout."""

    name: str

    def send(self, alert: Alert) -> None: ...


def alert_time(alert: Alert) -> datetime:
    """When the triggering event happened, in KST (exchange time); now if the alert has no time."""
    if alert.time_ns:
        return datetime.fromtimestamp(alert.time_ns / 1e9, KST)
    return datetime.now(KST)


def alert_time_text(alert: Alert) -> str:
    return alert_time(alert).strftime("%Y-%m-%d %H:%M:%S KST")


def alert_time_iso_utc(alert: Alert) -> str:
    return alert_time(alert).astimezone(timezone.utc).isoformat()


def detail_line(alert: Alert) -> str:
    """`rule <id> · <code> · <time>`: the context every format shows under the text."""
    parts = [f"rule {alert.rule}", alert.kind]
    if alert.code:
        parts.append(alert.code)
    parts.append(alert_time_text(alert))
    return " · ".join(parts)


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marked with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"
