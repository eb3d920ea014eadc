"""Protocol constants: version, message type names, size limits, default endpoints and timers."""
from __future__ import annotations

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)

DEFAULT_ROUTER_ENDPOINT = "tcp://127.0.0.1:5570"
DEFAULT_PUB_ENDPOINT = "tcp://127.0.0.1:5571"

#: largest frame a client may send (requests are small; anything larger is refused with MessageTooLarge)
MAX_FRAME_BYTES = 1 << 20
#: largest frame the broker sends in a reply or publication; bigger answers are split into parts
MAX_REPLY_FRAME_BYTES = 4 << 20
#: hard transport cap (ZMQ_MAXMSGSIZE) the broker sets so a hostile peer cannot make it buffer more
TRANSPORT_MAX_BYTES = 16 << 20

HEARTBEAT_INTERVAL_MS = 1000
#: a peer is presumed dead after this many missed heartbeat intervals
HEARTBEAT_LIVENESS = 3
#: a client's realtime subscriptions are released this long after its last message
CLIENT_LEASE_MS = 10_000


class ClientType:
    """Message types a client sends on its DEALER socket."""

    HELLO = "HELLO"
    REQUEST = "REQUEST"
    CANCEL = "CANCEL"
    PING = "PING"
    BYE = "BYE"
    ALL = (HELLO, REQUEST, CANCEL, PING, BYE)


class BrokerType:
    """Message types the broker sends on its ROUTER socket."""

    WELCOME = "WELCOME"
    REPLY = "REPLY"
    PART = "PART"
    END = "END"
    ERROR = "ERROR"
    PONG = "PONG"
    ALL = (WELCOME, REPLY, PART, END, ERROR, PONG)
    FINAL = (REPLY, END, ERROR)


class PubType:
    """Message types on the PUB socket."""

    REALTIME = "RT"
    CHEJAN = "CHEJAN"
    CONDITION = "COND"
    SYSTEM = "SYS"
    HEARTBEAT = "HB"
    ALL = (REALTIME, CHEJAN, CONDITION, SYSTEM, HEARTBEAT)
