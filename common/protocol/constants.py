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

# -- text and nesting limits on what a client sends (docs/protocol.md §9); a longer string is refused
# with ProtocolError (or InvalidRequest for an op argument) before anything stores or echoes it
#: HELLO.client, the name `status` shows
MAX_CLIENT_NAME_CHARS = 64
#: HELLO.versions entries
MAX_VERSIONS = 16
#: REQUEST.op
MAX_OP_CHARS = 64
#: REQUEST.idem_key
MAX_IDEM_KEY_CHARS = 128
#: every map key inside REQUEST.args (TR input names, argument names)
MAX_KEY_CHARS = 64
#: every text value inside REQUEST.args
MAX_TEXT_CHARS = 4096
#: maps and lists nested inside REQUEST.args, the args map itself counting as one
MAX_ARGS_DEPTH = 16
#: op arguments with a tighter bound (services/broker/requests.py applies them)
MAX_ID_CHARS = 64  # client_order_id, client_order_id_new, order_no, account
MAX_CODE_CHARS = 16  # an instrument, sector or TR code
MAX_NAME_CHARS = 64  # realtime type names, condition names, method names
MAX_TOPIC_CHARS = 255  # a topic or snapshot prefix

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
    ALERT = "ALERT"  # an alerting service's alerts, on its own PUB (docs/protocol.md §4.2)
    BAR = "BAR"  # the bars service's OHLCV bars, on its own PUB (docs/protocol.md §4.2)
    REALTIME_BATCH = "RTB"  # several RT publications in one message, opt-in (docs/protocol.md §4.3)
    REALTIME_POSITIONAL = "RTP"  # the same, values as arrays in field order, opt-in (docs/protocol.md §4.4)
    ALL = (REALTIME, CHEJAN, CONDITION, SYSTEM, HEARTBEAT, ALERT, BAR, REALTIME_BATCH, REALTIME_POSITIONAL)
    #: the types that repeat RT publications several to a message (a whole-stream reader skips them)
    BATCHES = (REALTIME_BATCH, REALTIME_POSITIONAL)
