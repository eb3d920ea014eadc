"""Broker settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

Unknown keys are rejected so a typo never silently falls back to a default. The defaults bind to
127.0.0.1; an endpoint reachable from other hosts is refused unless CURVE keys are configured.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from koabus.common.protocol.constants import MAX_NAME_CHARS, TRANSPORT_MAX_BYTES

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
        try:  # a bad format would otherwise fail on every log record, not here
            record = logging.LogRecord("koabus", logging.INFO, __file__, 1, "check", None, None)
            logging.Formatter(self.format).format(record)
        except (ValueError, KeyError, TypeError, IndexError):
            raise SettingsError(f"logging.format is not a logging format: {_show(self.format)}") from None


_Z85 = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


@dataclass(frozen=True)
class CurveSettings:
    """CURVE for a bind reachable from other hosts: `keys_dir` (written by `koabus keys`) holds the
    allow-list of client keys with their roles and, unless the keys are given here, the broker's own
    key pair (server.key_secret, mode 0600). Secrets never appear in repr."""

    public_key: str = ""
    secret_key: str = field(default="", repr=False)
    keys_dir: str = ""

    def __post_init__(self) -> None:
        if bool(self.public_key) != bool(self.secret_key):
            raise SettingsError("curve.public_key and curve.secret_key must be set together")
        for name in ("public_key", "secret_key"):
            key = getattr(self, name)  # never shown: one of them is a secret
            if key and len(key) != 40:
                raise SettingsError(f"curve.{name} must be a 40-character Z85 key, not {len(key)} characters")
            if key and not set(key) <= _Z85:
                raise SettingsError(f"curve.{name} must be a 40-character Z85 key; it holds other characters")
        if self.public_key and not self.keys_dir:
            raise SettingsError("curve.keys_dir must be set with CURVE keys: it holds the allow-list of client "
                                "keys and their roles (koabus keys generate NAME --role read|trade|admin)")

    @property
    def enabled(self) -> bool:
        return bool(self.keys_dir)


#: the broker's memory bound, and the same with the simulated market in the process (LimitsSettings)
DEFAULT_MAX_RSS_MB = 512
DEFAULT_SIM_MAX_RSS_MB = 1536


@dataclass(frozen=True)
class LimitsSettings:
    """Memory bounds: per-connection queues on both sockets, per-client quotas, the broker's total RSS.

    A subscriber that does not keep up loses what does not fit in its `pub_hwm` queue (it sees the gap in
    `topic_seq`); a client that does not read its replies has at most `router_hwm` of them queued, then
    its streams are stopped and its new requests refused with Overloaded until it reads again.
    """

    #: publications queued per subscriber connection (ZeroMQ SNDHWM of the PUB socket)
    pub_hwm: int = 20_000
    #: a realtime batch (docs/protocol.md §4.3) closes before its body passes this many bytes. ZeroMQ counts
    #: a subscriber's queue in messages, so a batch subscriber that stops reading pins up to
    #: pub_hwm x batch_max_bytes at the broker (20,000 x 8 KiB = 160 MB; a single-event one ~6 MB)
    batch_max_bytes: int = 8_192
    #: replies queued per client connection (SNDHWM of the ROUTER socket); a send beyond fails visibly
    router_hwm: int = 1_000
    #: requests queued per client connection before the broker stops reading it (RCVHWM of the ROUTER)
    router_rcvhwm: int = 1_000
    #: sessions at once; a new client beyond gets Overloaded
    max_clients: int = 1_000
    #: snapshots one client may have in progress at once
    snapshots_in_flight: int = 4
    #: snapshot requests per second per client (token bucket holding one second's worth)
    snapshots_per_s: float = 500.0
    #: a snapshot whose client reads nothing for this long is abandoned
    stall_timeout_s: float = 5.0
    #: the broker process's resident memory bound in MB; 0: not watched; null: 512, or 1536 with
    #: `--backend sim` (the simulated market lives in the same process: at realistic trade intensity
    #: 670-840 MB peak with every code quoted: a day's paths ~145 MB, book cadences up to 256 MB,
    #: histories ~60 MB; shedding starts at 80% of the bound)
    max_rss_mb: Optional[int] = None
    #: above this fraction of the bound the broker sheds: realtime dropped before it queues up,
    #: snapshots and subscriptions refused with Overloaded
    shed_fraction: float = 0.8

    def __post_init__(self) -> None:
        for name in ("pub_hwm", "router_hwm", "router_rcvhwm", "max_clients", "snapshots_in_flight"):
            if getattr(self, name) < 1:  # ZeroMQ reads 0 as "no limit"
                raise SettingsError(f"limits.{name} must be an integer >= 1, not {getattr(self, name)!r}")
        if self.snapshots_per_s <= 0 or self.stall_timeout_s <= 0:
            raise SettingsError("limits.snapshots_per_s and limits.stall_timeout_s must be > 0")
        if not 0 < self.shed_fraction < 1:
            raise SettingsError(f"limits.shed_fraction must be a number between 0 and 1 (exclusive), "
                                f"not {self.shed_fraction!r}")
        if self.max_rss_mb is not None and self.max_rss_mb < 0:
            raise SettingsError(f"limits.max_rss_mb must be an integer >= 0 or null, not {self.max_rss_mb!r}")

    def rss_bound_mb(self, backend: str) -> int:
        """`max_rss_mb`, or its default for `backend` when it is not set."""
        if self.max_rss_mb is not None:
            return self.max_rss_mb
        return DEFAULT_SIM_MAX_RSS_MB if backend in ("sim", "replay") else DEFAULT_MAX_RSS_MB


@dataclass(frozen=True)
class ScreenSettings:
    """Kiwoom's 200 screens shared out: realtime may never take the screens orders and requests need.

    Realtime gets at most 200 - reserved_for_orders - reserved_for_requests screens (100 codes each);
    a subscription that does not fit is refused with Overloaded, naming the free screens.
    """

    #: kept for orders (the order desk rotates over at most 8 screens)
    reserved_for_orders: int = 8
    #: kept for TRs, kwfid and condition searches (each holds a screen while it runs)
    reserved_for_requests: int = 20

    def __post_init__(self) -> None:
        from .session import MAX_SCREENS

        reserved = self.reserved_for_orders + self.reserved_for_requests
        if min(self.reserved_for_orders, self.reserved_for_requests) < 0 or reserved >= MAX_SCREENS:
            raise SettingsError(
                f"screens.reserved_for_orders + screens.reserved_for_requests must be from 0 to "
                f"{MAX_SCREENS - 1} (realtime keeps at least one of the {MAX_SCREENS} screens), not {reserved}")


@dataclass(frozen=True)
class SimSettings:
    """Options for `--backend sim`: the virtual clock's speed and the simulator's own config."""

    speed: float = 1.0
    #: epoch seconds or ISO text for the virtual clock's start; None lets the simulator choose
    start: Optional[str] = None
    config: Optional[Dict[str, Any]] = None


@dataclass(frozen=True)
class ReplaySettings:
    """Options for `--backend replay`: the lake, the recorded date to play, its speed and codes."""

    lake: str = "data"
    #: the recorded trading date, YYYY-MM-DD (required with --backend replay)
    date: Optional[str] = None
    #: virtual seconds per wall second (10: ten times real time)
    speed: float = 1.0
    #: only these codes (empty: every recorded code)
    codes: Tuple[str, ...] = ()
    #: hold the clock at the day's start until the first realtime registration (a subscriber sees it all)
    hold: bool = True

    def __post_init__(self) -> None:
        if not self.lake.strip():
            raise SettingsError("replay.lake must be a directory path (the lake's root)")
        if self.date is not None and not _is_iso_date(self.date):
            raise SettingsError(f"replay.date must be a date YYYY-MM-DD, not {_show(self.date)}")


def _is_iso_date(text: str) -> bool:
    from datetime import datetime

    try:
        return len(text) == 10 and bool(datetime.strptime(text, "%Y-%m-%d"))
    except ValueError:
        return False


#: the broker's durable state by default; `--backend replay` uses its `replay/` subfolder instead
DEFAULT_STATE_DIR = "var/state"

#: where a test may make the broker kill itself with SIGKILL (FaultSettings.crash_at)
CRASH_POINTS = ("before_journal", "after_journal", "after_send", "after_ack")


@dataclass(frozen=True)
class FaultSettings:
    """Test/fault settings, never for production: a real `kill -9` of the broker at a known point.

    `crash_at` names the point in the n-th order request this process receives (`crash_on_order`,
    from 1; retries, cancels and modifies count too): before its `request` journal record, after it
    (before SendOrder), right after SendOrder returned, or once its order number is journaled. A
    request that never reaches the point (a retry of a known order, a refusal) does not crash.
    """

    crash_at: Optional[str] = None
    crash_on_order: int = 1

    def __post_init__(self) -> None:
        if self.crash_at is not None and self.crash_at not in CRASH_POINTS:
            raise SettingsError(f"faults.crash_at must be one of {', '.join(CRASH_POINTS)}, "
                                f"not {self.crash_at!r}")
        if self.crash_on_order < 1:
            raise SettingsError(f"faults.crash_on_order must be 1 or more, not {self.crash_on_order}")


BACKENDS = ("sim", "openapi", "replay")


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
    #: the broker's durable state (order journal); relative paths are from the process's cwd
    state_dir: str = DEFAULT_STATE_DIR
    #: order journal path template overriding `{state_dir}/orders/{date}.jsonl` ({date}: KST YYYYMMDD,
    #: {state_dir}); the journal is always on: an empty value is refused
    order_journal: Optional[str] = None
    #: order ops wait at most this long for a running reconciliation, then get Unavailable
    reconcile_timeout_s: float = 30.0
    #: realtime publications waiting for the I/O thread beyond which new ones are dropped (counted)
    max_outbound: int = 200_000
    #: allow a bind reachable from other hosts without CURVE (loud warning at start and in status)
    insecure: bool = False
    #: a folder written by `koabus meta import` (the install's .enc files): its TRs are served besides the
    #: built-in ones (on the simulated control with placeholder rows); None: $KOABUS_METADATA_DIR, else none
    metadata_dir: Optional[str] = None
    pacing: PacingSettings = PacingSettings()
    account: AccountSettings = AccountSettings()
    logging: LoggingSettings = LoggingSettings()
    risk: RiskSettings = RiskSettings()
    supervision: SupervisionSettings = SupervisionSettings()
    screens: ScreenSettings = ScreenSettings()
    curve: CurveSettings = CurveSettings()
    limits: LimitsSettings = LimitsSettings()
    sim: SimSettings = SimSettings()
    replay: ReplaySettings = ReplaySettings()
    faults: FaultSettings = FaultSettings()

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise SettingsError(f"backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        if self.backend == "replay" and self.replay.date is None:
            raise SettingsError("the replay backend needs replay.date (--date YYYY-MM-DD)")
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= MAX_NAME_CHARS:
            raise SettingsError(f"name must be text of 1 to {MAX_NAME_CHARS} characters, not {_show(self.name)}")
        for name in ("router", "pub"):
            check_endpoint(name, getattr(self, name))
        if _tcp_port(self.router) is not None and _tcp_port(self.router) == _tcp_port(self.pub):
            raise SettingsError(f"router and pub must not share port {_tcp_port(self.router)}")
        if self.router == self.pub and not self.router.endswith(":*"):  # '*': each bind picks its own port
            raise SettingsError(f"router and pub must be different endpoints, both are {_show(self.router)}")
        for name in ("router", "pub"):
            endpoint = getattr(self, name)
            if not is_local_endpoint(endpoint) and not self.curve.enabled and not self.insecure:
                raise SettingsError(
                    f"{name} endpoint {endpoint!r} is reachable from other hosts; refusing to bind "
                    "it without CURVE (curve.keys_dir) unless --insecure"
                )
        if self.heartbeat_ms <= 0 or self.client_lease_ms <= 0 or self.max_frame_bytes <= 0:
            raise SettingsError("heartbeat_ms, client_lease_ms and max_frame_bytes must be positive")
        if self.client_lease_ms < 2 * self.heartbeat_ms:  # clients ping every heartbeat_ms (protocol §8)
            raise SettingsError(f"client_lease_ms must be at least 2 x heartbeat_ms ({2 * self.heartbeat_ms}), "
                                f"not {self.client_lease_ms}")
        if not self.state_dir.strip():
            raise SettingsError("state_dir must be a directory path (the order journal lives there)")
        if self.order_journal is not None and not self.order_journal.strip():
            raise SettingsError("order_journal must be a file path template; the order journal cannot be "
                                "switched off (omit the key for {state_dir}/orders/{date}.jsonl)")
        if self.reconcile_timeout_s <= 0:
            raise SettingsError("reconcile_timeout_s must be positive")
        if self.metadata_dir is not None and not self.metadata_dir.strip():
            raise SettingsError("metadata_dir must be a folder written by `koabus meta import` (omit the key "
                                "for the built-in metadata only)")

    def insecure_warning(self) -> Optional[str]:
        """The warning for a bind reachable from other hosts without CURVE (--insecure), else None."""
        if self.curve.enabled:
            return None
        exposed = [e for e in (self.router, self.pub) if not is_local_endpoint(e)]
        if not exposed:
            return None
        return (f"INSECURE: {', '.join(exposed)} reachable from other hosts without CURVE: anyone who can "
                "reach it can read, trade and shut the broker down")

    def journal_template(self) -> str:
        """The order journal's path template with `{state_dir}` filled in; `{date}` stays."""
        template = self.order_journal or "{state_dir}/orders/{date}.jsonl"
        return template.replace("{state_dir}", self.state_dir)


