"""Strategy host settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

The same loader as every service (services/broker/config.py): unknown keys are refused and every value
is checked by its type. `params` overrides the strategy class's own `params` key by key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import SettingsError, _build, load_mapping
from koabus.services.skeleton.settings import BusServiceSettings

SERVICE = "strategy"
DEFAULT_STATUS = SERVICE_STATUS_ENDPOINTS[SERVICE]
DEFAULT_STATE_DIR = "var/state/strategy"
ON_ERROR = ("cancel", "leave")
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_HHMMSS = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

__all__ = ["LimitSettings", "SettingsError", "StrategySettings", "load_settings", "settings_from_dict"]


@dataclass(frozen=True)
class LimitSettings:
    """Per-strategy risk limits (limits.RiskGate); 0 turns one off."""

    #: shares of one code held plus on order (buys)
    max_position: int = 0
    #: orders sent in any 60 s of the broker's clock
    max_orders_per_minute: int = 0
    #: KRW: at realised + unrealised P&L <= -max_daily_loss, only orders that reduce a position pass
    max_daily_loss: int = 0


@dataclass(frozen=True)
class FaultSettings:
    """Fault injection, for tests only: the process SIGKILLs itself at `crash_at` of its first order:
    `after_journal` (id on disk, nothing sent) or `after_send` (the broker took the order)."""

    crash_at: str = ""

    def __post_init__(self) -> None:
        if self.crash_at not in ("", "after_journal", "after_send"):
            raise SettingsError(f"faults.crash_at must be after_journal or after_send, not {self.crash_at!r}")


@dataclass(frozen=True)
class StrategySettings(BusServiceSettings):
    """Everything one strategy process needs, built once at the edge and passed down. Its status PUB
    carries `strat.<name>.<event>` and `sys.hb.strategy`."""

    #: the strategy file and class (the only class deriving from Strategy in it when empty)
    file: str = ""
    class_name: str = ""
    #: the strategy's name: its order ids, its topics `strat.<name>.*`; default the class name, lowercased
    name: str = ""
    #: overrides of the class's params
    params: Dict[str, Any] = field(default_factory=dict)
    #: the account it trades (default: the login's first account)
    account: str = ""
    status: str = DEFAULT_STATUS
    #: where the per-day order-id journal lives (`<state_dir>/<name>/<YYYYMMDD>.jsonl`)
    state_dir: str = DEFAULT_STATE_DIR
    #: when a hook raises: cancel the strategy's open orders, or leave them working
    on_error: str = "cancel"
    limits: LimitSettings = LimitSettings()
    #: a replayed day: the broker's clock must be on this date (YYYY-MM-DD), else the host refuses to start
    replay_date: str = ""
    #: stop (orderly: on_stop, exit 0) when the broker's clock reaches this KST time, HH:MM[:SS]
    stop_at: str = ""
    #: how often the broker's clock is read (closes bars when no trade comes; wall seconds)
    clock_interval_s: float = 0.5
    #: give up when no broker answers within this (0: keep trying, as under supervisor)
    connect_wait_s: float = 0.0
    #: at an error stop, how long cancels may take before the process exits anyway
    cancel_timeout_s: float = 10.0
    faults: FaultSettings = FaultSettings()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.on_error not in ON_ERROR:
            raise SettingsError(f"on_error must be cancel or leave, not {self.on_error!r}")
        if self.replay_date and not _DATE.match(self.replay_date):
            raise SettingsError(f"replay_date must be YYYY-MM-DD, not {self.replay_date!r}")
        if self.stop_at and not _HHMMSS.match(self.stop_at):
            raise SettingsError(f"stop_at must be HH:MM or HH:MM:SS, not {self.stop_at!r}")
        if self.account and not self.account.isalnum():
            raise SettingsError(f"account must be an account number, not {self.account!r}")

    def check_name(self) -> None:
        """Empty (the class name, lowercased) or a topic part: the name is in `strat.<name>.*` and order ids."""
        if self.name and not _NAME.match(self.name):
            raise SettingsError(f"name must be 1-32 letters, digits, '_' or '-', not {self.name!r}")


def settings_from_dict(data: Mapping[str, Any]) -> StrategySettings:
    """Build StrategySettings from a plain mapping; unknown keys raise SettingsError."""
    return _build(StrategySettings, data, "")


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> StrategySettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
