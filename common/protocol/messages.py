"""Request/reply messages between a client DEALER and the broker ROUTER (docs/protocol.md §3).

Frame layout, after the ROUTER's identity frame:
    [envelope, body]
    envelope = msgpack [version:int, type:str, request_id:int]
    body     = msgpack map, keys per message type; unknown keys are ignored

`encode_*` and `decode_*` are the only functions that build or read these frames. Decoding never
raises anything but ProtocolError (or its subclasses), and the error's `details["request_id"]`
carries the request id whenever the envelope was readable, so the broker can still answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple, Type

from ..errors import KoabusError, ProtocolError, VersionMismatch, error_from_wire
from .codec import pack, unpack
from .constants import (
    MAX_ARGS_DEPTH,
    MAX_CLIENT_NAME_CHARS,
    MAX_FRAME_BYTES,
    MAX_IDEM_KEY_CHARS,
    MAX_KEY_CHARS,
    MAX_OP_CHARS,
    MAX_REPLY_FRAME_BYTES,
    MAX_TEXT_CHARS,
    MAX_VERSIONS,
    PROTOCOL_VERSION,
    SUPPORTED_VERSIONS,
    BrokerType,
    ClientType,
)

MAX_REQUEST_ID = (1 << 63) - 1
_INT = (int,)
_STR = (str,)
_ANY = (object,)


def _is_type(value: Any, types: Tuple[type, ...]) -> bool:
    if types is _ANY:
        return True
    if isinstance(value, bool) and bool not in types:
        return False
    return isinstance(value, types)


def _too_long(where: str, text: str, limit: int, request_id: int) -> ProtocolError:
    """The refusal of an over-long string: names the field and the limit, never echoes the text."""
    return ProtocolError(f"{where} is {len(text)} characters long; the limit is {limit}",
                         details={"request_id": request_id, "limit": limit})


def _check_text(where: str, text: Optional[str], limit: int, request_id: int) -> None:
    if text is not None and len(text) > limit:
        raise _too_long(where, text, limit, request_id)


def _path(parts: Tuple[Any, ...]) -> str:
    return "REQUEST.args" + "".join(f".{p}" if isinstance(p, str) else f"[{p!r:.20}]" for p in parts)


def _check_args(args: Dict[str, Any], request_id: int) -> None:
    """Bound every map key, text value and nesting level inside REQUEST.args (iterative: no recursion
    limit to hit). Lists of plain scalars, the common big case (20,000 codes), are checked in C."""
    stack: List[Tuple[Any, Tuple[Any, ...]]] = [(args, ())]
    while stack:
        node, parts = stack.pop()
        if len(parts) >= MAX_ARGS_DEPTH:
            raise ProtocolError(f"REQUEST.args nests deeper than {MAX_ARGS_DEPTH} levels",
                                details={"request_id": request_id, "limit": MAX_ARGS_DEPTH})
        if isinstance(node, dict):
            pairs: Any = node.items()
            for key in node:
                if isinstance(key, str) and len(key) > MAX_KEY_CHARS:
                    raise ProtocolError(f"{_path(parts)} has a key {len(key)} characters long; the limit is "
                                        f"{MAX_KEY_CHARS}", details={"request_id": request_id, "limit": MAX_KEY_CHARS})
        else:
            kinds = set(map(type, node))
            if not kinds & {str, dict, list}:
                continue
            if kinds == {str} and max(map(len, node)) <= MAX_TEXT_CHARS:
                continue
            pairs = enumerate(node)
        for key, value in pairs:
            if isinstance(value, str):
                if len(value) > MAX_TEXT_CHARS:
                    raise _too_long(_path(parts + (key,)), value, MAX_TEXT_CHARS, request_id)
            elif isinstance(value, (dict, list)):
                stack.append((value, parts + (key,)))


@dataclass(frozen=True)
class Message:
    """Base of every request/reply message. `TYPE` is the envelope type; `SPEC` types the body."""

    request_id: int
    TYPE: ClassVar[str] = ""
    #: body key -> (accepted types, required)
    SPEC: ClassVar[Dict[str, Tuple[Tuple[type, ...], bool]]] = {}

    def body(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "request_id"}

    def to_frames(self) -> List[bytes]:
        return [pack([PROTOCOL_VERSION, self.TYPE, self.request_id]), pack(self.body())]

    @classmethod
    def from_body(cls, request_id: int, body: Dict[str, Any]) -> Message:
        values: Dict[str, Any] = {}
        for name, (types, required) in cls.SPEC.items():
            if name not in body or body[name] is None:
                if required:
                    raise ProtocolError(f"{cls.TYPE} needs '{name}'", details={"request_id": request_id})
                continue
            value = body[name]
            if not _is_type(value, types):
                want = "/".join(t.__name__ for t in types)
                raise ProtocolError(f"{cls.TYPE}.{name} must be {want}, not {type(value).__name__}",
                                    details={"request_id": request_id})
            values[name] = value
        return cls._build(request_id, values)

    @classmethod
    def _build(cls, request_id: int, values: Dict[str, Any]) -> Message:
        return cls(request_id, **values)


# ---- client -> broker ------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello(Message):
    """Opens a session: the versions the client speaks and its heartbeat interval."""

    versions: Tuple[int, ...] = SUPPORTED_VERSIONS
    client: str = ""
    heartbeat_ms: int = 1000
    TYPE: ClassVar[str] = ClientType.HELLO
    SPEC: ClassVar = {"versions": ((list, tuple), True), "client": (_STR, False), "heartbeat_ms": (_INT, False)}

    @classmethod
    def _build(cls, request_id: int, values: Dict[str, Any]) -> Message:
        _check_text("HELLO.client", values.get("client"), MAX_CLIENT_NAME_CHARS, request_id)
        versions = values.get("versions", ())
        if len(versions) > MAX_VERSIONS:
            raise ProtocolError(f"HELLO.versions lists {len(versions)} versions; the limit is {MAX_VERSIONS}",
                                details={"request_id": request_id, "limit": MAX_VERSIONS})
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in versions):
            raise ProtocolError("HELLO.versions must be integers", details={"request_id": request_id})
        values["versions"] = tuple(versions)
        return cls(request_id, **values)

    def body(self) -> Dict[str, Any]:
        return {"versions": list(self.versions), "client": self.client, "heartbeat_ms": self.heartbeat_ms}


@dataclass(frozen=True)
class Request(Message):
    """An operation with arguments; optional relative deadline and idempotency key."""

    op: str = ""
    args: Dict[str, Any] = field(default_factory=dict)
    deadline_ms: Optional[int] = None
    idem_key: Optional[str] = None
    TYPE: ClassVar[str] = ClientType.REQUEST
    SPEC: ClassVar = {"op": (_STR, True), "args": ((dict,), False), "deadline_ms": (_INT, False),
                      "idem_key": (_STR, False)}

    @classmethod
    def _build(cls, request_id: int, values: Dict[str, Any]) -> Message:
        _check_text("REQUEST.op", values["op"], MAX_OP_CHARS, request_id)
        _check_text("REQUEST.idem_key", values.get("idem_key"), MAX_IDEM_KEY_CHARS, request_id)
        args = values.get("args", {})
        if not all(isinstance(k, str) for k in args):
            raise ProtocolError("REQUEST.args keys must be strings", details={"request_id": request_id})
        _check_args(args, request_id)
        deadline = values.get("deadline_ms")
        if deadline is not None and deadline <= 0:
            raise ProtocolError("REQUEST.deadline_ms must be positive", details={"request_id": request_id})
        return cls(request_id, **values)


@dataclass(frozen=True)
class Cancel(Message):
    """Stops the stream of `request_id` (paging stops; an order stream detaches, the order stays)."""

    TYPE: ClassVar[str] = ClientType.CANCEL


@dataclass(frozen=True)
class Ping(Message):
    """Client liveness; the broker answers PONG."""

    TYPE: ClassVar[str] = ClientType.PING


@dataclass(frozen=True)
class Bye(Message):
    """The client leaves: the broker releases its subscriptions and streams at once."""

    TYPE: ClassVar[str] = ClientType.BYE


# ---- broker -> client ------------------------------------------------------------------------

@dataclass(frozen=True)
class Welcome(Message):
    """Answer to HELLO: the chosen version and what the client should know about this broker."""

    version: int = PROTOCOL_VERSION
    epoch: int = 0
    broker: str = ""
    server: Dict[str, Any] = field(default_factory=dict)
    heartbeat_ms: int = 1000
    max_frame_bytes: int = MAX_FRAME_BYTES
    #: a client silent this long loses its subscriptions and streams: send PING (or anything) sooner
    client_lease_ms: int = 10_000
    TYPE: ClassVar[str] = BrokerType.WELCOME
    SPEC: ClassVar = {"version": (_INT, True), "epoch": (_INT, True), "broker": (_STR, False),
                      "server": ((dict,), False), "heartbeat_ms": (_INT, False),
                      "max_frame_bytes": (_INT, False), "client_lease_ms": (_INT, False)}


@dataclass(frozen=True)
class Reply(Message):
    """The single, final answer to a request."""

    result: Any = None
    TYPE: ClassVar[str] = BrokerType.REPLY
    SPEC: ClassVar = {"result": (_ANY, False)}


@dataclass(frozen=True)
class Part(Message):
    """One part of a streamed answer; `n` counts from 0 so a client can spot a lost part."""

    n: int = 0
    data: Any = None
    TYPE: ClassVar[str] = BrokerType.PART
    SPEC: ClassVar = {"n": (_INT, True), "data": (_ANY, False)}


@dataclass(frozen=True)
class End(Message):
    """Closes a stream after `parts` parts; `result` may summarise it."""

    parts: int = 0
    result: Any = None
    TYPE: ClassVar[str] = BrokerType.END
    SPEC: ClassVar = {"parts": (_INT, True), "result": (_ANY, False)}


@dataclass(frozen=True)
class ErrorReply(Message):
    """A typed failure, final for its request. `kind` names a class in koabus.common.errors."""

    kind: str = "KoabusError"
    code: Optional[int] = None
    message: str = ""
    details: Dict[str, Any] = field(default_factory=dict)
    TYPE: ClassVar[str] = BrokerType.ERROR
    SPEC: ClassVar = {"kind": (_STR, True), "code": (_INT, False), "message": (_STR, False),
                      "details": ((dict,), False)}

    @classmethod
    def from_exception(cls, request_id: int, exc: BaseException) -> ErrorReply:
        if isinstance(exc, KoabusError):
            wire = exc.to_wire()
            details = {k: v for k, v in wire["details"].items() if k != "request_id"}
            return cls(request_id, wire["kind"], wire["code"], wire["message"], details)
        return cls(request_id, "KoabusError", None, f"{type(exc).__name__}: {exc}", {})

    def to_exception(self) -> KoabusError:
        return error_from_wire({"kind": self.kind, "code": self.code, "message": self.message,
                                "details": self.details})


@dataclass(frozen=True)
class Pong(Message):
    """Answer to PING, with the broker's current epoch and publication sequence."""

    epoch: int = 0
    seq: int = 0
    TYPE: ClassVar[str] = BrokerType.PONG
    SPEC: ClassVar = {"epoch": (_INT, True), "seq": (_INT, True)}


