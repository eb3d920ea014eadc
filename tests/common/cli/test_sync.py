"""`koabus sync` and `koabus daily --cached` against the real broker on the simulated control.

The simulated market starts on Monday 2025-06-02 09:05 KST (virtual clock, speed 20), so the last
final session is Friday 2025-05-30 and Monday's session is running: it must never be stored. TRs
sent are read from the broker's own counters (`status` pacing.tr.sent). Budget: ~15 TRs in all.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, Dict, List

import pandas as pd
import pyarrow.parquet as pq

from koabus.common.cli.main import main
from koabus.common.client import Client
from koabus.common.lake import layout
from tests.common.client.live import REPO, BrokerProcess
from tests.helpers import stop_process

CODE = "005930"
SINCE = "2025-05-27"
LAST_FINAL = date(2025, 5, 30)
RUNNING = date(2025, 6, 2)


def tr_sent(broker: BrokerProcess) -> int:
    """TR requests the broker has sent to the control, read after everything before this call settled.

    `status` is a copy the Qt side refreshes every 250 ms, so a control call made now is used as a
    barrier: once the copy counts it, it also counts every TR sent before it."""
    with Client(broker.router, broker.pub) as client:
        def calls() -> int:
            return int(client.status()["counters"]["control_calls"].get("GetMasterCodeName", 0))

        before = calls()
        client.call("GetMasterCodeName", CODE)
        deadline = time.monotonic() + 10.0
        while calls() <= before:
            assert time.monotonic() < deadline, "the broker's status never counted the barrier call"
            time.sleep(0.02)
        return int(client.status()["pacing"]["tr"]["sent"])


def run_koabus(broker: BrokerProcess, capsys, *args: str):
    code = main(list(args) + ["--router", broker.router, "--pub", broker.pub, "--timeout", "20"])
    out, err = capsys.readouterr()
    return code, out, err


def stored(lake: Path) -> Dict[str, List[Any]]:
    """Every stored row of every history file, per table, sorted: what two stores are compared by."""
    out: Dict[str, List[Any]] = {}
    for table in layout.list_tables(lake):
        rows = []
        for path in layout.list_files(lake, table):
            rows += [tuple(sorted(r.items())) for r in pq.read_table(str(path)).to_pylist()]
        out[table] = sorted(rows)
    return out


def test_second_run_sends_no_tr_and_the_running_session_is_never_stored(broker, capsys, tmp_path):
    lake = tmp_path / "lake"
    codes = tmp_path / "codes.txt"
    codes.write_text(f"# a typo must not be stored as a code without data\n{CODE}\n999999\n")
    argv = ["sync", "--codes", str(codes), "--daily", "--minute", "1", "--since", SINCE, "--lake", str(lake),
            "--json"]
    before = tr_sent(broker)
    code, out, err = run_koabus(broker, capsys, *argv)
    first = json.loads(out)
    after_first = tr_sent(broker)
    assert code == 1 and [e["code"] for e in first["errors"]] == ["999999"]
    assert first["requests"] > 0 and after_first - before == first["requests"]
    assert first["until"] == LAST_FINAL.isoformat()
    assert layout.list_codes(lake, "history_daily") == [CODE]

    code, out, err = run_koabus(broker, capsys, *argv)
    second = json.loads(out)
    assert code == 1 and [e["code"] for e in second["errors"]] == ["999999"]
    assert second["requests"] == 0 and second["planned"] == 0
    assert tr_sent(broker) == after_first  # the broker's own count: not one TR

    daily = pq.read_table(str(layout.list_files(lake, "history_daily", code=CODE)[0]))
    days = daily.column("date").to_pylist()
    assert days[-1] == LAST_FINAL and RUNNING not in days and len(days) == len(set(days))
    minute_days = [date.fromisoformat(d) for d in layout.list_dates(lake, "history_minute1", code=CODE)]
    assert sorted(minute_days) == [date(2025, 5, 27), date(2025, 5, 28), date(2025, 5, 29), LAST_FINAL]


def test_daily_cached_prints_what_the_uncached_path_prints(broker, capsys, tmp_path):
    lake = str(tmp_path / "lake")
    span = ["--start", "2025-05-20", "--end", LAST_FINAL.isoformat(), "--json"]
    before = tr_sent(broker)
    code, cached_out, err = run_koabus(broker, capsys, "daily", CODE, *span, "--cached", "--lake", lake)
    assert code == 0, err
    after_fill = tr_sent(broker)
    assert after_fill - before == 1  # one page held the missing range, now stored
    code, live_out, err = run_koabus(broker, capsys, "daily", CODE, *span)
    assert code == 0, err
    assert json.loads(cached_out) == json.loads(live_out) and len(json.loads(live_out)) == 9
    after_live = tr_sent(broker)
    code, again, err = run_koabus(broker, capsys, "daily", CODE, *span, "--cached", "--lake", lake)
    assert code == 0 and again == cached_out
    assert tr_sent(broker) == after_live  # all from the store


def test_sdk_minute_cached_frame_equals_the_uncached_one(broker, tmp_path):
    lake = tmp_path / "lake"
    span = (date(2025, 5, 28), LAST_FINAL)
    before = tr_sent(broker)
    with Client(broker.router, broker.pub) as client:
        cached = client.minute(CODE, 1, *span, cached=True, lake=lake)
        filled = tr_sent(broker)
        live = client.minute(CODE, 1, *span)
        after_live = tr_sent(broker)
        again = client.minute(CODE, 1, *span, cached=True, lake=lake)
    assert filled > before
    pd.testing.assert_frame_equal(cached, live)
    pd.testing.assert_frame_equal(again, live)
    assert tr_sent(broker) == after_live  # the second cached read came from the store alone
    assert sorted({t.date() for t in cached.index}) == [date(2025, 5, 28), date(2025, 5, 29), LAST_FINAL]


def test_kill9_mid_sync_then_rerun_equals_an_uninterrupted_run(tmp_path, capsys):
    # one TR per 10 virtual seconds = two per wall second at speed 20: a kill lands between pages
    broker = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log",
                           settings={"pacing": {"tr_windows": [[1, 10.0]]}}).start()
    try:
        def sync_args(lake: Path) -> List[str]:
            return ["sync", "--codes", CODE, "--daily", "--minute", "1", "--since", SINCE, "--lake", str(lake),
                    "--quiet", "--json"]

        whole, resumed = tmp_path / "whole", tmp_path / "resumed"
        code, out, err = run_koabus(broker, capsys, *sync_args(whole))
        assert code == 0, err
        sent_whole = json.loads(out)["requests"]

        # the real command in its own process, SIGKILLed once its first minute session is on disk
        argv = [sys.executable, "-m", "koabus.common.cli.main", *sync_args(resumed),
                "--router", broker.router, "--pub", broker.pub, "--timeout", "30"]
        proc = subprocess.Popen(argv, cwd=str(REPO), env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not layout.list_files(resumed, "history_minute1"):
                assert proc.poll() is None, "sync ended before it could be killed"
                assert time.monotonic() < deadline, "no minute session was ever written"
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            stop_process(proc)
        partial = stored(resumed)
        assert 0 < len(partial["history_minute1"]) < len(stored(whole)["history_minute1"])  # killed mid-run

        code, out, err = run_koabus(broker, capsys, *sync_args(resumed))
        assert code == 0, err
        assert 0 < json.loads(out)["requests"] <= sent_whole
        assert stored(resumed) == stored(whole)
        assert not list(resumed.rglob("*.tmp"))
        minute = stored(resumed)["history_minute1"]
        assert len(minute) == len(set((dict(r)["code"], dict(r)["time"]) for r in minute))  # no duplicates
    finally:
        broker.stop()
