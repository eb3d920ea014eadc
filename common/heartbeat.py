"""The service heartbeat every koabus service publishes, so `koabus ps` can list it (docs/protocol.md §4.2).

Broker-safe (standard library only) and free of I/O: a service keeps one `ServiceBeat`, calls
`body()` every `interval_ms` and publishes the map on its PUB socket under `topic(service)` as a
`HB` publication. The broker keeps its historical topic `sys.hb`; every other service uses
`sys.hb.<service>`, so one SUB prefix `sys.hb` hears them all.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

HB_TOPIC = "sys.hb"
STATUS_TOPIC = "sys.status"
BROKER_SERVICE = "broker"
#: a service whose last heartbeat is older than this many intervals is shown stale
STALE_AFTER_INTERVALS = 2
MAX_ERROR_CHARS = 200
#: where each service other than the broker publishes its own heartbeat and status by default (its
#: `status` setting); `koabus ps` listens to all of them, so a service only has to beat to be seen
SERVICE_STATUS_ENDPOINTS: Dict[str, str] = {
    "relay": "tcp://127.0.0.1:5582",
    "recorder": "tcp://127.0.0.1:5590",
    "alerting": "tcp://127.0.0.1:5591",
    "bars": "tcp://127.0.0.1:5592",
    "strategy": "tcp://127.0.0.1:5593",
    "web": "tcp://127.0.0.1:5594",
}


def topic(service: str) -> str:
    """The heartbeat topic of `service`: `sys.hb` for the broker, `sys.hb.<service>` for the others."""
    return HB_TOPIC if service == BROKER_SERVICE else f"{HB_TOPIC}.{service}"


def service_of(topic_name: str) -> Optional[str]:
    """The service a heartbeat topic belongs to, or None for a topic that is not one."""
    if topic_name == HB_TOPIC:
        return BROKER_SERVICE
    prefix = HB_TOPIC + "."
    if topic_name.startswith(prefix) and len(topic_name) > len(prefix):
        return topic_name[len(prefix):]
    return None


@dataclass(frozen=True)
class Identity:
    """Who beats: the service name, its process and host, and when it started (epoch seconds)."""

    service: str
    pid: int
    host: str
    started_s: float

    @classmethod
    def here(cls, service: str) -> Identity:
        return cls(service, os.getpid(), socket.gethostname(), time.time())


class ServiceBeat:
    """The heartbeat body of one service: identity, state, uptime, lag and the last error.

    Fields (all present, `None` where unknown): `service`, `pid`, `host`, `state`, `uptime_s`,
    `interval_ms`, `lag_s` (how far the service is behind its input, if it has one), `last_error`,
    `time_ns`. A service may add its own keys (the broker adds `epoch` and `seq`).
    """

    def __init__(self, identity: Identity, interval_ms: int = 1000):
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        self.identity = identity
        self.interval_ms = interval_ms
        self.last_error: Optional[str] = None

    def error(self, message: str) -> None:
        """Remember the latest error (one line, shortened) for the next heartbeats."""
        line = " ".join(str(message).split())
        self.last_error = line[:MAX_ERROR_CHARS]

    def body(self, state: str, lag_s: Optional[float] = None, now_s: Optional[float] = None,
             **extra: Any) -> Dict[str, Any]:
        now = time.time() if now_s is None else now_s
        ident = self.identity
        body: Dict[str, Any] = {
            "service": ident.service, "pid": ident.pid, "host": ident.host, "state": state,
            "uptime_s": round(max(0.0, now - ident.started_s), 3), "interval_ms": self.interval_ms,
            "lag_s": None if lag_s is None else round(lag_s, 3), "last_error": self.last_error,
            "time_ns": int(now * 1e9),
        }
        body.update(extra)
        return body