ENDPOINT_FORMS = "tcp://HOST:PORT (PORT 1-65535 or *), ipc://PATH or inproc://NAME"


def _tcp_port(endpoint: str) -> Optional[int]:
    """The port of a tcp endpoint with a fixed port; None for `*`, ipc and inproc."""
    transport, _, rest = endpoint.partition("://")
    port = rest.rpartition(":")[2]
    return int(port) if transport == "tcp" and port.isdigit() else None


def check_endpoint(name: str, endpoint: Any) -> None:
    """Refuse anything ZeroMQ could not bind (or would bind somewhere unexpected) with one clear line."""
    transport, sep, rest = endpoint.partition("://") if isinstance(endpoint, str) else ("", "", "")
    if transport in ("ipc", "inproc"):
        ok = bool(sep and rest.strip())
    elif transport == "tcp":
        host, colon, port = rest.rpartition(":")
        ok = bool(colon and host.strip("[]") and (port == "*" or (port.isdigit() and 1 <= int(port) <= 65535)))
    else:
        ok = False
    if not ok:
        raise SettingsError(f"{name} must be {ENDPOINT_FORMS}, not {_show(endpoint)}")


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


def load_mapping(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """Read `path` (a YAML mapping) if given and apply `overrides` (dotted or nested keys; None skipped):
    the raw settings mapping every koabus service builds its typed settings from."""
    data: Dict[str, Any] = {}
    if path:
        loaded = _read_yaml(path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: the top level must be a mapping")
        data = loaded
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, key, value)
    return data


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> BrokerSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted or nested keys), validate."""
    return settings_from_dict(load_mapping(path, overrides))


def _read_yaml(path: str) -> Any:
    """The file's YAML; every way it can fail is one SettingsError line naming the file (and line)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or type(exc).__name__
        raise SettingsError(f"{where}: {problem}") from None


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
    "screens": ScreenSettings,
    "curve": CurveSettings,
    "limits": LimitsSettings,
    "sim": SimSettings,
    "replay": ReplaySettings,
    "faults": FaultSettings,
}


