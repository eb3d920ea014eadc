"""KOAPY's protobuf messages and service, rebuilt at import time with protobuf's descriptor API (no protoc).

The shapes follow KOAPY's KiwoomOpenApiPlusService.proto: `ListenResponse` {name, arguments[Argument],
single_data {names[], values[]}, multi_data {names[], values[{values[]}]}}, `Argument` a oneof of
string/long/bool/double values, `CallRequest`/`CallResponse` for its unary `Call`, and
`TransactionCallRequest` (request name, TR code, screen, inputs map) for its server-streaming
`TransactionCall`. Everything travels string-typed, as KOAPY sent it. The service is served and called
through grpc's generic handlers with these classes' SerializeToString/FromString.
"""

from __future__ import annotations

from typing import Any, Dict

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

PACKAGE = "koapy.backend.kiwoom_open_api_plus.grpc"
SERVICE = f"{PACKAGE}.KiwoomOpenApiPlusService"
LISTEN = f"/{SERVICE}/Listen"
CALL = f"/{SERVICE}/Call"
TRANSACTION_CALL = f"/{SERVICE}/TransactionCall"

_F = descriptor_pb2.FieldDescriptorProto
_STRING, _INT64, _BOOL, _DOUBLE, _MESSAGE = (
    _F.TYPE_STRING,
    _F.TYPE_INT64,
    _F.TYPE_BOOL,
    _F.TYPE_DOUBLE,
    _F.TYPE_MESSAGE,
)
_OPTIONAL, _REPEATED = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED


def _field(
    msg: Any, name: str, number: int, kind: int, label: int = _OPTIONAL, type_name: str = "", oneof: int = -1
) -> None:
    f = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = f".{PACKAGE}.{type_name}"
    if oneof >= 0:
        f.oneof_index = oneof


def _file() -> descriptor_pb2.FileDescriptorProto:
    fd = descriptor_pb2.FileDescriptorProto(name="koabus_bench_koapy.proto", package=PACKAGE, syntax="proto3")
    arg = fd.message_type.add(name="Argument")
    arg.oneof_decl.add(name="value")
    for i, (name, kind) in enumerate(
        (("string_value", _STRING), ("long_value", _INT64), ("bool_value", _BOOL), ("double_value", _DOUBLE)),
        1,
    ):
        _field(arg, name, i, kind, oneof=0)
    single = fd.message_type.add(name="SingleData")
    _field(single, "names", 1, _STRING, _REPEATED)
    _field(single, "values", 2, _STRING, _REPEATED)
    multi = fd.message_type.add(name="MultiData")
    values = multi.nested_type.add(name="Values")
    _field(values, "values", 1, _STRING, _REPEATED)
    _field(multi, "names", 1, _STRING, _REPEATED)
    _field(multi, "values", 2, _MESSAGE, _REPEATED, "MultiData.Values")
    listen = fd.message_type.add(name="ListenResponse")
    _field(listen, "name", 1, _STRING)
    _field(listen, "arguments", 2, _MESSAGE, _REPEATED, "Argument")
    _field(listen, "single_data", 3, _MESSAGE, type_name="SingleData")
    _field(listen, "multi_data", 4, _MESSAGE, type_name="MultiData")
    listen_request = fd.message_type.add(name="ListenRequest")
    _field(listen_request, "code_list", 1, _STRING, _REPEATED)
    call = fd.message_type.add(name="CallRequest")
    _field(call, "name", 1, _STRING)
    _field(call, "arguments", 2, _MESSAGE, _REPEATED, "Argument")
    reply = fd.message_type.add(name="CallResponse")
    _field(reply, "return_value", 1, _MESSAGE, type_name="Argument")
    tr = fd.message_type.add(name="TransactionCallRequest")
    entry = tr.nested_type.add(name="InputsEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _STRING)
    _field(entry, "value", 2, _STRING)
    _field(tr, "request_name", 1, _STRING)
    _field(tr, "transaction_code", 2, _STRING)
    _field(tr, "screen_no", 3, _STRING)
    _field(tr, "inputs", 4, _MESSAGE, _REPEATED, "TransactionCallRequest.InputsEntry")
    return fd


_pool = descriptor_pool.DescriptorPool()
_pool.Add(_file())


def _cls(name: str) -> Any:
    return message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}"))


Argument = _cls("Argument")
ListenRequest = _cls("ListenRequest")
ListenResponse = _cls("ListenResponse")
CallRequest = _cls("CallRequest")
CallResponse = _cls("CallResponse")
TransactionCallRequest = _cls("TransactionCallRequest")


def service_handler(listen: Any, call: Any, transaction_call: Any) -> grpc.GenericRpcHandler:
    """The three RPCs as one generic handler, (de)serialised with the message classes above."""
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Listen": grpc.unary_stream_rpc_method_handler(
                listen,
                request_deserializer=ListenRequest.FromString,
                response_serializer=ListenResponse.SerializeToString,
            ),
            "Call": grpc.unary_unary_rpc_method_handler(
                call,
                request_deserializer=CallRequest.FromString,
                response_serializer=CallResponse.SerializeToString,
            ),
            "TransactionCall": grpc.unary_stream_rpc_method_handler(
                transaction_call,
                request_deserializer=TransactionCallRequest.FromString,
                response_serializer=ListenResponse.SerializeToString,
            ),
        },
    )


class Stub:
    """The client side of the three RPCs on one channel (what KOAPY's generated stub did)."""

    def __init__(self, channel: grpc.Channel):
        self.Listen = channel.unary_stream(
            LISTEN,
            request_serializer=ListenRequest.SerializeToString,
            response_deserializer=ListenResponse.FromString,
        )
        self.Call = channel.unary_unary(
            CALL,
            request_serializer=CallRequest.SerializeToString,
            response_deserializer=CallResponse.FromString,
        )
        self.TransactionCall = channel.unary_stream(
            TRANSACTION_CALL,
            request_serializer=TransactionCallRequest.SerializeToString,
            response_deserializer=ListenResponse.FromString,
        )


def call_request(name: str, *args: Any) -> Any:
    """A CallRequest with string and long arguments, as KOAPY's entrypoint built them."""
    request = CallRequest(name=name)
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool):
            request.arguments.add().long_value = value
        else:
            request.arguments.add().string_value = str(value)
    return request


def argument_value(arg: Any) -> Any:
    """The Python value an Argument carries (None when unset)."""
    which = arg.WhichOneof("value")
    return None if which is None else getattr(arg, which)


def tr_request(request_name: str, code: str, screen: str, inputs: Dict[str, str]) -> Any:
    request = TransactionCallRequest(request_name=request_name, transaction_code=code, screen_no=screen)
    for key, value in inputs.items():
        request.inputs[key] = value
    return request
