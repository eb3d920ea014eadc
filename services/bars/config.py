"""Bars settings: YAML plus command-line overrides turned once into a frozen, typed dataclass.

The same rules as the other services' (services/broker/config.py, whose loader this reuses): unknown
keys are refused, every value is checked by its type.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import LoggingSettings, SettingsError, _build, load_mapping
from koabus.services.skeleton.settings import (
    DEFAULT_PUB,
    DEFAULT_ROUTER,
    CurveClientSettings,
    check_broker_endpoints,
    check_local_endpoints,
    check_name,
)

from .core import parse_interval

SERVICE = "bars"
#: the service's own PUB: `bar.<interval>.<code>` and `sys.hb.bars`
DEFAULT_PUBLISH = SERVICE_STATUS_ENDPOINTS[SERVICE]
#: the service's own ROUTER: `status` and `snapshot` (the current partial bars) in the broker's protocol
DEFAULT_SNAPSHOT = "tcp://127.0.0.1:5596"
DEFAULT_INTERVALS = ("1m", "3m", "5m", "10m", "15m", "30m", "60m")

__all__ = ["SERVICE", "BarsSettings", "SettingsError", "load_settings", "settings_from_dict"]


@dataclass(frozen=True)
class BarsSettings:
    """Everything one bars service needs, built once at the edge and passed down."""

    name: str = "koabus-bars"
    #: the broker (or a relay) whose trades it turns into bars
    router: str = DEFAULT_ROUTER
    pub: str = DEFAULT_PUB
    curve: CurveClientSettings = CurveClientSettings()
    #: the codes whose trades (주식체결) it subscribes to
    codes: Tuple[str, ...] = ("005930", "000660")
    #: bar intervals: "1m" ... "60m" (or plain minutes)
    intervals: Tuple[str, ...] = DEFAULT_INTERVALS
    publish: str = DEFAULT_PUBLISH
    snapshot: str = DEFAULT_SNAPSHOT
    heartbeat_ms: int = 1000
    #: at most one partial update per code and interval this often (wall seconds)
    partial_interval_s: float = 1.0
    #: a bar is final this many seconds of the broker's clock after its end (trades still in flight)
    final_delay_s: float = 1.0
    #: how often the broker's clock (`status` clock_s) is asked for (wall seconds)
    clock_poll_s: float = 0.2
    #: fill the bars in progress at start from the minute-chart TR (opt10080)
    backfill: bool = True
    logging: LoggingSettings = LoggingSettings()

    def __post_init__(self) -> None:
        # not a BusServiceSettings: its own PUB is `publish` (and its ROUTER `snapshot`), not `status`
        check_name(self.name)
        check_broker_endpoints(self)
        check_local_endpoints(self, ("publish", "snapshot"))
        if not self.codes or not all(isinstance(c, str) and c.isalnum() and len(c) <= 16 for c in self.codes):
            raise SettingsError(f"codes must list instrument codes (letters and digits), not {list(self.codes)!r}")
        if not self.intervals:
            raise SettingsError("intervals must name at least one interval, e.g. [1m, 5m]")
        for interval in self.intervals:
            try:
                seconds = parse_interval(interval)
            except ValueError as exc:
                raise SettingsError(f"intervals: {exc}") from None
            if seconds % 60:
                raise SettingsError(f"intervals: {interval!r} is not a whole number of minutes")
        for name in ("partial_interval_s", "final_delay_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name} must be a number >= 0, not {getattr(self, name)!r}")
        if self.clock_poll_s <= 0 or self.heartbeat_ms <= 0:
            raise SettingsError("clock_poll_s and heartbeat_ms must be positive")

    @property
    def intervals_s(self) -> Tuple[int, ...]:
        return tuple(sorted({parse_interval(i) for i in self.intervals}))


def settings_from_dict(data: Mapping[str, Any]) -> BarsSettings:
    """Build BarsSettings from a plain mapping; unknown keys raise SettingsError."""
    return _build(BarsSettings, data, "")


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> BarsSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
