"""Broker settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

Unknown keys are rejected so a typo never silently falls back to a default. The defaults bind to
127.0.0.1; an endpoint reachable from other hosts is refused unless CURVE keys are configured.
"""
from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from .pacing import KIWOOM_ORDER_WINDOWS, KIWOOM_TR_WINDOWS

DEFAULT_ROUTER = "tcp://127.0.0.1:5570"
DEFAULT_PUB = "tcp://127.0.0.1:5571"

#: TR query windows (count, seconds): Kiwoom's published 5/s plus the stricter undisclosed limit
#: (the pacer's KIWOOM_TR_WINDOWS: 5 per 18 s, 25/90 s, 50/180 s, 1000 an hour).
DEFAULT_TR_WINDOWS: Tuple[Tuple[int, float], ...] = KIWOOM_TR_WINDOWS
DEFAULT_ORDER_WINDOWS: Tuple[Tuple[int, float], ...] = KIWOOM_ORDER_WINDOWS


class SettingsError(ValueError):
    """A configuration that cannot be used: unknown key, wrong type, unsafe bind."""


@dataclass(frozen=True)
class PacingSettings:
    """Limits the pacer enforces. Windows are (max calls, seconds) sliding windows."""

    tr_windows: Tuple[Tuple[int, float], ...] = DEFAULT_TR_WINDOWS
    order_windows: Tuple[Tuple[int, float], ...] = DEFAULT_ORDER_WINDOWS
    #: the same condition (name, index) is searched at most once per this many seconds
    condition_repeat_s: float = 60.0
    #: extra spacing added to every window so clock jitter never crosses a limit
    margin_s: float = 0.005
    #: pause after the server reports -200 (quote overload) anyway
    tr_backoff_s: float = 17.0
    #: pause after -308/-311 (order overload)
    order_backoff_s: float = 1.0
    #: most queued calls per client before new ones are refused with Overloaded
    max_queue_per_client: int = 5000


@dataclass(frozen=True)
class RiskSettings:
    """Optional limits checked before an order reaches Kiwoom; None means no limit."""

    max_qty: Optional[int] = None
    max_notional: Optional[int] = None
    allowed_codes: Optional[Tuple[str, ...]] = None
    trading_disabled: bool = False


@dataclass(frozen=True)
class SupervisionSettings:
    """Connection watchdog: idle probe, silence detection and re-login backoff."""

    #: GetConnectState() probe interval when nothing else shows the link is alive
    probe_interval_s: float = 10.0
    #: no event at all for this long while realtime is registered counts as a loss (0 = off)
    silence_s: float = 0.0
    #: waits between re-login attempts; the last value repeats
    relogin_backoff_s: Tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    #: a login attempt without OnEventConnect within this many seconds counts as failed
    login_timeout_s: float = 60.0
    #: log in when the broker starts
    login_at_start: bool = True


@dataclass(frozen=True)
class AccountSettings:
    """The account orders use when a request names none; checked against the login's accounts."""

    #: account number (e.g. "8000000011"); None: every order must name its account
    default: Optional[str] = None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class LoggingSettings:
    """How `koabus broker` sets up logging (the entry point applies it; library code never does)."""

    level: str = "INFO"
    #: also write to this file, rotated by size; None: standard error only
    file: Optional[str] = None
    max_bytes: int = 10 * 1024 * 1024
    #: rotated files kept next to `file` (file.1 ... file.N)
    backup_count: int = 5
    format: str = DEFAULT_LOG_FORMAT
    #: keep logging to standard error too (supervisor captures it) when `file` is set
    stderr: bool = True

    def __post_init__(self) -> None:
        if self.level.upper() not in LOG_LEVELS:
            raise SettingsError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, not {self.level!r}")
        if self.max_bytes <= 0 or self.backup_count < 0:
            raise SettingsError("logging.max_bytes must be positive and logging.backup_count not negative")


@dataclass(frozen=True)
class CurveSettings:
    """CURVE keys (Z85 text) for a bind reachable from other hosts. Secrets never appear in repr."""

    public_key: str = ""
    secret_key: str = field(default="", repr=False)

    @property
    def enabled(self) -> bool:
        return bool(self.public_key and self.secret_key)


@dataclass(frozen=True)
class SimSettings:
    """Options for `--backend sim`: the virtual clock's speed and the simulator's own config."""

    speed: float = 1.0
    #: epoch seconds or ISO text for the virtual clock's start; None lets the simulator choose
    start: Optional[str] = None
    config: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class BrokerSettings:
    """Everything the broker needs, built once at the edge and passed down."""

    router: str = DEFAULT_ROUTER
    pub: str = DEFAULT_PUB
    backend: str = "sim"
    name: str = "koabus-broker"
    heartbeat_ms: int = 1000
    #: a DEALER client silent for this long loses its realtime subscriptions and streams
    client_lease_ms: int = 10_000
    max_frame_bytes: int = 1 << 20
    #: requests a single client may have in flight before it gets Overloaded
    max_inflight_per_client: int = 2000
    #: how long a sent TR may wait for OnReceiveTrData before it fails with Timeout
    tr_timeout_s: float = 30.0
    #: after the last fill, how long an order stream waits for the balance event before END
    order_balance_wait_s: float = 2.0
    #: JSON-lines journal of client order ids (dedup survives a broker restart); None = memory only
    order_journal: Optional[str] = None
    #: realtime publications waiting for the I/O thread beyond which new ones are dropped (counted)
    max_outbound: int = 200_000
    pacing: PacingSettings = PacingSettings()
    account: AccountSettings = AccountSettings()
    logging: LoggingSettings = LoggingSettings()
    risk: RiskSettings = RiskSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    curve: CurveSettings = CurveSettings()
    sim: SimSettings = SimSettings()

    def __post_init__(self) -> None:
        if self.backend not in ("sim", "openapi"):
            raise SettingsError(f"backend must be 'sim' or 'openapi', not {self.backend!r}")
        for name in ("router", "pub"):
            endpoint = getattr(self, name)
            if not is_local_endpoint(endpoint) and not self.curve.enabled:
                raise SettingsError(
                    f"{name} endpoint {endpoint!r} is reachable from other hosts; refusing to bind "
                    "it without CURVE keys (curve.public_key / curve.secret_key)"
                )
        if self.heartbeat_ms <= 0 or self.client_lease_ms <= 0 or self.max_frame_bytes <= 0:
            raise SettingsError("heartbeat_ms, client_lease_ms and max_frame_bytes must be positive")


