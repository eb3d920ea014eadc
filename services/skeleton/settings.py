"""The settings every bus service has, and their checks, in one place so every service refuses alike.

A service connects to the broker (or a relay) at `router`/`pub`, with CURVE client keys when either
endpoint is off this host; it publishes its own heartbeats on `status`, which must stay on this host.
`BusServiceSettings` holds those fields; a service's settings derive from it and add their own. A
service whose own endpoints are named otherwise (bars: `publish`, `snapshot`) calls the check functions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from koabus.services.broker.config import LoggingSettings, SettingsError, check_endpoint, is_local_endpoint

DEFAULT_ROUTER = "tcp://127.0.0.1:5570"
DEFAULT_PUB = "tcp://127.0.0.1:5571"
MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class CurveClientSettings:
    """CURVE to a broker off this host: the key pair `key` in `keys_dir` (written by `koabus keys`)."""

    keys_dir: str = ""
    key: str = ""
    #: the broker's public key; empty: `keys_dir/server.key`
    server_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if bool(self.keys_dir) != bool(self.key):
            raise SettingsError("curve.keys_dir and curve.key must be set together")

    @property
    def enabled(self) -> bool:
        return bool(self.keys_dir)


def check_name(name: str) -> None:
    """The service's name in its heartbeat and client name: 1 to 64 characters."""
    if not 1 <= len(name) <= MAX_NAME_CHARS:
        raise SettingsError(f"name must be text of 1 to {MAX_NAME_CHARS} characters")


def check_broker_endpoints(settings: Any) -> None:
    """`router` and `pub` are ZeroMQ endpoints; off this host only with CURVE (the broker refuses
    such binds without it, so a plain-text client could never reach one)."""
    for name in ("router", "pub"):
        check_endpoint(name, getattr(settings, name))
    for name in ("router", "pub"):
        if not settings.curve.enabled and not is_local_endpoint(getattr(settings, name)):
            raise SettingsError(f"{name} {getattr(settings, name)} is not on this host: set curve.keys_dir "
                                "and curve.key (CURVE)")


def check_local_endpoints(settings: Any, names: Sequence[str]) -> None:
    """The service's own sockets (`names`): endpoints on this host, as they carry no CURVE."""
    for name in names:
        check_endpoint(name, getattr(settings, name))
    for name in names:
        if not is_local_endpoint(getattr(settings, name)):
            raise SettingsError(f"{name} {getattr(settings, name)} must be on this host (127.0.0.1, ipc or inproc)")


@dataclass(frozen=True)
class BusServiceSettings:
    """The fields every broker-client service shares; derive, give `name` and `status` their defaults,
    and call `super().__post_init__()` before the service's own checks."""

    name: str = "koabus-service"
    #: the broker (or a relay)
    router: str = DEFAULT_ROUTER
    pub: str = DEFAULT_PUB
    curve: CurveClientSettings = CurveClientSettings()
    #: the service's own PUB: `sys.hb.<service>` heartbeats and its publications
    status: str = ""
    heartbeat_ms: int = 1000
    logging: LoggingSettings = LoggingSettings()

    def __post_init__(self) -> None:
        self.check_name()
        check_broker_endpoints(self)
        check_local_endpoints(self, ("status",))

    def check_name(self) -> None:
        """1 to 64 characters; a service whose name is also a topic part narrows this."""
        check_name(self.name)
