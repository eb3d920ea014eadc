"""Each example script runs, as a user would run it, against the real broker on the simulated control."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.common.client.live import BrokerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield process
    process.stop()


def run_example(broker, name: str, *args: str, cwd=None) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name), "--router", broker.router, "--pub", broker.pub,
                             *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                            env=dict(os.environ, PYTHONPATH=str(EXAMPLES)))
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_koapy_readme(broker):
    out = run_example(broker, "koapy_readme.py")
    assert "kospi codes:" in out and "삼성전자" in out
    assert sum(1 for line in out.splitlines() if line.startswith("005930 주식체결")) == 3


def test_login_and_accounts(broker):
    out = run_example(broker, "login_and_accounts.py")
    assert "mock server: True" in out and "deposit of" in out


def test_daily_to_parquet_resumes(broker, tmp_path):
    out = run_example(broker, "daily_to_parquet.py", "--start", "2025-01-01", "--end", "2025-05-30",
                      "--out-dir", str(tmp_path), "005930", "000660")
    assert "005930" in out and (tmp_path / "000660.parquet").exists()
    again = run_example(broker, "daily_to_parquet.py", "--out-dir", str(tmp_path), "005930")
    assert "already saved" in again


def test_asyncio_example(broker):
    out = run_example(broker, "asyncio_example.py", "--count", "2", "005930", "000660")
    assert "trades seen: 2" in out and out.count("daily bars") == 2
