"""SQL over the lake: one in-memory DuckDB connection with a view per table folder and the common questions.

The views read the Parquet files where they lie (globs are expanded at every query, so files the
recorder rolls after `Lake()` was opened are seen; a table folder that appears later needs `refresh()`).
Shipped on top: `ticks` (trades of `rt_trade`, deduplicated), the table macros
`bars(code, day, interval)` (OHLCV resampled from ticks) and `gaps_of(day)`.
Results come back as pandas DataFrames: times tz-aware in Asia/Seoul, dates as midnight Asia/Seoul,
integers as int64 (Int64 when some are missing), as the SDK's other frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import duckdb
import pandas as pd
import pyarrow as pa

from koabus.common.lake import layout

TZ = "Asia/Seoul"
DEFAULT_ROOT = layout.DEFAULT_ROOT


@dataclass(frozen=True)
class TableFiles:
    """One logical table found on disk: its view name, the glob of its files and its partition types."""

    name: str
    glob: str
    hive_types: Dict[str, str]


def discover(root: Path) -> List[TableFiles]:
    """The tables holding at least one finished Parquet file (`*.tmp` files and `_*` folders never count)."""
    found: List[TableFiles] = []
    for table in layout.list_tables(root):
        if _has_files(root, table):
            types = {key: "DATE" if key == "date" else "VARCHAR" for key in layout.partition_keys(table)}
            found.append(TableFiles(table, layout.glob_pattern(root, table), types))
    return found


def _has_files(root: Path, table: str) -> bool:
    """Whether one data file exists, found without listing every file of a long recording."""
    parts = [layout.folder_of(table)] + [f"{key}=*" for key in layout.partition_keys(table)]
    return next(Path(root).glob("/".join(parts + ["*" + layout.PARQUET_SUFFIX])), None) is not None


def _sql_text(value: str) -> str:
    """A string literal for DDL (paths cannot be prepared parameters in a view definition)."""
    return "'" + value.replace("'", "''") + "'"


def _hive_types(types: Dict[str, str]) -> str:
    return "{" + ", ".join(f"{_sql_text(k)}: {_sql_text(v)}" for k, v in types.items()) + "}"


# trades as people ask about them: the price, the unsigned volume and who took it (Kiwoom signs FID 15:
# + bought at the ask, - sold at the bid); one row per bus message (epoch, topic, topic_seq), a live
# row preferred over a snapshot copy of the same message
TICKS_VIEW = """
CREATE OR REPLACE VIEW ticks AS
SELECT date, code, coalesce(event_time, recv_time) AS time, current_price AS price, abs(volume) AS volume,
       CASE WHEN volume > 0 THEN 'buy' WHEN volume < 0 THEN 'sell' END AS side,
       ask, bid, cum_volume, cum_trade_value, event_time, recv_time, epoch, seq, topic_seq, snapshot
FROM rt_trade
QUALIFY row_number() OVER (PARTITION BY date, code, epoch, topic, topic_seq ORDER BY snapshot) = 1
"""

# OHLCV per bucket of `every` ('1 minute', '5 minutes', '1 hour', ...), buckets aligned to midnight KST.
# Parameter names differ from every column name: DuckDB binds the views inside a macro with its
# parameters in scope, so a parameter called `code` would clash with the view's own `code`.
BARS_MACRO = f"""
CREATE OR REPLACE MACRO bars(for_code, on_day, every) AS TABLE
SELECT time_bucket(CAST(every AS INTERVAL), t.time, '{TZ}') AS time, t.code AS code,
       first(t.price ORDER BY t.time, t.epoch, t.seq) AS open, max(t.price) AS high, min(t.price) AS low,
       last(t.price ORDER BY t.time, t.epoch, t.seq) AS close, CAST(sum(t.volume) AS BIGINT) AS volume,
       CAST(sum(t.price * t.volume) AS BIGINT) AS value, count(*) AS trades
