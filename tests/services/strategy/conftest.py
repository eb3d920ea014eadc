"""Fixtures for the strategy host's process tests: a recorded day in a temporary lake, a replay broker
subprocess on it, strategy subprocesses, and a SUB on the strategy's PUB. Every process is stopped by
the fixture or test that started it; every wait is bounded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
import yaml

from tests.helpers import free_tcp_port, stop_process
from tests.services.broker.bus import BusClient

CODES = ("005930", "000660")
SESSION_DAY = date(2024, 3, 6)  # tests.services.broker.conftest.SESSION_START: 10:00:00 KST
RECORD_SECONDS = 600.0  # ten one-minute bars
REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "strategies" / "ma_cross.py"
ACCOUNT = "8000000011"


def record_day(qapp, lake: Path, seconds: float = RECORD_SECONDS, step_s: float = 2.0) -> None:
    """A real broker over the simulator, CODES x (trade, book) subscribed, `seconds` of virtual time;
    what a SUB received written to `lake` through the lake's own API (as the recorder would)."""
    from koabus.common.lake.schema import table_of, to_arrow, trading_date
    from koabus.services.recorder.sinks.parquet import ParquetSink
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp)
    try:
        client = stack.client("recorder")
        client.subscribe_pub("rt.")
        client.pump(0.2)
        client.result("subscribe", {"codes": list(CODES), "types": ["trade", "book"]})
        for _ in range(int(seconds / step_s) + 1):
            stack.sim.advance(step_s)
            client.pump(0.005)
        client.pump(0.3)
        pubs = client.pubs_on("rt.")
    finally:
        stack.close()
    by_table: Dict[tuple, list] = {}
    for pub in pubs:
        by_table.setdefault((table_of(pub.topic), trading_date(pub)), []).append(pub)
    sink = ParquetSink(lake, durable=False)
    for (table, day), group in sorted(by_table.items()):
        sink.write(table, day, to_arrow(table, group), "test-0-0")
    sink.close()


@pytest.fixture(scope="package")
def lake(qapp, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lake")
    record_day(qapp, root)
    return root


def koabus(args: Sequence[str], cwd: Path, log_name: str) -> subprocess.Popen:
    """`koabus ARGS` in `cwd`, standard error to cwd/<log_name> (a pipe nobody reads could fill)."""
    code = "import sys; from koabus.common.cli.main import main; sys.exit(main(sys.argv[1:]))"
    with open(cwd / log_name, "ab") as err:
        return subprocess.Popen([sys.executable, "-c", code, *args], cwd=str(cwd), stdout=subprocess.DEVNULL,
                                stderr=err, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))


class ReplayBroker:
    """`koabus broker --backend replay` of the lake's SESSION_DAY at `speed`, its state in `tmp/broker-state`."""

    def __init__(self, qapp, lake: Path, tmp: Path, speed: float):
        self.tmp = tmp
        self.router = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.pub = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.state_dir = tmp / "broker-state"
        config = tmp / "broker.yaml"
        config.write_text(yaml.safe_dump({"router": self.router, "pub": self.pub}))
        self.proc = koabus(["broker", "--backend", "replay", "--date", SESSION_DAY.isoformat(), "--lake", str(lake),
                            "--speed", str(speed), "--codes", *CODES, "--config", str(config),
                            "--state-dir", str(self.state_dir)], tmp, "broker.log")
        self.client = BusClient(qapp, self.router, None, "strategy-test")
        if not self.client.wait_for(self._connected, 30.0):
            self.close()
            raise AssertionError("the replay broker did not come up: " + self.log()[-2000:])

    def _connected(self) -> bool:
        if self.proc.poll() is not None:
            return True  # fail fast: the caller sees the log
        try:
            return bool(self.client.result("status", timeout_s=1.0).get("connected"))
        except AssertionError:
            return False

    def log(self) -> str:
        return (self.tmp / "broker.log").read_text(errors="replace")

    def journal(self) -> List[dict]:
        """The broker's order journal records of the replayed day."""
        path = self.state_dir / "orders" / f"{SESSION_DAY:%Y%m%d}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def order_status(self, order_id: str) -> dict:
        return self.client.result("order_status", {"client_order_id": order_id}, timeout_s=5.0)

    def close(self) -> None:
        self.client.close()
        stop_process(self.proc)


@pytest.fixture
def make_broker(qapp, lake, tmp_path):
    started: List[ReplayBroker] = []

    def make(speed: float) -> ReplayBroker:
        broker = ReplayBroker(qapp, lake, tmp_path, speed)
        started.append(broker)
        return broker

    try:
        yield make
    finally:
        for broker in started:
            broker.close()


class StrategyProcess:
    """`koabus strategy FILE` against `broker`, its settings in a YAML file, its events on a SUB."""

    def __init__(self, qapp, broker: ReplayBroker, tmp: Path, file: Path, settings: dict, status: Optional[str] = None):
        self.tmp = tmp
        self.status = status or f"tcp://127.0.0.1:{free_tcp_port()}"
        self.state_dir = tmp / "strategy-state"
        data = {"router": broker.router, "pub": broker.pub, "status": self.status, "state_dir": str(self.state_dir),
                "replay_date": SESSION_DAY.isoformat(), "connect_wait_s": 20.0, "clock_interval_s": 0.2,
                "heartbeat_ms": 200, **settings}
        self.config = tmp / f"strategy-{time.monotonic_ns()}.yaml"
        self.config.write_text(yaml.safe_dump(data))
        self.bus = BusClient(qapp, broker.router, self.status, "strategy-events")
        self.bus.subscribe_pub("strat.")
        self.bus.subscribe_pub("sys.hb.strategy")
        self.bus.pump(0.1)
        self.proc = koabus(["strategy", str(file), "--config", str(self.config)], tmp, "strategy.log")

    def events(self, event: str) -> List[dict]:
        return [p.body for p in self.bus.pubs_on("strat.") if p.topic.endswith("." + event)]

    def beats(self) -> List[dict]:
        return [p.body for p in self.bus.pubs_on("sys.hb.strategy")]

    def wait(self, predicate, timeout_s: float) -> bool:
        return self.bus.wait_for(predicate, timeout_s)

    def wait_exit(self, timeout_s: float) -> Optional[int]:
        self.bus.wait_for(lambda: self.proc.poll() is not None, timeout_s)
        self.bus.pump(0.2)
        return self.proc.poll()

    def log(self) -> str:
        return (self.tmp / "strategy.log").read_text(errors="replace")

    def journal(self) -> List[dict]:
        files = sorted(self.state_dir.glob("*/*.jsonl"))
        return [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip().endswith("}")]

    def close(self) -> None:
        self.bus.close()
        stop_process(self.proc)


@pytest.fixture
def run_strategy(qapp, tmp_path):
    started: List[StrategyProcess] = []

    def run(broker: ReplayBroker, file: Path = EXAMPLE, **settings) -> StrategyProcess:
        proc = StrategyProcess(qapp, broker, tmp_path, file, settings)
        started.append(proc)
        return proc

    try:
        yield run
    finally:
        for proc in started:
            proc.close()