_CLIENT: Dict[str, Type[Message]] = {c.TYPE: c for c in (Hello, Request, Cancel, Ping, Bye)}
_BROKER: Dict[str, Type[Message]] = {c.TYPE: c for c in (Welcome, Reply, Part, End, ErrorReply, Pong)}


def _readable_request_id(frames: Any, max_bytes: int) -> Dict[str, Any]:
    """`{"request_id": n}` when a message with the wrong frame count still starts with a readable envelope,
    so the answer can name the request it refuses (docs/protocol.md §3.1); else `{}`."""
    if not isinstance(frames, (list, tuple)) or not frames or not isinstance(frames[0], (bytes, bytearray)):
        return {}
    try:
        envelope = unpack(frames[0], max_bytes, "envelope")
    except ProtocolError:
        return {}
    if isinstance(envelope, list) and len(envelope) == 3:
        request_id = envelope[2]
        if not isinstance(request_id, bool) and isinstance(request_id, int) and 0 <= request_id <= MAX_REQUEST_ID:
            return {"request_id": request_id}
    return {}


def _decode(frames: Sequence[bytes], table: Dict[str, Type[Message]], max_bytes: int) -> Message:
    if not isinstance(frames, (list, tuple)) or len(frames) != 2:
        count = len(frames) if isinstance(frames, (list, tuple)) else "?"
        raise ProtocolError(f"expected 2 frames [envelope, body], got {count}",
                            details=_readable_request_id(frames, max_bytes))
    envelope = unpack(frames[0], max_bytes, "envelope")
    if not isinstance(envelope, list) or len(envelope) != 3:
        raise ProtocolError("envelope must be [version, type, request_id]")
    version, kind, request_id = envelope
    if isinstance(request_id, bool) or not isinstance(request_id, int) or not 0 <= request_id <= MAX_REQUEST_ID:
        raise ProtocolError("request_id must be an integer in [0, 2^63)")
    details = {"request_id": request_id}
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProtocolError("version must be an integer", details=details)
    if version not in SUPPORTED_VERSIONS:
        raise VersionMismatch(f"protocol version {version} is not supported",
                              details={**details, "supported": list(SUPPORTED_VERSIONS)})
    cls = table.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}", details=details)
    try:
        body = unpack(frames[1], max_bytes, "body")
    except ProtocolError as exc:
        exc.details.setdefault("request_id", request_id)
        raise
    if not isinstance(body, dict):
        raise ProtocolError("body must be a map", details=details)
    return cls.from_body(request_id, body)


def encode_client(msg: Message) -> List[bytes]:
    """Frames a client sends on its DEALER socket."""
    if type(msg) not in _CLIENT.values():
        raise TypeError(f"{type(msg).__name__} is not a client message")
    return msg.to_frames()


def decode_client(frames: Sequence[bytes], max_bytes: int = MAX_FRAME_BYTES) -> Message:
    """Broker side: decode what a client sent (identity frame already removed)."""
    return _decode(frames, _CLIENT, max_bytes)


def encode_broker(msg: Message) -> List[bytes]:
    """Frames the broker sends on its ROUTER socket (before the identity frame)."""
    if type(msg) not in _BROKER.values():
        raise TypeError(f"{type(msg).__name__} is not a broker message")
    return msg.to_frames()


def decode_broker(frames: Sequence[bytes], max_bytes: int = MAX_REPLY_FRAME_BYTES) -> Message:
    """Client side: decode what the broker sent."""
    return _decode(frames, _BROKER, max_bytes)
