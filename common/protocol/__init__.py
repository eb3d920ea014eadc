"""The koabus wire protocol v1 (docs/protocol.md): typed messages and the only code that touches frames.

Broker-safe: standard library and msgpack only.
"""
from __future__ import annotations

from .constants import (
    DEFAULT_PUB_ENDPOINT,
    DEFAULT_ROUTER_ENDPOINT,
    HEARTBEAT_INTERVAL_MS,
    MAX_FRAME_BYTES,
    MAX_REPLY_FRAME_BYTES,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    BrokerType,
    ClientType,
    PubType,
)
from .gaps import GapDetector, GapEvent
from .liveness import Liveness
from .messages import (
    Bye,
    Cancel,
    End,
    ErrorReply,
    Hello,
    Part,
    Ping,
    Pong,
    Reply,
    Request,
    Welcome,
    decode_broker,
    decode_client,
    encode_broker,
    encode_client,
)
from .publication import Publication
from .snapshot import SnapshotSync
from .topics import Topic, chejan_topic, condition_topic, realtime_topic, system_topic

__all__ = [
    "BrokerType", "Bye", "Cancel", "ClientType", "DEFAULT_PUB_ENDPOINT", "DEFAULT_ROUTER_ENDPOINT",
    "End", "ErrorReply", "GapDetector", "GapEvent", "HEARTBEAT_INTERVAL_MS", "Hello", "Liveness",
    "MAX_FRAME_BYTES", "MAX_REPLY_FRAME_BYTES", "PROTOCOL_VERSION", "Part", "Ping", "Pong", "PubType",
    "Publication", "Reply", "Request", "SUPPORTED_VERSIONS", "SnapshotSync", "Topic", "Welcome",
    "chejan_topic", "condition_topic", "decode_broker", "decode_client", "encode_broker",
    "encode_client", "realtime_topic", "system_topic",
]
