"""Recorder sinks behind one interface (`base.Sink`): Parquet files (the default) and PostgreSQL.

`make_sink("parquet", root=...)` or `make_sink("postgres", dsn=...)`. The PostgreSQL sink (and
psycopg) is imported only when asked for, so a Parquet-only recorder needs no database driver.
"""
from __future__ import annotations

from typing import Any

from koabus.common.errors import InvalidRequest
from koabus.services.recorder.sinks.base import Sink, SinkError, SinkRejected, SinkUnavailable

SINK_KINDS = ("parquet", "postgres")

__all__ = ["SINK_KINDS", "Sink", "SinkError", "SinkRejected", "SinkUnavailable", "make_sink"]


def make_sink(kind: str, **options: Any) -> Sink:
    """A sink by kind: 'parquet' (options: root, compression, durable) or 'postgres' (dsn, schema, ...)."""
    if kind == "parquet":
        from koabus.services.recorder.sinks.parquet import ParquetSink

        return ParquetSink(**options)
    if kind in ("postgres", "postgresql"):
        from koabus.services.recorder.sinks.postgres import PostgresSink

        return PostgresSink(**options)
    raise InvalidRequest(f"unknown sink kind {kind!r}; known: {', '.join(SINK_KINDS)}")