def _build(cls, data: Any, prefix: str):
    """One settings dataclass from a mapping: unknown keys refused, every field checked by its type hint."""
    if not isinstance(data, Mapping):
        raise SettingsError(f"{prefix.rstrip('.') or 'settings'} must be a mapping, not {_show(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise SettingsError(
            f"unknown setting(s) {', '.join(prefix + k for k in unknown)}; "
            f"valid: {', '.join(prefix + k for k in sorted(fields))}"
        )
    hints = _hints(cls)
    kwargs = {}
    for name, value in data.items():
        where = prefix + name
        hint = hints.get(name, Any)
        section = _SECTIONS.get(name) if cls is BrokerSettings else None
        if section is None and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            section = hint
        if section is not None:
            kwargs[name] = _build(section, {} if value is None else value, where + ".")
        else:
            kwargs[name] = _coerce(where, value, hint)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the unknown-key check
        raise SettingsError(str(exc)) from None


@dataclass(frozen=True)
class _Range:
    """Allowed numbers: from `low` (exclusive when `open_low`) up to `high` (inclusive) if given."""

    low: float = 0
    high: Optional[float] = None
    open_low: bool = False

    def holds(self, x: float) -> bool:
        above = x > self.low if self.open_low else x >= self.low
        return above and (self.high is None or x <= self.high)

    def text(self) -> str:
        if self.high is not None:
            return f"from {_number(self.low)} to {_number(self.high)}"
        return f"{'>' if self.open_low else '>='} {_number(self.low)}"


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


