"""`koabus broker --backend replay` as a real process: the recorded day at --speed to a real SUB, and one
clear line for a date the lake does not hold."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import free_tcp_port, stop_process
from tests.services.broker.bus import BusClient
from tests.services.replay.recording import CODES, SESSION_DAY, TYPES, fingerprint, record_session


def _koabus(args, cwd: Path) -> subprocess.Popen:
    """`koabus ARGS` in `cwd`, its standard error in cwd/stderr.log (a pipe nobody reads could fill)."""
    code = "import sys; from koabus.common.cli.main import main; sys.exit(main(sys.argv[1:]))"
    with open(cwd / "stderr.log", "wb") as err:
        return subprocess.Popen([sys.executable, "-c", code, *args], cwd=str(cwd), stdout=subprocess.DEVNULL,
                                stderr=err, env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))


@pytest.fixture(scope="module")
def lake(qapp, tmp_path_factory):
    from koabus.common.lake.schema import trading_date

    root = tmp_path_factory.mktemp("lake")
    pubs = record_session(qapp, root)
    return root, [p for p in pubs if trading_date(p) == SESSION_DAY.isoformat()]


def test_a_date_without_data_exits_with_one_clear_line(lake, tmp_path):
    proc = _koabus(["broker", "--backend", "replay", "--date", "2024-03-07", "--lake", str(lake[0])], tmp_path)
    try:
        proc.wait(timeout=60)
    finally:
        stop_process(proc)
    lines = (tmp_path / "stderr.log").read_text().strip().splitlines()
    assert proc.returncode == 2
    assert lines[-1].startswith("koabus broker: no recorded realtime data for 2024-03-07")
    assert not [line for line in lines if line.startswith("Traceback")]


def test_replay_process_plays_the_day_at_speed_to_a_subscriber(qapp, lake, tmp_path):
    root, recorded = lake
    router, pub = f"tcp://127.0.0.1:{free_tcp_port()}", f"tcp://127.0.0.1:{free_tcp_port()}"
    config = tmp_path / "broker.yaml"
    config.write_text(yaml.safe_dump({"router": router, "pub": pub, "state_dir": str(tmp_path / "state")}))
    proc = _koabus(["broker", "--backend", "replay", "--date", SESSION_DAY.isoformat(), "--lake", str(root),
                    "--speed", "50", "--codes", *CODES, "--config", str(config)], tmp_path)
    client = BusClient(qapp, router, pub, "replay-cli")
    try:
        client.subscribe_pub("rt.")
        assert client.wait_for(lambda: _connected(client), 30.0), "the replay broker did not come up"
        client.result("subscribe", {"codes": list(CODES), "types": list(TYPES)})  # the clock starts here
        played = client.wait_for(lambda: len(client.pubs_on("rt.")) >= len(recorded), 30.0)
        assert played, (len(client.pubs_on("rt.")), len(recorded), (tmp_path / "stderr.log").read_text()[-3000:])
        client.pump(0.3)
        assert fingerprint(client.pubs_on("rt.")) == fingerprint(recorded)
    finally:
        client.close()
        stop_process(proc)


def _connected(client: BusClient) -> bool:
    try:
        status = client.result("status", timeout_s=1.0)
    except AssertionError:
        return False
    return bool(status.get("connected"))