def is_local_endpoint(endpoint: str) -> bool:
    """True for inproc/ipc endpoints and tcp endpoints bound to a loopback address."""
    if not isinstance(endpoint, str) or "://" not in endpoint:
        raise SettingsError(f"not a ZeroMQ endpoint: {endpoint!r}")
    transport, _, rest = endpoint.partition("://")
    if transport in ("inproc", "ipc"):
        return True
    if transport != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # '*', an interface name or a host name
        return False


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> BrokerSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted or nested keys), validate."""
    data: Dict[str, Any] = {}
    if path:
        import yaml

        with open(path, encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: the top level must be a mapping")
        data = loaded
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        _set_dotted(data, key, value)
    return settings_from_dict(data)


def settings_from_dict(data: Mapping[str, Any]) -> BrokerSettings:
    """Build BrokerSettings from a plain mapping; unknown keys raise SettingsError."""
    return _build(BrokerSettings, data, "")


def _set_dotted(data: Dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise SettingsError(f"{key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


_SECTIONS = {
    "pacing": PacingSettings,
    "account": AccountSettings,
    "logging": LoggingSettings,
    "risk": RiskSettings,
    "supervision": SupervisionSettings,
    "curve": CurveSettings,
    "sim": SimSettings,
}


def _build(cls, data: Mapping[str, Any], prefix: str):
    if not isinstance(data, Mapping):
        raise SettingsError(f"{prefix.rstrip('.') or 'settings'} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise SettingsError(
            f"unknown setting(s) {', '.join(prefix + str(k) for k in unknown)}; "
            f"valid: {', '.join(prefix + k for k in sorted(fields))}"
        )
    kwargs = {}
    for name, value in data.items():
        where = prefix + name
        if cls is BrokerSettings and name in _SECTIONS:
            kwargs[name] = _build(_SECTIONS[name], value or {}, where + ".")
            continue
        default = fields[name].default
        kwargs[name] = _coerce(where, value, default)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
        raise SettingsError(str(exc)) from None


def _coerce(where: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default and normalise lists to tuples."""
    if value is None:
        return None
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SettingsError(f"{where} must be true or false, not {value!r}")
        return value
    if isinstance(default, int) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingsError(f"{where} must be an integer, not {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SettingsError(f"{where} must be a number, not {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SettingsError(f"{where} must be text, not {value!r}")
        return value
    if where.endswith("_windows"):
        return _windows(where, value)
    if where.endswith("relogin_backoff_s"):
        if not isinstance(value, (list, tuple)) or not value:
            raise SettingsError(f"{where} must be a non-empty list of seconds")
        out = []
        for v in value:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise SettingsError(f"{where} must hold non-negative numbers, not {v!r}")
            out.append(float(v))
        return tuple(out)
    if where.endswith("allowed_codes"):
        if not isinstance(value, (list, tuple)) or not all(isinstance(c, str) for c in value):
            raise SettingsError(f"{where} must be a list of codes")
        return tuple(value)
    if where.endswith("max_qty") or where.endswith("max_notional"):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SettingsError(f"{where} must be a positive integer")
        return value
    if where == "account.default":
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip().isalnum():
            raise SettingsError(f"{where} must be an account number, not {value!r}")
        return str(value).strip()
    if where == "logging.file":
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where} must be a file path")
        return value
    if where.endswith("order_journal") or where.endswith(".start"):
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise SettingsError(f"{where} must be text")
        return str(value)
    if where.endswith(".config"):
        if not isinstance(value, dict):
            raise SettingsError(f"{where} must be a mapping")
        return dict(value)
    raise SettingsError(f"{where}: unsupported value {value!r}")  # pragma: no cover


def _windows(where: str, value: Any) -> Tuple[Tuple[int, float], ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SettingsError(f"{where} must be a non-empty list of [count, seconds] pairs")
    out = []
    for pair in value:
        if (
            not isinstance(pair, (list, tuple)) or len(pair) != 2
            or isinstance(pair[0], bool) or not isinstance(pair[0], int) or pair[0] <= 0
            or isinstance(pair[1], bool) or not isinstance(pair[1], (int, float)) or pair[1] <= 0
        ):
            raise SettingsError(f"{where}: {pair!r} is not a [count > 0, seconds > 0] pair")
        out.append((int(pair[0]), float(pair[1])))
    return tuple(out)
