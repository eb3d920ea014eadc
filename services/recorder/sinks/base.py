"""The one interface every recorder sink implements (Parquet files, PostgreSQL), and its errors.

The recorder rolls its journal into batches: one Arrow table per (logical table, trading date) with
a deterministic `batch_key` naming the journal range it came from. A sink writes each batch
idempotently, so rolling the same range again after a crash replaces what an earlier attempt wrote
instead of duplicating it. Sinks never see the bus; the recorder never waits on the bus for a sink.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import pyarrow as pa

from koabus.common.errors import KoabusError, Unavailable


@runtime_checkable
class Sink(Protocol):
    """Where rolled batches go. `table` is a lake table name ('rt_trade', 'gaps', 'history_daily'...),
    `date` the KST trading date 'YYYY-MM-DD' of the batch's rows, `batch` in `arrow_schema(table)`.
    """

    name: str

    def write(self, table: str, date: str, batch: pa.Table, batch_key: str) -> None:
        """Store `batch` durably before returning; the same (table, date, batch_key) again replaces it."""
        ...

    def flush(self) -> None:
        """Make everything written so far durable and visible to readers."""
        ...

    def close(self) -> None:
        """Flush and release resources; later writes raise SinkError."""
        ...


class SinkError(KoabusError):
    """A batch the sink did not write; nothing of it is visible (an earlier version of the key stays)."""

    kind = "SinkError"


class SinkUnavailable(SinkError, Unavailable):
    """Transient (disk full, database unreachable): keep the journal and write the same key again later."""

    kind = "SinkUnavailable"


class SinkRejected(SinkError):
    """The sink refused the batch itself (type conflict, unstorable value): retrying fails the same way."""

    kind = "SinkRejected"