_UNIONS = (Union, getattr(types, "UnionType", Union))  # Optional[X] and, on 3.10+, X | None
_POSITIVE = _Range(0, open_low=True)
_AT_LEAST_ONE = _Range(1)
#: ranges that differ from the default (>= 0; > 0 for *_timeout_s/_ms and *_interval_s/_ms). Key paths
#: without list indexes.
_RANGES: Dict[str, _Range] = {
    "heartbeat_ms": _Range(10, 60_000),
    "client_lease_ms": _POSITIVE,
    "max_frame_bytes": _Range(1024, TRANSPORT_MAX_BYTES),
    "limits.batch_max_bytes": _Range(1024, 1 << 20),
    "max_inflight_per_client": _AT_LEAST_ONE,
    "max_outbound": _AT_LEAST_ONE,
    "tr_timeout_s": _POSITIVE,
    "pacing.max_queue_per_client": _AT_LEAST_ONE,
    "risk.max_qty": _AT_LEAST_ONE,
    "risk.max_notional": _AT_LEAST_ONE,
    "supervision.probe_interval_s": _POSITIVE,
    "supervision.login_timeout_s": _POSITIVE,
    "logging.max_bytes": _AT_LEAST_ONE,
}
_POSITIVE_SUFFIXES = ("_timeout_s", "_timeout_ms", "_interval_s", "_interval_ms")
#: text settings that name a file or directory: an empty or blank value is refused
_PATH_SUFFIXES = ("_dir", "_file", "_path", ".file")
#: lists that may not be empty
_NON_EMPTY = ("supervision.relogin_backoff_s",)


