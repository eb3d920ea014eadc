"""Connection options for the SDK: endpoints, timeouts, heartbeat, reconnect backoff and CURVE keys."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Optional

from koabus.common.protocol import DEFAULT_PUB_ENDPOINT, DEFAULT_ROUTER_ENDPOINT, HEARTBEAT_INTERVAL_MS
from koabus.common.protocol.constants import HEARTBEAT_LIVENESS

#: what a stream may do when its own buffer overflows (ClientOptions.stream_overflow)
STREAM_OVERFLOW_MODES = ("gap", "raise")
#: ops the broker may hold back for a minute (the same condition is searched at most once a minute)
PACED_CONDITION_OPS = frozenset({"condition_search", "condition_watch"})


@dataclass(frozen=True)
class CurveKeys:
    """CURVE keys (Z85 text, 40 chars): the broker's public key and this client's key pair.

    The secret key never appears in `repr`.
    """

    server_public_key: str
    public_key: str
    secret_key: str = field(repr=False)

    @classmethod
    def from_keys_dir(cls, keys_dir: str, key: str, server_public_key: Optional[str] = None) -> CurveKeys:
        """The key pair `key` (a name in `keys_dir`, written by `koabus keys generate`, or a path to its
        .key_secret file, refused when other users can read it) and the broker's public key
        (`server_public_key`, else `keys_dir/server.key`)."""
        from koabus.common.keys import client_keys

        return cls(*client_keys(keys_dir, key, server_public_key))

    def apply(self, socket: Any) -> None:
        """Make `socket` a CURVE client of the broker (before connect)."""
        import zmq

        socket.setsockopt(zmq.CURVE_SERVERKEY, _z85(self.server_public_key))
        socket.setsockopt(zmq.CURVE_PUBLICKEY, _z85(self.public_key))
        socket.setsockopt(zmq.CURVE_SECRETKEY, _z85(self.secret_key))


def _z85(key: str | bytes) -> bytes:
    raw = key.encode("ascii") if isinstance(key, str) else bytes(key)
    if len(raw) != 40:
        raise ValueError("a CURVE key is 40 characters of Z85 text")
    return raw


@dataclass(frozen=True)
class ClientOptions:
    """Everything a client connection needs; build once and pass it to AsyncClient/Client.

    timeout_s: default deadline of a single request (a reply, not a whole stream).
    condition_timeout_s: the same for `condition_search`/`condition_watch`, which the broker paces
        (one search of a condition per minute, Kiwoom's rule) by queueing, not failing.
    connect_timeout_s: how long `connect()` keeps trying to get a WELCOME before Unavailable.
    heartbeat_ms / liveness: the broker is presumed dead after `liveness` silent intervals.
    reconnect_min_s / reconnect_max_s: exponential backoff between HELLO attempts after a loss.
    """

    router: str = DEFAULT_ROUTER_ENDPOINT
    pub: str = DEFAULT_PUB_ENDPOINT
    timeout_s: float = 30.0
    condition_timeout_s: float = 90.0
    connect_timeout_s: float = 10.0
    hello_timeout_s: float = 2.0
    heartbeat_ms: int = HEARTBEAT_INTERVAL_MS
    liveness: int = HEARTBEAT_LIVENESS
    reconnect_min_s: float = 0.1
    reconnect_max_s: float = 5.0
    client_name: str = "koabus-client"
    curve: Optional[CurveKeys] = None
    #: most events a stream buffers for a slow consumer; older ones are dropped and counted
    max_stream_queue: int = 100_000
    #: what a stream does when that buffer overflowed, at the next read: "gap" reports a gap event to
    #: the `on_gap` callbacks (reason "overflow") and goes on; "raise" raises StreamOverflow
    stream_overflow: str = "gap"
    #: column names in English (metadata name_en) instead of Korean
    english: bool = False

    def __post_init__(self) -> None:
        if self.stream_overflow not in STREAM_OVERFLOW_MODES:
            raise ValueError(f"stream_overflow must be one of {', '.join(STREAM_OVERFLOW_MODES)}, "
                             f"not {self.stream_overflow!r}")
        if self.max_stream_queue < 1:
            raise ValueError(f"max_stream_queue must be 1 or more, not {self.max_stream_queue!r}")

    def timeout_for(self, op: str) -> float:
        """The default deadline of a request for `op`."""
        return self.condition_timeout_s if op in PACED_CONDITION_OPS else self.timeout_s

    def with_(self, **changes: Any) -> ClientOptions:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
