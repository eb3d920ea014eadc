"""Web dashboard settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

Two guards are decided here, before anything listens: a dashboard bound off the loopback interface
needs `auth_token` (a `${ENV}` or `file:/path` reference, never the token itself), and `trading: true`
needs a CURVE key whose role on the broker's allow-list is `trade` or higher (`koabus keys`). Without
both, the page has no order form and the server refuses every order op.
"""
from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import SettingsError, _build, check_endpoint, load_mapping
from koabus.services.skeleton.settings import BusServiceSettings

SERVICE = "web"
DEFAULT_BARS = SERVICE_STATUS_ENDPOINTS["bars"]
DEFAULT_ALERTS = SERVICE_STATUS_ENDPOINTS["alerting"]
DEFAULT_STATUS = SERVICE_STATUS_ENDPOINTS.get(SERVICE, "tcp://127.0.0.1:5594")
DEFAULT_SERVICES = tuple(e for name, e in SERVICE_STATUS_ENDPOINTS.items() if name != SERVICE)
DEFAULT_CODES = ("005930", "000660", "035420", "005380", "035720", "051910")
#: the role a key needs for orders (common/keys.py ROLES)
TRADE_ROLE = "trade"


@dataclass(frozen=True)
class WebSettings(BusServiceSettings):
    """Everything one dashboard needs, built once at the edge and passed down. Its status PUB carries
    `sys.hb.web` heartbeats, so `koabus ps` and alerting see it."""

    name: str = "koabus-web"
    host: str = "127.0.0.1"
    port: int = 8765
    #: `${ENV_NAME}` or `file:/path` (mode 600); required when `host` is not a loopback address
    auth_token: str = field(default="", repr=False)
    #: the watchlist; the first code is selected when a page opens
    codes: Tuple[str, ...] = DEFAULT_CODES
    #: bar interval of the chart, as the bars service names it (`bar.<interval>.<code>`)
    interval: str = "1m"
    #: most bars kept per code (history plus live)
    max_bars: int = 400
    #: where the chart's history comes from: the minute TR ("tr"), or the recorded lake ("lake": bars
    #: resampled from the day's ticks, falling back to the TR when the lake has none)
    history: str = "tr"
    lake_root: str = "data"
    #: the bars service's PUB (bar.*), the alerting PUB (alert.*) and every service status PUB (sys.hb.*)
    bars: str = DEFAULT_BARS
    alerts: str = DEFAULT_ALERTS
    services: Tuple[str, ...] = DEFAULT_SERVICES
    #: orders from the page: only with this AND a CURVE key holding the trade role
    trading: bool = False
    account: str = ""
    status: str = DEFAULT_STATUS
    #: the page shows "stale" when its newest price is older than this, or the socket is down
    stale_after_s: float = 5.0
    #: most distinct state items waiting for one browser; beyond, it gets a fresh full state instead
    max_pending: int = 500
    #: how often health (heartbeats, lag, pacing) is pushed and the broker's status polled
    health_interval_s: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.port < 65536:
            raise SettingsError(f"port must be 1-65535, not {self.port!r}")
        for name in ("bars", "alerts"):
            check_endpoint(name, getattr(self, name))
        for n, endpoint in enumerate(self.services):
            check_endpoint(f"services[{n}]", endpoint)
        if not self.codes or any(not (c.isalnum() and 1 <= len(c) <= 12) for c in self.codes):
            raise SettingsError("codes must list 1 or more stock codes (letters and digits)")
        if not self.interval or not self.interval[:-1].isdigit() or self.interval[-1] not in "mhd":
            raise SettingsError(f"interval must look like 1m, 5m or 60m, not {self.interval!r}")
        if self.history not in ("tr", "lake"):
            raise SettingsError(f"history must be tr or lake, not {self.history!r}")
        if self.auth_token and not (self.auth_token.startswith("file:") or
                                    (self.auth_token.startswith("${") and self.auth_token.endswith("}"))):
            raise SettingsError("auth_token must be a reference: ${ENV_NAME} or file:/path (mode 600), "
                                "never the token itself")
        if not is_loopback_host(self.host) and not self.auth_token:
            raise SettingsError(f"host {self.host} is not a loopback address: set auth_token "
                                "(${ENV_NAME} or file:/path) so the page needs a key")
        if self.stale_after_s <= 0 or self.health_interval_s <= 0:
            raise SettingsError("stale_after_s and health_interval_s must be numbers > 0")
        if self.max_pending < 10 or self.max_bars < 10:
            raise SettingsError("max_pending and max_bars must be at least 10")


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_auth_token(settings: WebSettings, environ: Optional[Mapping[str, str]] = None) -> str:
    """The token `auth_token` refers to ("" when none is set); SettingsError when it cannot be read."""
    from koabus.services.alerting.notifiers.secrets import SecretError, resolve_secret

    if not settings.auth_token:
        return ""
    try:
        token = resolve_secret(settings.auth_token, "auth_token", os.environ if environ is None else environ)
    except SecretError as exc:
        raise SettingsError(str(exc)) from None
    if len(token) < 16:
        raise SettingsError("auth_token: the token must be at least 16 characters")
    return token


def key_role(settings: WebSettings) -> Optional[str]:
    """The role of the configured CURVE key on the allow-list in its keys_dir (None: no key or not listed)."""
    from koabus.common.keys import KeysError, load_allow

    if not settings.curve.enabled:
        return None
    name = os.path.basename(settings.curve.key)
    for suffix in (".key_secret", ".key"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    try:
        entry = load_allow(settings.curve.keys_dir).get(name)
    except (KeysError, OSError):
        return None
    return entry.role if entry is not None and entry.allowed else None


def trading_allowed(settings: WebSettings) -> bool:
    """True only with `trading: true` and a key whose role is trade or higher; SettingsError when
    trading was asked for without such a key (the service refuses to start rather than pretend)."""
    from koabus.common.keys import ROLE_RANK

    if not settings.trading:
        return False
    role = key_role(settings)
    if role is None or ROLE_RANK[role] < ROLE_RANK[TRADE_ROLE]:
        raise SettingsError("trading: true needs curve.keys_dir and curve.key naming a key with the trade "
                            f"role on the allow-list (koabus keys generate NAME --role trade); key role: {role}")
    return True


def settings_from_dict(data: Mapping[str, Any]) -> WebSettings:
    return _build(WebSettings, data, "")


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> WebSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
