"""Kiwoom OpenAPI+ described as data: TRs, realtime types, FIDs, errors, methods, events, enums; value parsing.

    from koabus.metadata import catalog, values
    catalog().tr("opt10081").multi_names
    values.parse("price", "-77000")  # 77000

Standard library only; the tables load lazily on the first `catalog()` call.
"""
from __future__ import annotations

from koabus.metadata import values
from koabus.metadata.catalog import Catalog, catalog, clear_cache
from koabus.metadata.specs import (
    VALUE_KINDS,
    Arg,
    ErrorCode,
    Event,
    Fid,
    Field,
    Method,
    RealType,
    TrInput,
    TrSpec,
)

__all__ = [
    "VALUE_KINDS", "Arg", "Catalog", "ErrorCode", "Event", "Fid", "Field", "Method", "RealType", "TrInput",
    "TrSpec", "catalog", "clear_cache", "values",
]
