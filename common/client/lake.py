"""The SDK's door to the recorded lake: `Lake(root)` answers SQL, ticks, bars and gaps as DataFrames.

Reads the Parquet files the recorder (and `koabus sync`) wrote, locally, without a broker:

    from koabus.common.client import Lake

    with Lake("data") as lake:
        bars = lake.bars("005930", "2026-11-24", "5 minutes")   # OHLCV resampled from recorded ticks
        ticks = lake.ticks("005930", "2026-11-24")
        gaps = lake.gaps("2026-11-24")                         # where the recording has holes
        frame = lake.sql("SELECT code, count(*) AS n FROM ticks WHERE date = ? GROUP BY code", ["2026-11-24"])

`koabus.common.client` imports this module (and DuckDB) only when `Lake` is first used.
"""
from __future__ import annotations

from koabus.common.lake.query import DEFAULT_ROOT, Lake

__all__ = ["DEFAULT_ROOT", "Lake"]