FROM ticks AS t
WHERE t.code = for_code AND t.date = CAST(on_day AS DATE) AND t.price IS NOT NULL
GROUP BY ALL
ORDER BY time
"""

GAPS_MACRO = """
CREATE OR REPLACE MACRO gaps_of(on_day) AS TABLE
SELECT * FROM gaps AS g WHERE g.date = CAST(on_day AS DATE) ORDER BY g.detected_time, g.topic, g.first_seq
"""

# tables the shipped views stand on: present (empty, typed from the schema) even before any file exists
_NEEDED = ("rt_trade", "gaps")


class Lake:
    """The lake under `root` as SQL; `sql()`, `ticks()`, `bars()`, `gaps()` return DataFrames.

    Not thread-safe (one DuckDB connection): open one `Lake` per thread.
    """

    def __init__(self, root: Union[str, Path] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._con = duckdb.connect(":memory:")
        self._con.execute(f"SET TimeZone = '{TZ}'")
        self._tables: List[TableFiles] = []
        self.refresh()

    # ------------------------------------------------------------------ lifecycle
    def refresh(self) -> None:
        """(Re)create the views from the table folders on disk now."""
        for old in self._tables:
            self._con.execute(f'DROP VIEW IF EXISTS "{old.name}"')
        self._tables = discover(self.root)
        for table in self._tables:
            self._con.execute(
                f'CREATE OR REPLACE VIEW "{table.name}" AS SELECT * FROM read_parquet({_sql_text(table.glob)}, '
                f"hive_partitioning = true, union_by_name = true, hive_types = {_hive_types(table.hive_types)})")
        present = {t.name for t in self._tables}
        for name in _NEEDED:
            if name not in present:
                self._empty_view(name)
        self._con.execute(TICKS_VIEW)
        self._con.execute(BARS_MACRO)
        self._con.execute(GAPS_MACRO)

    def _empty_view(self, name: str) -> None:
        from koabus.common.lake.schema import arrow_schema

        empty = pa.schema(list(arrow_schema(name)) + [pa.field("date", pa.date32())]).empty_table()
        self._con.register(f"_empty_{name}", empty)
        self._con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM "_empty_{name}"')

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ queries
    @property
    def empty(self) -> bool:
        """True when no table folder holds a Parquet file yet."""
        return not self._tables

    def relation(self, text: str, params: Optional[Sequence[Any]] = None) -> Optional[duckdb.DuckDBPyRelation]:
        """The DuckDB relation of one SQL statement with `?` parameters; errors are `duckdb.Error`."""
        return self._con.sql(text, params=list(params) if params is not None else None)

    def arrow(self, text: str, params: Optional[Sequence[Any]] = None, limit: Optional[int] = None) -> pa.Table:
        """The rows of one SQL statement (at most `limit`) as an Arrow table, types as DuckDB gives them."""
        rel = self.relation(text, params)
        if rel is None:
            return pa.table({})
        if limit is not None:
            rel = rel.limit(int(limit))
        return _arrow_table(rel)

    def sql(self, text: str, params: Optional[Sequence[Any]] = None, limit: Optional[int] = None) -> pd.DataFrame:
        """The rows of one SQL statement (with `?` parameters, at most `limit`) as a DataFrame."""
        return frame_of(self.arrow(text, params, limit))

    def export(self, text: str, path: Union[str, Path], params: Optional[Sequence[Any]] = None,
               limit: Optional[int] = None) -> int:
        """Write the rows of a query to `path` (.csv, or .parquet with zstd) atomically; returns the row count.

        Rows stream from DuckDB to the file, so a result larger than memory can be written; Parquet keeps
        the Asia/Seoul time zone of the lake's timestamps.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise ValueError(f"cannot write {path.name!r}: the output file must end in .csv or .parquet")
        rel = self.relation(text, params)
        if rel is None:
            raise ValueError("the statement returns no rows to write")
        if limit is not None:
            rel = rel.limit(int(limit))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        try:
            rows = self._write_csv(rel, tmp) if suffix == ".csv" else _write_parquet(rel, tmp)
            tmp.replace(path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return rows

    def _write_csv(self, rel: duckdb.DuckDBPyRelation, path: Path) -> int:
        """CSV with a header, written by DuckDB (times with their +09 offset); COPY gives the row count."""
        rel.create_view("_koabus_export", replace=True)
        try:
            return int(self._con.execute(f"COPY (SELECT * FROM _koabus_export) TO {_sql_text(str(path))} "
                                         "(FORMAT csv, HEADER true)").fetchall()[0][0])
        finally:
            self._con.execute("DROP VIEW IF EXISTS _koabus_export")

    def ticks(self, code: str, day: str) -> pd.DataFrame:
        """The trades of `code` on trading date `day` ('YYYY-MM-DD'), oldest first."""
        return self.sql("SELECT * FROM ticks WHERE code = ? AND date = CAST(? AS DATE) ORDER BY time, epoch, seq",
                        [code, day])

    def bars(self, code: str, day: str, interval: str = "1 minute") -> pd.DataFrame:
        """OHLCV bars of `code` on `day` resampled from its ticks; `interval` like '1 minute', '5 minutes'."""
        return self.sql("SELECT * FROM bars(?, ?, ?)", [code, day, interval])

    def gaps(self, day: Optional[str] = None) -> pd.DataFrame:
        """The recorded gaps of `day` (all days when None)."""
        if day is None:
            return self.sql("SELECT * FROM gaps ORDER BY detected_time, topic, first_seq")
        return self.sql("SELECT * FROM gaps_of(?)", [day])

    def table_names(self) -> List[str]:
        """The tables found on disk (views `rt_trade`, `gaps`, ... that hold at least one file)."""
        return [t.name for t in self._tables]

    def table_stats(self) -> pa.Table:
        """One row per table on disk: table, rows, files, first_date and last_date (null when not dated)."""
        rows: List[Tuple[Any, ...]] = []
        for table in self._tables:
            files = self._con.execute("SELECT count(*) FROM glob(?)", [table.glob]).fetchall()[0][0]
            dated = "date" in [c[0] for c in self._con.execute(f'DESCRIBE "{table.name}"').fetchall()]
            stats = "count(*), min(date), max(date)" if dated else "count(*), NULL::DATE, NULL::DATE"
            count, first, last = self._con.execute(f'SELECT {stats} FROM "{table.name}"').fetchall()[0]
            rows.append((table.name, count, files, first, last))
        columns = list(zip(*rows)) if rows else [[]] * 5
        return pa.table({"table": pa.array(columns[0], pa.string()), "rows": pa.array(columns[1], pa.int64()),
                         "files": pa.array(columns[2], pa.int64()), "first_date": pa.array(columns[3], pa.date32()),
                         "last_date": pa.array(columns[4], pa.date32())})

    def tables(self) -> pd.DataFrame:
        """`table_stats()` as a DataFrame."""
        return frame_of(self.table_stats())


def _arrow_table(rel: duckdb.DuckDBPyRelation) -> pa.Table:
    """duckdb 2 names it to_arrow_table; 1.x (the last for Python < 3.11) only has arrow()."""
    return rel.to_arrow_table() if hasattr(rel, "to_arrow_table") else rel.arrow()


def _arrow_reader(rel: duckdb.DuckDBPyRelation) -> pa.RecordBatchReader:
    return rel.to_arrow_reader() if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader()


def _write_parquet(rel: duckdb.DuckDBPyRelation, path: Path) -> int:
    """Parquet (zstd) through pyarrow batch by batch, which keeps the timestamps' Asia/Seoul zone."""
    import pyarrow.parquet as pq

    rows = 0
    reader = _arrow_reader(rel)
    with pq.ParquetWriter(str(path), reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def frame_of(table: pa.Table) -> pd.DataFrame:
    """An Arrow result as the SDK's frames read: KST times, KST-midnight dates, Int64 only where values miss."""
    frame = table.to_pandas()
    for index, field in enumerate(table.schema):
        column = table.column(index)
        converted: Any = None
        if pa.types.is_timestamp(field.type) and field.type.tz:
            converted = pd.to_datetime(frame.iloc[:, index]).dt.tz_convert(TZ)
        elif pa.types.is_date(field.type):
            converted = pd.to_datetime(frame.iloc[:, index]).dt.tz_localize(TZ)
        elif pa.types.is_integer(field.type) and column.null_count:
            converted = frame.iloc[:, index].astype("Int64")
        elif pa.types.is_decimal(field.type) and field.type.scale == 0:  # sum() of BIGINT is HUGEINT
            values = [None if v is None else int(v) for v in column.to_pylist()]
            if all(v is None or -(1 << 63) <= v < (1 << 63) for v in values):
                converted = pd.array(values, dtype="Int64" if column.null_count else "int64")
        if converted is not None:
            frame.isetitem(index, converted)
    return frame
