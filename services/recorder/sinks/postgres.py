"""PostgreSQL sink: each batch is COPYed into a table per logical lake table, in one transaction with its
idempotency row, so a re-roll replaces the batch and a failure leaves nothing behind.

Layout in the schema (default `koabus`):
    <table>      the batch's columns (created from the arrow schema, extended when the schema grows),
                 plus `date date`, the Parquet partition date (daily history keeps its own `date`;
                 minute history gets the KST date of `time`), and the hidden `_batch bigint`
                 (indexed) = `_batches.id` of the batch that wrote the row.
    _batches     (id, table_name, date text, batch_key, rows, written_at); primary key (table_name,
                 date, batch_key); `date` is the write's 'YYYY-MM-DD' ('' for history written without).

Writing a key that already exists deletes its rows and writes the new ones (replace, like the Parquet
sink's rename over the old file); we do not compare contents to skip, since a replace is always right
and a re-roll is rare (recovery after a crash). Names go through `psycopg.sql.Identifier` only.
"""
from __future__ import annotations

import datetime as dt
import io
import re
import time
from typing import Callable, Dict, List, Optional, Tuple

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from koabus.services.recorder.sinks.base import SinkError, SinkRejected, SinkUnavailable

DEFAULT_SCHEMA = "koabus"
BATCHES_TABLE = "_batches"
BATCH_COLUMN = "_batch"
DATE_COLUMN = "date"
MAX_IDENTIFIER_BYTES = 63  # PostgreSQL truncates longer names silently; we refuse them instead
COPY_CHUNK_ROWS = 16384
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_KST_OFFSET_S = 9 * 3600  # Korea keeps no daylight saving time
HISTORY_DAILY = "history_daily"  # the lake's history tables (common/lake/layout.py)
HISTORY_MINUTE_PREFIX = "history_minute"
_DDL_LOCK_KEY = 0x6B6F6162  # 'koab': the advisory lock taken around CREATE/ALTER
# errors meaning our cache of what exists is out of date
_STALE_CACHE = (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn, psycopg.errors.InvalidSchemaName)