def _range_for(where: str) -> _Range:
    key = where.split("[", 1)[0]
    if key in _RANGES:
        return _RANGES[key]
    return _POSITIVE if key.endswith(_POSITIVE_SUFFIXES) else _Range()


def _show(value: Any) -> str:
    """A value as the message shows it: YAML words for null/true/false, hostile text shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and len(value) > 60:
        return repr(value[:60])[:-1] + "...'"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _hints(cls) -> Dict[str, Any]:
    """The fields' resolved type hints; a hint that cannot be resolved falls back to the default's type."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation naming something its module does not define
        out: Dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else None
            out[f.name] = Any if default is None else type(default)
        return out


def _describe(where: str, hint: Any) -> str:
    if hint is bool:
        return "true or false"
    if hint is int:
        return f"an integer {_range_for(where).text()}"
    if hint is float:
        return f"a number {_range_for(where).text()}"
    if hint is str:
        return "a path" if where.endswith(_PATH_SUFFIXES) else "text"
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return "a list"
    if origin in (dict, Mapping) or hint is dict:
        return "a mapping"
    return "a value"


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """Check `value` against the field's type hint and range; lists become tuples, ints floats where due."""
    special = _SPECIAL.get(where)
    if special is not None:
        return special(where, value)
    optional = typing.get_origin(hint) in _UNIONS and type(None) in typing.get_args(hint)
    if optional:
        rest = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else Any
    if hint is Any:
        return value
    if value is None and optional:
        return None

    def wrong() -> SettingsError:
        return SettingsError(f"{where} must be {_describe(where, hint)}{' or null' if optional else ''}, "
                             f"not {_show(value)}")

    if hint is bool:
        if not isinstance(value, bool):
            raise wrong()
        return value
    if hint in (int, float):
        number = (int,) if hint is int else (int, float)
        if (isinstance(value, bool) or not isinstance(value, number) or not math.isfinite(value)
                or not _range_for(where).holds(value)):
            raise wrong()
        return hint(value)
    if hint is str:
        if not isinstance(value, str) or (where.endswith(_PATH_SUFFIXES) and not value.strip()):
            raise wrong()
        return value
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        if where.endswith("_windows"):
            return _windows(where, value)
        if not isinstance(value, (list, tuple)):
            raise wrong()
        if not value and where in _NON_EMPTY:
            raise SettingsError(f"{where} must be a non-empty list")
        args = typing.get_args(hint)
        item = args[0] if args else Any
        return tuple(_coerce(f"{where}[{n}]", v, item) for n, v in enumerate(value))
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise wrong()
        return dict(value)
    return value


def _account(where: str, value: Any) -> Optional[str]:
    if value is None:
        return None
    if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip().isalnum():
        raise SettingsError(f"{where} must be an account number, not {_show(value)}")
    return str(value).strip()


def _sim_start(where: str, value: Any) -> Optional[str]:
    """Epoch seconds or ISO text, checked the way `create_control` reads it; YAML timestamps accepted."""
    import datetime as dt

    if value is None:
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        value = str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return text
        try:
            dt.datetime.fromisoformat(text)
            return text
        except ValueError:
            pass
    raise SettingsError(f"{where} must be epoch seconds or an ISO date and time, not {_show(value)}")


#: key paths whose values need more than a type and a range
_SPECIAL = {"account.default": _account, "sim.start": _sim_start}


def _windows(where: str, value: Any) -> Tuple[Tuple[int, float], ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SettingsError(f"{where} must be a non-empty list of [count, seconds] pairs")
    out = []
    for n, pair in enumerate(value):
        if (
            not isinstance(pair, (list, tuple)) or len(pair) != 2
            or isinstance(pair[0], bool) or not isinstance(pair[0], int) or pair[0] < 1
            or isinstance(pair[1], bool) or not isinstance(pair[1], (int, float))
            or not math.isfinite(pair[1]) or pair[1] <= 0
        ):
            raise SettingsError(f"{where}[{n}] must be a [count >= 1, seconds > 0] pair, not {_show(pair)}")
        out.append((int(pair[0]), float(pair[1])))
    return tuple(out)
