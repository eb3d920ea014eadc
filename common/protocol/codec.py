"""msgpack packing with the protocol's safety limits: no ext types, bounded sizes, typed failures.

msgpack-python decodes extension type -1 (timestamp) itself and never calls `ext_hook` for it, so
`max_ext_len=0` is what refuses it: every timestamp has 4, 8 or 12 data bytes. `ext_hook` refuses the
zero-length extensions of every other type.
"""
from __future__ import annotations

from typing import Any

import msgpack

from ..errors import MessageTooLarge, ProtocolError

EXTENSION_REFUSED = "msgpack extension types (the timestamp type included) are not allowed"


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"msgpack extension type {code} is not allowed ({EXTENSION_REFUSED})")


def pack(obj: Any) -> bytes:
    """Serialise one payload frame. Raises ProtocolError for values msgpack cannot carry."""
    try:
        return msgpack.packb(obj, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"cannot encode payload: {exc}") from None


def unpack(frame: bytes, max_bytes: int, what: str = "frame") -> Any:
    """Decode one payload frame of at most `max_bytes`; any malformation becomes ProtocolError."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"{what} is not bytes")
    size = len(frame)
    if size > max_bytes:
        raise MessageTooLarge(f"{what} of {size} bytes exceeds the limit of {max_bytes}",
                              details={"size": size, "limit": max_bytes})
    if size == 0:
        raise ProtocolError(f"{what} is empty")
    try:
        return msgpack.unpackb(
            bytes(frame), raw=False, use_list=True, strict_map_key=False, ext_hook=_no_ext,
            timestamp=0, max_ext_len=0,
        )
    except ProtocolError:
        raise
    except ValueError as exc:
        text = str(exc)
        if "max_ext_len" in text or "timestamp" in text:  # any ext with data, or a bad timestamp
            raise ProtocolError(f"{what} holds a msgpack extension type; {EXTENSION_REFUSED}") from None
        raise ProtocolError(f"{what} is not valid msgpack: {type(exc).__name__}") from None
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise ProtocolError(f"{what} is not valid msgpack: {type(exc).__name__}") from None
