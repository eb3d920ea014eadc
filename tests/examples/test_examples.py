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
    """KOAPY's README script, whole (only its imports changed), finds the broker in the environment
    as a script without arguments would; its two 10-second listens are cancelled by its own timers."""
    result = subprocess.run([sys.executable, str(EXAMPLES / "koapy_readme.py")], capture_output=True, text=True,
                            timeout=110, env=dict(os.environ, KOABUS_ROUTER=broker.router, KOABUS_PUB=broker.pub))
    assert result.returncode == 0, result.stderr[-2000:]
    out, log = result.stdout, result.stderr
    assert out.startswith("C:\\OpenAPI\n") and "'종목명': '삼성전자'" in out     # 1, 4: module path, opt10001
    assert "rows x 13 columns]" in out and "'name': 'OnReceiveTrData'" in out  # 4: daily frame, TransactionCall
    assert "TrField(name='종목코드'" in out                                      # 4: KiwoomOpenApiPlusTrInfo
    assert "'name': 'OnReceiveTrCondition'" in out and "{'string_value': '중소형 저평가주'}" in out  # 5
    assert "'name': 'OnReceiveRealData'" in out and "'현재가'" in out             # 7: readable FID names
    assert out.rstrip().endswith('details = "Locally cancelled by application!"\n>')  # 7: grpc.RpcError printed
    assert "Connection status: 1" in log and "Stop listening realtime events..." in log and "End of example" in log
    if "Sending order to buy" in log:  # 6 runs only while the real KRX is in session
        assert "'name': 'OnReceiveChejanData'" in out
    else:
        assert "Cannot send an order while market is not open" in log


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
