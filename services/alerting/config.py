"""Alerting settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

The same rules as the other services' (services/broker/config.py, whose loader this reuses): unknown
keys are refused, every value is checked by its type. The notifiers' options are checked by the
notifiers themselves when the service starts (`make_notifiers`), but a secret written in plain text
anywhere in this file is refused here, before anything else.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import SettingsError, _build, check_endpoint, load_mapping
from koabus.services.skeleton.settings import BusServiceSettings

SERVICE = "alerting"
DEFAULT_STATUS = SERVICE_STATUS_ENDPOINTS[SERVICE]
DEFAULT_RULES = "deploy/alerts.yaml"
#: the other services' status PUBs: their heartbeats (recorder gaps and lag, missing heartbeats)
DEFAULT_WATCH = tuple(endpoint for name, endpoint in SERVICE_STATUS_ENDPOINTS.items() if name != SERVICE)
_NOTIFIER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def _default_notifiers() -> Dict[str, Dict[str, Any]]:
    return {"console": {"type": "console", "to": "stdout"}}


@dataclass(frozen=True)
class DeliverySettings:
    """The Dispatcher's policy (services/alerting/notifiers/delivery.py), the same for every notifier."""

    #: alerts waiting per notifier; beyond, the oldest is dropped (counted in dropped_full)
    queue_size: int = 1000
    #: retries of a retryable failure, after backoff_s x 2^(n-1) (capped at max_backoff_s) x jitter
    retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    #: at shutdown, queued alerts get one attempt each within this time
    stop_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.queue_size < 1:
            raise SettingsError(f"delivery.queue_size must be an integer >= 1, not {self.queue_size!r}")
        if self.max_backoff_s < self.backoff_s:
            raise SettingsError("delivery.max_backoff_s must be at least delivery.backoff_s")


@dataclass(frozen=True)
class AlertingSettings(BusServiceSettings):
    """Everything one alerting service needs, built once at the edge and passed down. Its status PUB
    carries `alert.<rule_id>` alerts and `sys.hb.alerting` heartbeats."""

    name: str = "koabus-alerting"
    status: str = DEFAULT_STATUS
    #: the rules file (docs/alerting.md); reloaded when it changes and on SIGHUP
    rules: str = DEFAULT_RULES
    #: name -> {type: console|webhook|slack|discord|telegram|email, ...its options}
    notifiers: Dict[str, Any] = field(default_factory=_default_notifiers, repr=False)
    delivery: DeliverySettings = DeliverySettings()
    #: other services' status PUBs whose `sys.hb.*` it listens to
    watch_services: Tuple[str, ...] = DEFAULT_WATCH
    #: how often the rules file's modification time is checked
    reload_check_s: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for n, endpoint in enumerate(self.watch_services):
            check_endpoint(f"watch_services[{n}]", endpoint)
        if not self.rules.strip():
            raise SettingsError("rules must be the path of the rules file")
        for name, options in self.notifiers.items():
            if not _NOTIFIER_NAME.match(name):
                raise SettingsError(f"notifiers.{name}: a notifier name is letters, digits, '_', '-', '.'")
            if not isinstance(options, Mapping) or "type" not in options:
                raise SettingsError(f"notifiers.{name} must be a map with `type` (console, webhook, slack, "
                                    "discord, telegram, email) and its options")
        if self.reload_check_s <= 0:
            raise SettingsError(f"reload_check_s must be a number > 0, not {self.reload_check_s!r}")


def settings_from_dict(data: Mapping[str, Any]) -> AlertingSettings:
    """Build AlertingSettings from a plain mapping; unknown keys and plain-text secrets raise SettingsError."""
    from .notifiers.secrets import check_no_literal_secrets

    check_no_literal_secrets(data)
    return _build(AlertingSettings, data, "")


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> AlertingSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
