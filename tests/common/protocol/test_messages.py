"""Round trips and hostile input for the request/reply codec."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koabus.common.errors import KiwoomError, MessageTooLarge, ProtocolError, Timeout, VersionMismatch
from koabus.common.protocol import (
    MAX_FRAME_BYTES,
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

request_ids = st.integers(min_value=0, max_value=(1 << 63) - 1)
texts = st.text(max_size=40)
ints = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)
scalars = st.none() | st.booleans() | ints | st.floats(allow_nan=False) | texts | st.binary(max_size=20)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(texts, inner, max_size=4), max_leaves=12)
arg_maps = st.dictionaries(texts, values, max_size=5)

client_messages = st.one_of(
    st.builds(Hello, request_ids, st.lists(st.integers(0, 9), max_size=3).map(tuple), texts,
              st.integers(1, 60_000)),
    st.builds(Request, request_ids, texts, arg_maps, st.none() | st.integers(1, 10**9), st.none() | texts),
    st.builds(Cancel, request_ids),
    st.builds(Ping, request_ids),
    st.builds(Bye, request_ids),
)
broker_messages = st.one_of(
    st.builds(Welcome, request_ids, st.integers(0, 9), st.integers(0, 1 << 62), texts, arg_maps,
              st.integers(1, 10**6), st.integers(1, 10**9)),
    st.builds(Reply, request_ids, values),
    st.builds(Part, request_ids, st.integers(0, 10**9), values),
    st.builds(End, request_ids, st.integers(0, 10**9), values),
    st.builds(ErrorReply, request_ids, texts, st.none() | st.integers(-999, 999), texts, arg_maps),
    st.builds(Pong, request_ids, st.integers(0, 1 << 62), st.integers(0, 1 << 62)),
)


@given(client_messages)
def test_every_client_message_round_trips(msg):
    assert decode_client(encode_client(msg)) == msg


@given(broker_messages)
def test_every_broker_message_round_trips(msg):
    assert decode_broker(encode_broker(msg)) == msg


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=64), max_size=4))
def test_random_frames_raise_only_protocol_errors(frames):
    for decode in (decode_client, decode_broker):
        try:
            decode(frames)
        except ProtocolError:
            pass


@settings(max_examples=300)
@given(st.lists(values, min_size=0, max_size=4), values)
def test_random_msgpack_structures_raise_only_protocol_errors(envelope, body):
    frames = [msgpack.packb(envelope, use_bin_type=True), msgpack.packb(body, use_bin_type=True)]
    try:
        msg = decode_client(frames)
    except ProtocolError:
        return
    assert msg.request_id == envelope[2]


def test_an_envelope_error_keeps_the_request_id_so_the_broker_can_answer():
    frames = [msgpack.packb([1, "REQUEST", 42]), msgpack.packb({"op": 5})]
    with pytest.raises(ProtocolError) as info:
        decode_client(frames)
    assert info.value.details["request_id"] == 42
    assert "op" in str(info.value)


def test_unknown_type_wrong_frame_count_and_non_map_body():
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode_client([msgpack.packb([1, "EXPLODE", 1]), msgpack.packb({})])
    with pytest.raises(ProtocolError, match="expected 2 frames"):
        decode_client([msgpack.packb([1, "PING", 1])])
    with pytest.raises(ProtocolError, match="must be a map"):
        decode_client([msgpack.packb([1, "PING", 1]), msgpack.packb([1, 2])])
    with pytest.raises(ProtocolError, match="request_id"):
        decode_client([msgpack.packb([1, "PING", -1]), msgpack.packb({})])


def test_a_broker_message_is_not_accepted_from_a_client():
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode_client(encode_broker(Reply(1, "x")))
    with pytest.raises(TypeError):
        encode_client(Reply(1, "x"))


def test_wrong_version_is_a_typed_version_mismatch_listing_what_we_speak():
    with pytest.raises(VersionMismatch) as info:
        decode_client([msgpack.packb([2, "PING", 9]), msgpack.packb({})])
    assert info.value.details == {"request_id": 9, "supported": [1]}


def test_oversized_frames_are_refused_before_decoding():
    big = Request(1, "call", {"blob": ["x" * 1000] * (MAX_FRAME_BYTES // 1000 + 10)})
    with pytest.raises(MessageTooLarge) as info:
        decode_client(big.to_frames())
    assert info.value.details["limit"] == MAX_FRAME_BYTES
    assert decode_client(big.to_frames(), max_bytes=4 * MAX_FRAME_BYTES).op == "call"


def test_msgpack_extension_types_are_refused():
    ext = msgpack.packb(msgpack.ExtType(5, b"boom"))
    with pytest.raises(ProtocolError, match="extension"):
        decode_client([msgpack.packb([1, "REQUEST", 1]), msgpack.packb({"op": "x", "args": {"a": 1}})[:-1] + ext])


def test_bools_are_not_integers_on_the_wire():
    with pytest.raises(ProtocolError, match="deadline_ms"):
        decode_client([msgpack.packb([1, "REQUEST", 1]), msgpack.packb({"op": "x", "deadline_ms": True})])


def test_unknown_body_keys_are_ignored_for_forward_compatibility():
    frames = [msgpack.packb([1, "REQUEST", 3]), msgpack.packb({"op": "status", "future_field": [1, 2]})]
    assert decode_client(frames) == Request(3, "status")


def test_error_replies_rebuild_the_exception_class_and_kiwoom_code():
    err = decode_broker(encode_broker(ErrorReply.from_exception(5, KiwoomError(-308, "주문전송 과부하"))))
    exc = err.to_exception()
    assert isinstance(exc, KiwoomError) and exc.code == -308 and "과부하" in exc.message
    assert isinstance(ErrorReply.from_exception(1, Timeout("late")).to_exception(), Timeout)
    unknown = ErrorReply(1, "FromTheFuture", None, "new kind", {}).to_exception()
    assert type(unknown).__name__ == "KoabusError" and unknown.details["kind"] == "FromTheFuture"
    plain = ErrorReply.from_exception(1, ValueError("bad"))
    assert plain.kind == "KoabusError" and "ValueError" in plain.message


# ---- string and nesting limits (docs/protocol.md §9) ----------------------------------------

def _client_error(envelope, body):
    with pytest.raises(ProtocolError) as info:
        decode_client([msgpack.packb(envelope), msgpack.packb(body)])
    return info.value


@pytest.mark.parametrize("kind, body, what", [
    ("HELLO", {"versions": [1], "client": "n" * 10_000}, "HELLO.client"),
    ("HELLO", {"versions": list(range(100))}, "HELLO.versions"),
    ("REQUEST", {"op": "o" * 65}, "REQUEST.op"),
    ("REQUEST", {"op": "status", "idem_key": "k" * 129}, "REQUEST.idem_key"),
    ("REQUEST", {"op": "tr", "args": {"inputs": {"k" * 65: "1"}}}, "REQUEST.args.inputs"),
    ("REQUEST", {"op": "call", "args": {"args": ["x" * 4097]}}, "REQUEST.args.args[0]"),
    ("REQUEST", {"op": "call", "args": {"args": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}}, "REQUEST.args"),
])
def test_strings_and_nesting_from_a_client_are_bounded(kind, body, what):
    err = _client_error([1, kind, 31], body)
    assert err.details["request_id"] == 31
    assert str(err).startswith(what), str(err)
    assert len(str(err)) < 200  # the refusal never echoes the hostile text


def test_strings_at_the_limits_pass():
    from koabus.common.protocol.constants import (
        MAX_CLIENT_NAME_CHARS,
        MAX_IDEM_KEY_CHARS,
        MAX_KEY_CHARS,
        MAX_OP_CHARS,
        MAX_TEXT_CHARS,
    )

    hello = Hello(1, (1,), "c" * MAX_CLIENT_NAME_CHARS)
    assert decode_client(encode_client(hello)) == hello
    req = Request(2, "o" * MAX_OP_CHARS, {"k" * MAX_KEY_CHARS: ["x" * MAX_TEXT_CHARS, {"y": "z"}]},
                  idem_key="i" * MAX_IDEM_KEY_CHARS)
    assert decode_client(encode_client(req)) == req
    many = Request(3, "subscribe", {"codes": ["005930"] * 20_000})
    assert decode_client(encode_client(many)) == many