# arrow type -> PostgreSQL type as `format_type()` spells it (also valid DDL). Fixed text, never wire data.
def pg_type(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type for an arrow type; raises SinkRejected for types we do not store."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "text"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_time(t):
        return "time without time zone"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    raise SinkRejected(f"arrow type {t} has no PostgreSQL column type in this sink")


def _check_name(what: str, name: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name or len(name.encode()) > MAX_IDENTIFIER_BYTES:
        raise SinkRejected(f"{what} {name!r} is not a usable PostgreSQL name (1..63 bytes, no NUL)")
    return name


def _is_history(table: str) -> bool:
    return table == HISTORY_DAILY or table.startswith(HISTORY_MINUTE_PREFIX)


def _batch_date(table: str, date: Optional[str]) -> str:
    """The `_batches.date` of a write: 'YYYY-MM-DD'; history tables (partitioned by their own columns,
    like the Parquet sink) may also pass None or '' (stored as '')."""
    if _is_history(table) and date in (None, ""):
        return ""
    if not isinstance(date, str) or not _ISO_DATE.match(date):
        raise SinkRejected(f"partition date {date!r} is not YYYY-MM-DD")
    try:
        dt.date.fromisoformat(date)
    except ValueError:
        raise SinkRejected(f"partition date {date!r} is not a calendar date") from None
    return date


def _date_column(table: str, date: str, batch: pa.Table) -> Optional[pa.Array]:
    """The `date` column to add, matching the Parquet partition: None when the batch has its own (daily
    history), the KST date of `time` for minute history, else the partition date on every row."""
    if DATE_COLUMN in batch.column_names:
        return None
    if table.startswith(HISTORY_MINUTE_PREFIX) and "time" in batch.column_names:
        stamps = batch.column("time")
        if pa.types.is_timestamp(stamps.type):
            per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[stamps.type.unit]
            # integer division truncates: exact for instants after 1970, which history bars are
            seconds = pc.divide(stamps.cast(pa.int64()), per_second)
            days = pc.divide(pc.add(seconds, _KST_OFFSET_S), 86400)
            return days.cast(pa.int32()).cast(pa.date32())
    if not date:
        raise SinkRejected(f"{table}: a batch without a date column needs the partition date")
    return pa.repeat(pa.scalar(dt.date.fromisoformat(date), pa.date32()), batch.num_rows)


def _copy_ready(batch: pa.Table) -> pa.Table:
    """Columns the CSV writer prints the way PostgreSQL reads them: timestamps truncated to microseconds
    (PostgreSQL's precision; truncating, not rounding, keeps a row inside its second), dictionaries
    decoded, all-null columns as text."""
    columns = []
    for col in batch.columns:
        t = col.type
        if pa.types.is_dictionary(t):
            col, t = col.cast(t.value_type), t.value_type
        if pa.types.is_timestamp(t) and t.unit == "ns":
            col = pc.cast(col, pa.timestamp("us", tz=t.tz), safe=False)
        elif pa.types.is_null(t):
            col = col.cast(pa.string())
        columns.append(col)
    return pa.table(columns, names=batch.column_names)


def _csv_chunks(batch: pa.Table):
    """The batch as PostgreSQL CSV, in bounded chunks. Nulls are empty fields, strings are quoted when
    needed and '' is always quoted, so NULL and the empty string stay distinct."""
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for record_batch in batch.to_batches(max_chunksize=COPY_CHUNK_ROWS):
        out = io.BytesIO()
        pacsv.write_csv(record_batch, out, options)
        yield out.getbuffer()


class PostgresSink:
    """Sink into PostgreSQL. `write` is synchronous and committed when it returns; `flush` has nothing to do.

    Connection loss: a write reconnects up to `attempts` times with exponential backoff from `backoff_s`
    to `max_backoff_s` and rewrites the whole batch (safe: the failed transaction left nothing); then it
    raises SinkUnavailable. Any other database error raises SinkRejected at once. Errors are never
    swallowed; the caller keeps its journal until `write` returns. One connection, for one thread.
    """

    name = "postgres"

    def __init__(
        self,
        dsn: str,
        schema: str = DEFAULT_SCHEMA,
        *,
        attempts: int = 5,
        backoff_s: float = 0.2,
        max_backoff_s: float = 5.0,
        connect_timeout_s: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        try:
            conninfo_to_dict(dsn)
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"postgres dsn is not a libpq connection string or URL: {exc}") from None
        self._dsn = dsn  # kept private: it may hold a password
        self.schema = _check_name("schema", schema)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.connect_timeout_s = connect_timeout_s
        self._sleep = sleep
        self._conn: Optional[psycopg.Connection] = None
        self._schema_ready = False
        self._columns: Dict[str, Dict[str, str]] = {}  # table -> {column: pg type}, what the db has
        self.connects = 0  # connections opened (the first and every reconnect)
        self._closed = False

    def __repr__(self) -> str:  # the DSN may hold a password
        return f"PostgresSink(schema={self.schema!r})"

    # -- Sink protocol -------------------------------------------------------------------------------

    def write(self, table: str, date: str, batch: pa.Table, batch_key: str) -> None:
        """Write `batch` as (table, date, batch_key), replacing an earlier write of that key."""
        if self._closed:
            raise SinkError("PostgreSQL sink is closed")
        _check_name("table", table)
        if table == BATCHES_TABLE:
            raise SinkRejected(f"{BATCHES_TABLE} is the sink's own table")
        if not isinstance(batch_key, str) or not batch_key or "\x00" in batch_key:
            raise SinkRejected(f"batch_key {batch_key!r} must be a non-empty string")
        batch_date = _batch_date(table, date)
        wanted = self._wanted_columns(batch)
        dates = _date_column(table, batch_date, batch)
        self._run(lambda conn: self._write_batch(conn, table, batch_date, batch, batch_key, wanted, dates), table)

    def flush(self) -> None:
        """Nothing is buffered: every `write` commits before it returns."""

    def close(self) -> None:
        self._closed = True
        self._drop_connection()

    # -- the transaction -----------------------------------------------------------------------------

    def _write_batch(self, conn: psycopg.Connection, table: str, batch_date: str, batch: pa.Table,
                     batch_key: str, wanted: List[Tuple[str, str]], dates: Optional[pa.Array]) -> None:
        with conn.transaction():
            self._ensure_schema(conn)
            columns = wanted if dates is None else wanted + [(DATE_COLUMN, "date")]
            self._ensure_table(conn, table, columns)
            batch_id = conn.execute(
                sql.SQL("INSERT INTO {} (table_name, date, batch_key, rows) VALUES (%s, %s, %s, %s) "
                        "ON CONFLICT (table_name, date, batch_key) "
                        "DO UPDATE SET rows = EXCLUDED.rows, written_at = now() RETURNING id")
                .format(sql.Identifier(self.schema, BATCHES_TABLE)),
                (table, batch_date, batch_key, batch.num_rows),
            ).fetchone()[0]
            target = sql.Identifier(self.schema, table)
            conn.execute(sql.SQL("DELETE FROM {} WHERE {} = %s").format(target, sql.Identifier(BATCH_COLUMN)),
                         (batch_id,))
            data = _copy_ready(batch)
            if dates is not None:
                data = data.append_column(DATE_COLUMN, dates)
            data = data.append_column(BATCH_COLUMN, pa.repeat(pa.scalar(batch_id, pa.int64()), batch.num_rows))
            copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
                target, sql.SQL(", ").join(sql.Identifier(name) for name in data.column_names))
            with conn.cursor() as cur, cur.copy(copy) as sink:
                for chunk in _csv_chunks(data):
                    sink.write(chunk)

    def _wanted_columns(self, batch: pa.Table) -> List[Tuple[str, str]]:
        names = batch.column_names
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise SinkRejected(f"batch has duplicate column names {doubled}; a table cannot hold them")
        wanted = []
        for field in batch.schema:
            _check_name("column", field.name)
            if field.name == BATCH_COLUMN:
                raise SinkRejected(f"column name {BATCH_COLUMN} is reserved by the sink")
            if field.name == DATE_COLUMN and not pa.types.is_date(field.type):
                raise SinkRejected(f"column {DATE_COLUMN} must be a date, not {field.type}")
            wanted.append((field.name, pg_type(field.type)))
        return wanted

    def _ensure_schema(self, conn: psycopg.Connection) -> None:
        if self._schema_ready:
            return
        _lock_ddl(conn)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)))
        conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            "id bigserial UNIQUE, table_name text NOT NULL, date text NOT NULL, batch_key text NOT NULL, "
            "rows bigint NOT NULL, written_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (table_name, date, batch_key))").format(sql.Identifier(self.schema, BATCHES_TABLE)))
        self._schema_ready = True

    def _ensure_table(self, conn: psycopg.Connection, table: str, columns: List[Tuple[str, str]]) -> None:
        """Create the table, or add the columns it lacks; a column whose type differs is refused."""
        have = self._columns.get(table)
        if have is None:
            _lock_ddl(conn)
            target = sql.Identifier(self.schema, table)
            conn.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}, {} bigint NOT NULL)").format(
                target,
                sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(n), sql.SQL(t)) for n, t in columns),
                sql.Identifier(BATCH_COLUMN)))
            conn.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                sql.Identifier(_index_name(table)), target, sql.Identifier(BATCH_COLUMN)))
            have = self._table_columns(conn, table)
        missing = [(n, t) for n, t in columns if n not in have]
        if missing:
            _lock_ddl(conn)
        for name, pgtype in missing:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                sql.Identifier(self.schema, table), sql.Identifier(name), sql.SQL(pgtype)))
            have[name] = pgtype
        for name, pgtype in columns:
            if have[name] != pgtype:
                raise SinkRejected(f"{self.schema}.{table}.{name} is {have[name]} in the database, "
                                   f"the batch has {pgtype}")
        self._columns[table] = have

    def _table_columns(self, conn: psycopg.Connection, table: str) -> Dict[str, str]:
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            (self.schema, table)).fetchall()
        return {name: pgtype for name, pgtype in rows}

    # -- connection and retries ----------------------------------------------------------------------

    def _run(self, work: Callable[[psycopg.Connection], None], table: str) -> None:
        delay = self.backoff_s
        attempt = 0
        looked_again = False
        while True:
            attempt += 1
            try:
                work(self._connection())
                return
            except psycopg.OperationalError as exc:
                self._forget(table)
                self._drop_connection()
                if attempt >= self.attempts:
                    raise SinkUnavailable(
                        f"PostgreSQL sink: {table} not written after {attempt} attempts: {exc}",
                        details={"table": table, "attempts": attempt}) from exc
                self._sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
            except _STALE_CACHE as exc:
                # someone dropped the table, a column or the schema behind our back: look again, once
                self._forget(table)
                if looked_again:
                    raise self._rejected(table, exc) from exc
                looked_again = True
                attempt -= 1
            except psycopg.Error as exc:
                self._forget(table)
                raise self._rejected(table, exc) from exc
            except SinkRejected:
                self._forget(table)
                raise

    @staticmethod
    def _rejected(table: str, exc: psycopg.Error) -> SinkRejected:
        return SinkRejected(f"PostgreSQL sink: {table} batch refused: {exc}",
                            details={"table": table, "sqlstate": getattr(exc, "sqlstate", None)})

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._drop_connection()
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self.connect_timeout_s,
                                         application_name="koabus-recorder")
            self.connects += 1
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass  # already broken; the next write opens a new one

    def _forget(self, table: str) -> None:
        """After a failure the database may differ from what we cached: look again next time."""
        self._columns.pop(table, None)
        self._schema_ready = False


def _index_name(table: str) -> str:
    """`<table>__batch_idx`, the table part shortened so the name fits in 63 bytes."""
    return table.encode()[:52].decode("utf-8", "ignore") + "__batch_idx"


def _lock_ddl(conn: psycopg.Connection) -> None:
    """Serialise schema changes of every koabus sink on this server until the transaction ends, so two
    recorders creating the same table at once wait instead of failing on the catalog's unique keys."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK_KEY,))
