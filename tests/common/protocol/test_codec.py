"""The payload codec refuses every msgpack extension type, the timestamp type (-1) included (docs/protocol.md §2)."""
from __future__ import annotations

from datetime import datetime, timezone

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from koabus.common.errors import ProtocolError
from koabus.common.protocol import decode_broker, decode_client
from koabus.common.protocol.codec import unpack

LIMIT = 1 << 20

#: every encoding msgpack-python turns into a Timestamp: fixext 4/8, ext 8 with 12 bytes, and the
#: non-canonical ext 8/16/32 headers with 4, 8 or 12 data bytes
TIMESTAMP_ENCODINGS = [
    msgpack.packb(msgpack.Timestamp(1_700_000_000, 0)),  # fixext 4
    msgpack.packb(msgpack.Timestamp(1_700_000_000, 5)),  # fixext 8
    msgpack.packb(msgpack.Timestamp(-1, 5)),  # ext 8, 12 bytes
    msgpack.packb(datetime(2024, 3, 6, 1, 2, 3, tzinfo=timezone.utc), datetime=True),
    b"\xc7\x04\xff" + (1).to_bytes(4, "big"),
    b"\xc8\x00\x08\xff" + bytes(8),
    b"\xc9\x00\x00\x00\x0c\xff" + bytes(12),
]


@pytest.mark.parametrize("encoded", TIMESTAMP_ENCODINGS, ids=lambda b: b[:6].hex())
def test_the_timestamp_extension_is_refused(encoded):
    assert isinstance(msgpack.unpackb(encoded, timestamp=0), msgpack.Timestamp)  # what msgpack would make
    with pytest.raises(ProtocolError, match="extension"):
        unpack(encoded, LIMIT)
    with pytest.raises(ProtocolError, match="extension"):
        unpack(b"\x81\xa1a" + encoded, LIMIT)  # {"a": <timestamp>}
    with pytest.raises(ProtocolError, match="extension"):
        unpack(b"\x81" + encoded + b"\x01", LIMIT)  # a timestamp as a map key


@pytest.mark.parametrize("code, data", [(0, b""), (5, b"boom"), (127, b"x" * 300), (-2, b"\x00"), (-128, b"")])
def test_every_other_extension_type_is_refused(code, data):
    header = {0: b"\xc7\x00", 1: b"\xd4", 4: b"\xd6"}.get(len(data), b"\xc8" + len(data).to_bytes(2, "big"))
    encoded = header + code.to_bytes(1, "big", signed=True) + data
    with pytest.raises(ProtocolError, match="extension"):
        unpack(b"\x92\x01" + encoded, LIMIT)


def test_a_refused_timestamp_in_a_request_keeps_the_request_id():
    body = msgpack.packb({"op": "tr", "args": {"code": "opt10081", "inputs": {"기준일자": msgpack.Timestamp(0)}}})
    with pytest.raises(ProtocolError, match="extension") as info:
        decode_client([msgpack.packb([1, "REQUEST", 77]), body])
    assert info.value.details["request_id"] == 77


def test_a_timestamp_from_the_broker_is_refused_too():
    frames = [msgpack.packb([1, "REPLY", 3]), msgpack.packb({"result": {"at": msgpack.Timestamp(5)}})]
    with pytest.raises(ProtocolError, match="extension"):
        decode_broker(frames)


plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 64) - 1) | st.floats(allow_nan=False) | st.text(max_size=8)
    | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=10)
exts = st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=20)) | st.builds(
    msgpack.Timestamp, st.integers(-(1 << 33), (1 << 34) - 1), st.integers(0, 999_999_999))


@settings(max_examples=200)
@given(plain, exts, st.integers(0, 50))
def test_an_extension_anywhere_is_refused_and_plain_data_passes(value, ext, where):
    assert unpack(msgpack.packb(value, use_bin_type=True), LIMIT) == value
    holder = [value]
    holder.insert(where % 2, {"x": [ext]})
    with pytest.raises(ProtocolError, match="extension"):
        unpack(msgpack.packb(holder, use_bin_type=True), LIMIT)
