"""Relay settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

The same rules as the broker's (services/broker/config.py, whose loader this reuses): unknown keys are
refused, every value is checked by its type, secrets never appear in `repr`. A downstream endpoint
reachable from other hosts needs the relay's CURVE server keys; an upstream endpoint off this host
needs CURVE client keys and the upstream's public key, because the broker refuses such binds without
CURVE too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

from koabus.services.broker.config import (
    LoggingSettings,
    SettingsError,
    _build,
    check_endpoint,
    is_local_endpoint,
    load_mapping,
)
from koabus.services.skeleton.settings import check_name

DEFAULT_UPSTREAM_ROUTER = "tcp://127.0.0.1:5570"
DEFAULT_UPSTREAM_PUB = "tcp://127.0.0.1:5571"
DEFAULT_ROUTER = "tcp://127.0.0.1:5580"
DEFAULT_PUB = "tcp://127.0.0.1:5581"
DEFAULT_STATUS = "tcp://127.0.0.1:5582"

_Z85 = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


def _check_key(where: str, key: str) -> None:
    """A 40-character Z85 key or empty; the message never shows the key (it may be a secret)."""
    if key and (len(key) != 40 or not set(key) <= _Z85):
        raise SettingsError(f"{where} must be a 40-character Z85 key (zmq.curve_keypair())")


def _tcp_port(endpoint: str) -> Optional[int]:
    transport, _, rest = endpoint.partition("://")
    port = rest.rpartition(":")[2]
    return int(port) if transport == "tcp" and port.isdigit() else None


@dataclass(frozen=True)
class UpstreamSettings:
    """Where the relay takes the bus from (a broker, or another relay) and its CURVE client keys."""

    router: str = DEFAULT_UPSTREAM_ROUTER
    pub: str = DEFAULT_UPSTREAM_PUB
    #: the upstream's CURVE public key; with public_key and secret_key it turns CURVE on
    server_key: str = ""
    public_key: str = ""
    secret_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("server_key", "public_key", "secret_key"):
            _check_key(f"upstream.{name}", getattr(self, name))
        if len({bool(self.server_key), bool(self.public_key), bool(self.secret_key)}) != 1:
            raise SettingsError("upstream.server_key, upstream.public_key and upstream.secret_key "
                                "must be set together")
        for name in ("router", "pub"):
            check_endpoint(f"upstream.{name}", getattr(self, name))
            if not self.curve and not is_local_endpoint(getattr(self, name)):
                raise SettingsError(f"upstream.{name} {getattr(self, name)} is not on this host: "
                                    "set upstream.server_key, public_key and secret_key (CURVE)")

    @property
    def curve(self) -> bool:
        return bool(self.server_key)


@dataclass(frozen=True)
class DownstreamSettings:
    """Where the relay serves its consumers, and its CURVE server keys."""

    router: str = DEFAULT_ROUTER
    pub: str = DEFAULT_PUB
    #: the relay's own PUB: `sys.hb` and `sys.status` of the relay itself (never the broker's stream)
    status: str = DEFAULT_STATUS
    public_key: str = ""
    secret_key: str = field(default="", repr=False)
    #: client public keys (Z85) allowed to connect when CURVE is on; empty: any client key pair (warned)
    client_keys: Tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("public_key", "secret_key"):
            _check_key(f"downstream.{name}", getattr(self, name))
        for n, key in enumerate(self.client_keys):
            _check_key(f"downstream.client_keys[{n}]", key)
            if not key:
                raise SettingsError(f"downstream.client_keys[{n}] must be a 40-character Z85 key")
        if bool(self.public_key) != bool(self.secret_key):
            raise SettingsError("downstream.public_key and downstream.secret_key must be set together")
        if self.client_keys and not self.curve:
            raise SettingsError("downstream.client_keys needs downstream.public_key and secret_key (CURVE)")
        for name in ("router", "pub", "status"):
            endpoint = getattr(self, name)
            check_endpoint(f"downstream.{name}", endpoint)
            if not self.curve and not is_local_endpoint(endpoint):
                raise SettingsError(f"downstream.{name} {endpoint} is reachable from other hosts: "
                                    "set downstream.public_key and downstream.secret_key (CURVE)")
        ports = [p for p in (_tcp_port(self.router), _tcp_port(self.pub), _tcp_port(self.status)) if p]
        if len(ports) != len(set(ports)):
            raise SettingsError("downstream.router, downstream.pub and downstream.status need different ports")

    @property
    def curve(self) -> bool:
        return bool(self.public_key)


@dataclass(frozen=True)
class RelaySettings:
    """Everything one relay needs, built once at the edge and passed down."""

    name: str = "koabus-relay"
    upstream: UpstreamSettings = UpstreamSettings()
    downstream: DownstreamSettings = DownstreamSettings()
    #: period of the relay's own `sys.hb` (and every fifth beat a `sys.status`)
    heartbeat_ms: int = 1000
    #: downstream clients at once (one upstream DEALER each); a new one beyond gets Overloaded
    max_clients: int = 1000
    #: a downstream client silent this long (no request, no reply) is forgotten and its DEALER closed
    client_idle_s: float = 120.0
    #: publications queued per downstream subscriber (and upstream, on the XSUB) before drops
    pub_hwm: int = 20_000
    #: replies queued per downstream client (ROUTER SNDHWM); beyond, the reply is dropped and counted
    router_hwm: int = 1_000
    logging: LoggingSettings = LoggingSettings()

    def __post_init__(self) -> None:
        check_name(self.name)
        for name in ("max_clients", "pub_hwm", "router_hwm"):
            if getattr(self, name) < 1:  # ZeroMQ reads a zero high-water mark as "no limit"
                raise SettingsError(f"{name} must be an integer >= 1, not {getattr(self, name)!r}")
        if self.client_idle_s <= 0:
            raise SettingsError(f"client_idle_s must be a number > 0, not {self.client_idle_s!r}")


def settings_from_dict(data: Mapping[str, Any]) -> RelaySettings:
    """Build RelaySettings from a plain mapping; unknown keys raise SettingsError."""
    return _build(RelaySettings, data, "")


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> RelaySettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
