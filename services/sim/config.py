"""SimConfig: every knob of the simulated control in one frozen dataclass, with working defaults."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any, Optional, Tuple

# Start modes: "replay" starts at a recent session's open when the real market is closed (and at
# "now" when it is open), "wall" starts now, "fixed" starts at `start`.
START_MODES = ("replay", "wall", "fixed")


@dataclass(frozen=True)
class AccountConfig:
    """One simulated account: a 10-digit number (8-digit base + 2-digit product) and its own
    starting cash (KRW), which opw00001/opw00004/opw00018 report for that account."""

    number: str
    deposit: int = 500_000_000


@dataclass(frozen=True)
class LimitsConfig:
    """Kiwoom's limits (facts §7). `tr_windows` are (max calls, window seconds) pairs.

    The documented rule is 5 query calls per second; Kiwoom also applies undisclosed stricter
    windows. The default models the documented one plus an hourly budget; put e.g.
    ((5, 1.0), (5, 17.0), (25, 90.0), (50, 180.0)) here to mimic the operator's guidance.
    """

    tr_windows: Tuple[Tuple[int, float], ...] = ((5, 1.0), (1000, 3600.0))
    # Crossing a window beyond the first (the undisclosed one) shows a popup on the real control
    # and forces a new login; True emulates that with OnEventConnect(-106).
    disconnect_on_strict_overflow: bool = False
    order_windows: Tuple[Tuple[int, float], ...] = ((5, 1.0),)
    condition_interval_s: float = 60.0
    max_realtime_conditions: int = 10
    max_condition_realtime_codes: int = 100
    max_screens: int = 200
    max_realreg_codes: int = 100
    max_realreg_fids: int = 100
    max_kw_codes: int = 100


@dataclass(frozen=True)
class SimConfig:
    """How the simulated control behaves. Build once at the edge and pass it down.

    speed: virtual seconds per wall second (0 freezes time; tests step it with `sim.advance`).
    start_mode/start: see START_MODES. tick_interval_ms: how often the wall timer advances the
    market. events_per_tick: cap on events delivered per Qt timer tick (the rest wait a tick).
    max_pending_events: while more events than this wait for the Qt loop (a machine slower than the
    simulated market, e.g. at a high speed), the wall timer's realtime stream waits instead of
    queueing without bound, and once too far behind skips (counted in `stats`). 0: never wait, which
    grows memory without bound when the market outruns the broker (~50 MB/s at --speed 200 with 300
    codes on two types), so it is bounded by default.
    max_realtime_span_s: the most market time one wall tick streams (at least two ticks' worth at
    the configured speed); the rest follows on later ticks, so one tick's work stays bounded (0: no
    bound). max_realtime_lag_s: once the realtime stream is this far behind the clock (and at least
    four spans and ten wall seconds at the speed), its older part is skipped and counted (0: never).
    synthetic_rate_eps: when > 0, realtime trades are additionally synthesised at this many
    events per second across all registered codes (load tests).
    synthetic_window: when set, a ("HH:MM:SS", "HH:MM:SS") pair of KST times of day: the synthetic
    trades flow only between them, every day (a load test's open burst); None: all the time.
    stream_build_ms: the wall milliseconds one timer tick may spend building the streams (day state, path,
    book) of newly registered codes, ~15 ms a code: registering hundreds at once otherwise held the Qt
    thread, and every request the broker had, for seconds in one tick. A code streams from the tick after
    its build; steps a test drives (`sim.advance`) build every code at once, and a stopped clock (speed 0,
    not held) builds nothing. 0: no bound.
    hold_until_codes: when > 0, the virtual clock stays at its start until this many codes are registered
    for realtime (and their streams built), then runs at `speed` (a load test's day starts once its load
    is registered, however long the stack took to come up); a restart that resumes a stored clock does
    not hold (0: runs at once).
    extra_listings: this many synthetic stocks (codes 990001.., names 합성종목0001..) are listed after
    the real ones, for load tests that need more codes than the ~336 real ones (market/listing.py);
    0, the default, lists only real codes.
    pad_tr_values: GetCommData values carry the real control's space padding (trs/padding.py).
    state_dir: where the simulated server keeps its state (accounts, orders, fills) across restarts,
    as the real Kiwoom server does (store.py, docs/simulator.md); None keeps it in memory only.
    """

    seed: int = 20220118
    speed: float = 1.0
    start_mode: str = "replay"
    start: Optional[datetime] = None
    tick_interval_ms: int = 15
    events_per_tick: int = 5000
    max_pending_events: int = 20_000
    max_realtime_span_s: float = 5.0
    max_realtime_lag_s: float = 600.0
    synthetic_rate_eps: float = 0.0
    synthetic_window: Optional[Tuple[str, str]] = None
    stream_build_ms: int = 50
    extra_listings: int = 0
    hold_until_codes: int = 0
    pad_tr_values: bool = True
    user_id: str = "simuser"
    user_name: str = "모의사용자"
    server_gubun: str = "1"
    key_bsecgb: str = "0"
    firew_secgb: str = "0"
    module_path: str = "C:\\OpenAPI"
    accounts: Tuple[AccountConfig, ...] = (
        AccountConfig("8000000011"),
        AccountConfig("8000000031"),
    )
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    # The server's answer time for a TR: OnReceiveTrData and its OnReceiveMsg come this many wall ms
    # after CommRqData/CommKwRqData, while realtime and everything else flows meanwhile (0: at once).
    tr_latency_ms: int = 0
    # Faults that can also be switched on at run time through control.sim (event_delay_ms holds every
    # event, realtime included, and everything queued behind it).
    event_delay_ms: int = 0
    chejan_before_tr: bool = False
    login_delay_ms: int = 0
    # The simulated market's settings (market/config.py MarketConfig: trade intensity, book cadence,
    # VI thresholds, ...); a dict (YAML) becomes a MarketConfig. None: the realistic defaults.
    market_config: Any = None
    state_dir: Optional[str] = None
    # The saved condition searches: None for the default set, else a YAML file path or a list of
    # {index, name, formula[, rank, limit]} (services/sim/market/conditions.py, docs/simulator.md).
    conditions: Any = None

    def __post_init__(self) -> None:
        # Accept the plain shapes YAML settings produce: a dict for limits, strings or dicts for
        # accounts, lists for the window tuples.
        if isinstance(self.limits, dict):
            limits = dict(self.limits)
            for key in ("tr_windows", "order_windows"):
                if key in limits:
                    limits[key] = tuple(tuple(w) for w in limits[key])
            object.__setattr__(self, "limits", LimitsConfig(**limits))
        accounts = tuple(
            AccountConfig(a) if isinstance(a, str) else AccountConfig(**a) if isinstance(a, dict) else a
            for a in self.accounts
        )
        object.__setattr__(self, "accounts", accounts)
        if isinstance(self.market_config, dict):  # the market package (numpy) only when set
            from .market.config import MarketConfig  # noqa: PLC0415

            object.__setattr__(self, "market_config", MarketConfig(**{"seed": self.seed, **self.market_config}))
        if self.start_mode not in START_MODES:
            raise ValueError(f"start_mode must be one of {START_MODES}, not {self.start_mode!r}")
        if self.start_mode == "fixed" and self.start is None:
            raise ValueError("start_mode 'fixed' needs start")
        if self.speed < 0:
            raise ValueError("speed must be >= 0")
        if not isinstance(self.tr_latency_ms, int) or isinstance(self.tr_latency_ms, bool) or self.tr_latency_ms < 0:
            raise ValueError(f"tr_latency_ms must be an integer >= 0, not {self.tr_latency_ms!r}")
        if not self.accounts:
            raise ValueError("at least one account is needed")
        if not isinstance(self.extra_listings, int) or isinstance(self.extra_listings, bool) or self.extra_listings < 0:
            raise ValueError(f"extra_listings must be an integer >= 0, not {self.extra_listings!r}")
        if not isinstance(self.stream_build_ms, int) or isinstance(self.stream_build_ms, bool) or self.stream_build_ms < 0:
            raise ValueError(f"stream_build_ms must be an integer >= 0, not {self.stream_build_ms!r}")
        if not isinstance(self.hold_until_codes, int) or isinstance(self.hold_until_codes, bool) or self.hold_until_codes < 0:
            raise ValueError(f"hold_until_codes must be an integer >= 0, not {self.hold_until_codes!r}")
        if self.synthetic_window is not None:
            object.__setattr__(self, "synthetic_window", _time_window(self.synthetic_window))
        if self.conditions is not None:  # fail at start-up, not at the first condition search
            from .market.conditions import load_conditions  # noqa: PLC0415 - numpy only when set

            object.__setattr__(self, "conditions", load_conditions(self.conditions))


def _time_window(window: Any) -> Tuple[str, str]:
    """A ("HH:MM:SS", "HH:MM:SS") pair of times of day, the first before the second (else ValueError)."""
    try:
        start, end = (str(t) for t in window)
        start_s, end_s = seconds_of_day(start), seconds_of_day(end)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"synthetic_window must be two 'HH:MM:SS' times, not {window!r}") from exc
    if start_s >= end_s:
        raise ValueError(f"synthetic_window must start before it ends, not {window!r}")
    return start, end


def seconds_of_day(text: str) -> int:
    """'HH:MM:SS' -> seconds since midnight (ValueError for anything else)."""
    t = time.fromisoformat(text)
    if len(text) != 8 or t.microsecond:
        raise ValueError(f"not an 'HH:MM:SS' time: {text!r}")
    return t.hour * 3600 + t.minute * 60 + t.second
