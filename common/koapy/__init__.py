"""KOAPY compatibility: the names KOAPY's README and docs import, over the koabus SDK.

A KOAPY script runs against a koabus broker with only its import lines changed:

    from koabus.common.koapy import KiwoomOpenApiPlusEntrypoint   # was: from koapy import ...
    from koabus.common.koapy import MessageToDict                 # was: google.protobuf.json_format
    from koabus.common.koapy import grpc                          # was: import grpc

The entrypoint connects to the broker at $KOABUS_ROUTER / $KOABUS_PUB (or the default endpoints).
docs/client.md ("KOAPY names") lists every KOAPY name and its status here.
"""
from __future__ import annotations

from . import grpc
from .entrypoint import (
    KiwoomOpenApiContext,
    KiwoomOpenApiPlusBooleanReturnCodeError,
    KiwoomOpenApiPlusEntrypoint,
    KiwoomOpenApiPlusError,
    KiwoomOpenApiPlusNegativeReturnCodeError,
)
from .messages import Argument, ListenResponse, MessageToDict, MultiData, SingleData
from .metadata import KiwoomOpenApiPlusRealType, KiwoomOpenApiPlusTrInfo, RealType
from .streams import EventStream

__all__ = [
    "Argument", "EventStream", "KiwoomOpenApiContext", "KiwoomOpenApiPlusBooleanReturnCodeError",
    "KiwoomOpenApiPlusEntrypoint", "KiwoomOpenApiPlusError", "KiwoomOpenApiPlusNegativeReturnCodeError",
    "KiwoomOpenApiPlusRealType", "KiwoomOpenApiPlusTrInfo", "ListenResponse", "MessageToDict", "MultiData",
    "RealType", "SingleData", "grpc",
]
