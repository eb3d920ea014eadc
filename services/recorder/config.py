"""Recorder settings: YAML plus command-line overrides turned once into frozen, typed dataclasses.

The same rules as the broker's and the relay's (services/broker/config.py, whose loader this reuses):
unknown keys are refused, every value is checked by its type, secrets never appear in `repr`.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Optional, Tuple

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import (
    SettingsError,
    _build,
    check_endpoint,
    is_local_endpoint,
    load_mapping,
)
from koabus.services.skeleton.settings import BusServiceSettings, CurveClientSettings

DEFAULT_STATUS = "tcp://127.0.0.1:5590"
DEFAULT_LAKE = "./data"
SINK_KINDS = ("parquet", "postgres")
#: services recorded beside the broker at most (a journal record's source is four bits, 0 the broker)
MAX_SERVICES = 15

__all__ = ["CurveClientSettings", "RecorderSettings", "ServiceSource", "SettingsError", "load_settings",
           "settings_from_dict"]


@dataclass(frozen=True)
class ServiceSource:
    """Another service's PUB recorded beside the broker's: by default the alerting service's alerts
    (`alert.<rule>`, the lake's `alerts` table). It has its own epoch and sequence numbers, so its gaps
    are tracked apart from the broker's stream."""

    endpoint: str = SERVICE_STATUS_ENDPOINTS["alerting"]
    prefixes: Tuple[str, ...] = ("alert.",)
    #: names the source in gap rows' cause and in the journal; empty: the service whose default status
    #: endpoint this is (common.heartbeat.SERVICE_STATUS_ENDPOINTS), else the endpoint itself
    name: str = ""

    def __post_init__(self) -> None:
        check_endpoint("services.endpoint", self.endpoint)
        if not is_local_endpoint(self.endpoint):
            raise SettingsError(f"services: {self.endpoint} must be on this host (127.0.0.1, ipc or inproc)")
        if not self.prefixes or not all(isinstance(p, str) and p.isascii() for p in self.prefixes):
            raise SettingsError(f"services: {self.endpoint} needs a list of ASCII topic prefixes")
        if len(self.name) > 64:
            raise SettingsError("services.name must be at most 64 characters")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        for service, endpoint in SERVICE_STATUS_ENDPOINTS.items():
            if endpoint == self.endpoint:
                return service
        return self.endpoint

    @property
    def whole_stream(self) -> bool:
        return "" in self.prefixes


@dataclass(frozen=True)
class RealtimeSettings:
    """The realtime pairs (codes x types) the recorder asks the broker to publish (`subscribe` op)."""

    codes: Tuple[str, ...] = ()
    types: Tuple[str, ...] = ("trade", "quote", "book")

    def __post_init__(self) -> None:
        if self.codes and not self.types:
            raise SettingsError("realtime.types must name at least one realtime type when codes are given")


@dataclass(frozen=True)
class PostgresSettings:
    """The PostgreSQL sink's connection (used when `sinks` lists postgres)."""

    dsn: str = field(default="", repr=False)
    schema: str = "koabus"


@dataclass(frozen=True)
class RecorderSettings(BusServiceSettings):
    """Everything one recorder needs, built once at the edge and passed down. Its broker (or relay) is
    the one it records; its status PUB carries `sys.hb.recorder` (rows written, gaps, lag, disk use)."""

    name: str = "koabus-recorder"
    status: str = DEFAULT_STATUS
    #: the lake's root directory; the journal lives in `<lake>/_recorder/`
    lake: str = DEFAULT_LAKE
    sinks: Tuple[str, ...] = ("parquet",)
    postgres: PostgresSettings = PostgresSettings()
    #: topic prefixes recorded; [""] is everything the broker publishes (whole-stream gap tracking)
    topics: Tuple[str, ...] = ("",)
    realtime: RealtimeSettings = RealtimeSettings()
    #: other services' PUBs recorded too (endpoint + topic prefixes), each with its own gap tracking
    services: Tuple[ServiceSource, ...] = (ServiceSource(),)
    #: the journal is fsynced at most this often: a kill -9 loses at most this much
    flush_interval_s: float = 1.0
    #: the journal is rolled into the sinks at least this often
    roll_interval_s: float = 30.0
    #: ...and as soon as the journal segment holds this many records (bounds a roller's batch)
    max_buffer_rows: int = 200_000
    #: journal bytes waiting to be rolled before intake pauses (the loss then is `overflow` gap rows)
    max_unrolled_bytes: int = 2 << 30
    #: roller processes (journal segments -> Arrow -> sinks, in parallel; commits stay in order)
    rollers: int = 1
    #: the intake SUB's receive high-water mark (messages ZeroMQ queues while intake is busy)
    rcvhwm: int = 500_000
    #: a roll waits at most this long for a gap repair (snapshot) in flight
    repair_wait_s: float = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.lake.strip():
            raise SettingsError("lake must be a directory path")
        if not self.sinks:
            raise SettingsError(f"sinks must list at least one of {', '.join(SINK_KINDS)}")
        for kind in self.sinks:
            if kind not in SINK_KINDS:
                raise SettingsError(f"sinks: {kind!r} is not one of {', '.join(SINK_KINDS)}")
        if "postgres" in self.sinks and not self.postgres.dsn:
            raise SettingsError("the postgres sink needs postgres.dsn (e.g. postgresql://postgres@127.0.0.1/koabus)")
        if not self.topics:
            raise SettingsError('topics must list at least one prefix ("" records everything)')
        if self.max_buffer_rows < 1:
            raise SettingsError(f"max_buffer_rows must be an integer >= 1, not {self.max_buffer_rows!r}")
        if self.max_unrolled_bytes < 1 << 20:
            raise SettingsError(f"max_unrolled_bytes must be at least 1 MiB, not {self.max_unrolled_bytes!r}")
        if not 1 <= self.rollers <= 16:
            raise SettingsError(f"rollers must be an integer from 1 to 16, not {self.rollers!r}")
        if self.rcvhwm < 0:
            raise SettingsError(f"rcvhwm must be an integer >= 0 (0: unbounded), not {self.rcvhwm!r}")
        if self.roll_interval_s < self.flush_interval_s:
            raise SettingsError("roll_interval_s must be at least flush_interval_s")
        if len(self.services) > MAX_SERVICES:
            raise SettingsError(f"services may list at most {MAX_SERVICES} sources")
        labels = [s.label for s in self.services]
        if len(set(labels)) != len(labels):
            raise SettingsError(f"services: two sources are named alike ({', '.join(labels)}); give each a name")
        for source in self.services:
            if source.endpoint in (self.pub, self.status):
                raise SettingsError(f"services: {source.endpoint} is the recorder's pub or status endpoint")

    @property
    def whole_stream(self) -> bool:
        """Everything is recorded, so the bus-wide `seq` is checked too."""
        return "" in self.topics


def settings_from_dict(data: Mapping[str, Any]) -> RecorderSettings:
    """Build RecorderSettings from a plain mapping; unknown keys raise SettingsError."""
    if "services" not in data:
        return _build(RecorderSettings, data, "")
    services = data["services"]
    if services is None:
        services = []
    if not isinstance(services, (list, tuple)):
        raise SettingsError("services must be a list of {endpoint, prefixes, name} mappings")
    built = tuple(_build(ServiceSource, item, f"services[{n}].") for n, item in enumerate(services))
    rest = {key: value for key, value in data.items() if key != "services"}
    return replace(_build(RecorderSettings, rest, ""), services=built)


def load_settings(path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> RecorderSettings:
    """Read `path` (YAML mapping) if given, apply `overrides` (dotted keys; None skipped), validate."""
    return settings_from_dict(load_mapping(path, overrides))
