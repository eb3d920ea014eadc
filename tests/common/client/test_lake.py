"""The SDK's `Lake`: reachable from `koabus.common.client`, without loading DuckDB for bus-only users."""
from __future__ import annotations

import subprocess
import sys


def test_importing_the_sdk_does_not_import_duckdb():
    probe = ("import sys, koabus.common.client as sdk; before = 'duckdb' in sys.modules; lake = sdk.Lake; "
             "print(before, 'duckdb' in sys.modules, lake.__module__)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "True", "koabus.common.lake.query"]


def test_the_sdk_lake_is_the_query_lake(tmp_path):
    from koabus.common.client import Lake
    from koabus.common.lake import query

    assert Lake is query.Lake
    with Lake(tmp_path) as lake:
        assert lake.empty and lake.bars("005930", "2026-11-24", "1 minute").empty
