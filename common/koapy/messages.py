"""KOAPY's event messages as small typed objects, and `MessageToDict` for them.

KOAPY streamed protobuf `ListenResponse`s: `name` (the OCX event, e.g. "OnReceiveTrData"),
`arguments` (each with one of `string_value`, `long_value`, `bool_value`), `single_data`
(`names`, `values`) and `multi_data` (`names`, rows in `values[i].values`). Scripts read those
attributes and print events with `MessageToDict(event, preserving_proto_field_name=True)`; both work
on these objects, with protobuf's JSON conventions (unset fields left out, int64 as strings).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

Scalar = Union[str, int, bool]


@dataclass(frozen=True)
class Argument:
    """One event argument; exactly one of the three values is set (`which`), the others read as
    the protobuf defaults ("", 0, False)."""

    which: str
    value: Scalar

    @classmethod
    def of(cls, value: Scalar) -> Argument:
        if isinstance(value, bool):
            return cls("bool_value", value)
        if isinstance(value, int):
            return cls("long_value", value)
        return cls("string_value", "" if value is None else str(value))

    @property
    def string_value(self) -> str:
        return str(self.value) if self.which == "string_value" else ""

    @property
    def long_value(self) -> int:
        return int(self.value) if self.which == "long_value" else 0

    @property
    def bool_value(self) -> bool:
        return bool(self.value) if self.which == "bool_value" else False

    def WhichOneof(self, _group: str = "value") -> str:  # noqa: N802 - protobuf's name
        return self.which


@dataclass(frozen=True)
class SingleData:
    names: List[str] = field(default_factory=list)
    values: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class RepeatedString:
    values: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class MultiData:
    names: List[str] = field(default_factory=list)
    values: List[RepeatedString] = field(default_factory=list)


@dataclass(frozen=True)
class ListenResponse:
    """One event of a KOAPY stream (the shape of KOAPY's protobuf message of the same name)."""

    name: str
    arguments: List[Argument] = field(default_factory=list)
    single_data: SingleData = field(default_factory=SingleData)
    multi_data: MultiData = field(default_factory=MultiData)

    @classmethod
    def make(cls, name: str, arguments: Iterable[Scalar] = (), single: Optional[Dict[str, str]] = None,
             multi_names: Sequence[str] = (), rows: Iterable[Sequence[str]] = ()) -> ListenResponse:
        single = single or {}
        return cls(name, [Argument.of(a) for a in arguments],
                   SingleData(list(single), [str(v) for v in single.values()]),
                   MultiData(list(multi_names), [RepeatedString([str(v) for v in row]) for row in rows]))

    def HasField(self, name: str) -> bool:  # noqa: N802 - protobuf's name
        data = getattr(self, name)
        return bool(data.names or data.values)


def MessageToDict(message: Any, including_default_value_fields: bool = False,  # noqa: N802 - protobuf's name
                  preserving_proto_field_name: bool = False, **_: Any) -> Dict[str, Any]:
    """The dict protobuf's `json_format.MessageToDict` gives for KOAPY's message: camelCase keys
    unless `preserving_proto_field_name`, int64 values as strings, empty fields left out."""
    def key(name: str) -> str:
        if preserving_proto_field_name:
            return name
        head, *rest = name.split("_")
        return head + "".join(part.title() for part in rest)

    def put(out: Dict[str, Any], name: str, value: Any) -> None:
        if value or including_default_value_fields:
            out[key(name)] = value

    if isinstance(message, Argument):
        value = str(message.value) if message.which == "long_value" else message.value
        return {key(message.which): value}
    if isinstance(message, (SingleData, RepeatedString)):
        out: Dict[str, Any] = {}
        for name in ("names", "values"):
            if hasattr(message, name):
                put(out, name, list(getattr(message, name)))
        return out
    if isinstance(message, MultiData):
        out = {}
        put(out, "names", list(message.names))
        put(out, "values", [MessageToDict(r, including_default_value_fields, preserving_proto_field_name)
                            for r in message.values])
        return out
    if isinstance(message, ListenResponse):
        out = {}
        put(out, "name", message.name)
        put(out, "arguments", [MessageToDict(a, including_default_value_fields, preserving_proto_field_name)
                               for a in message.arguments])
        for name in ("single_data", "multi_data"):
            part = MessageToDict(getattr(message, name), including_default_value_fields, preserving_proto_field_name)
            put(out, name, part)
        return out
    if isinstance(message, dict):
        return dict(message)
    raise TypeError(f"MessageToDict takes a KOAPY event message, not {type(message).__name__}")
