"""The CLI tells the truth (issue 15, "CLI and SDK behaviour"): a missing broker, unknown codes and empty
ranges fail with one line that says what to do, pacing shows a live countdown and an ETA, `watch` works
in a pipe and starts every code with its last values, and the small things (xlsx, --version, tables
instead of reprs, the order cancel of an order the broker did not send) work as the help says.

Against the real broker on the simulated control (virtual clock from SIM_START), through `main()` or
the real `koabus` command in a child process.
"""
from __future__ import annotations

import json
import os
import re
import select
import shlex
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest

from koabus.common.cli.main import main
from koabus.common.cli.progress import BarsProgress, PacingModel, pages_estimate
from koabus.common.client import Client, ClientOptions
from koabus.common.errors import NotFound, Unavailable
from tests.common.client.live import REPO, BrokerProcess
from tests.helpers import free_tcp_port, stop_process

CODE = "005930"
#: a KOSDAQ code the simulator trades rarely (a few trades per virtual minute)
QUIET = "035600"


@pytest.fixture
def koabus(broker, capsys, monkeypatch):
    """Run `koabus ARGS... --router R --pub P`; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("COLUMNS", raising=False)

    def run(*args: str):
        code = main(list(args) + ["--router", broker.router, "--pub", broker.pub, "--timeout", "20"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _koabus_process(*args: str) -> subprocess.Popen:
    """The real `koabus` command (this interpreter), stdout a pipe."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("COLUMNS", None)
    return subprocess.Popen([sys.executable, "-m", "koabus.common.cli.main", *args], cwd=str(REPO), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")


def _read_lines(proc: subprocess.Popen, n: int, timeout_s: float) -> list:
    """Up to `n` lines of the child's stdout while it runs, waiting at most `timeout_s` in all."""
    lines: list = []
    deadline = time.monotonic() + timeout_s
    while len(lines) < n and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
    return lines


# ---- 1: no broker --------------------------------------------------------------------------------

def test_without_a_broker_a_command_fails_with_how_to_start_one(capsys):
    port = free_tcp_port()
    code = main(["name", CODE, "--router", f"tcp://127.0.0.1:{port}", "--pub", f"tcp://127.0.0.1:{port + 1}"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1, err
    # the default --connect-timeout is 1.5 s (not 10 s of HELLO retries), and the line says what to do
    assert err.startswith(f"koabus: Unavailable: no broker answered at tcp://127.0.0.1:{port} within 1.5 s: ")
    assert "koabus up" in err and "koabus broker --backend sim" in err


def test_status_without_a_broker_says_how_to_start_one(capsys):
    port = free_tcp_port()
    assert main(["status", "--router", f"tcp://127.0.0.1:{port}"]) == 1
    err = capsys.readouterr().err
    assert f"no broker answered at tcp://127.0.0.1:{port} within 1.5 s" in err and "koabus up" in err


def test_the_sdk_connect_timeout_bounds_the_first_connect_and_says_how_to_start_one():
    port = free_tcp_port()
    # hello_timeout_s above the connect timeout: the old handshake waited out a whole HELLO regardless
    options = ClientOptions(connect_timeout_s=0.5, hello_timeout_s=30.0)
    with pytest.raises(Unavailable) as caught:
        Client(f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{free_tcp_port()}", options=options)
    assert "within 0.5 s" in str(caught.value) and "koabus up" in str(caught.value)


def test_the_connect_timeout_is_an_option(capsys):
    port = free_tcp_port()
    assert main(["daily", CODE, "--router", f"tcp://127.0.0.1:{port}", "--pub", f"tcp://127.0.0.1:{port + 1}",
                 "--connect-timeout", "0.3"]) == 1
    assert "within 0.3 s" in capsys.readouterr().err


# ---- 2: unknown codes, empty and impossible ranges ------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (("daily", "999999"), "NotFound: no stock with code 999999"),
    (("minute", CODE, "999998"), "NotFound: no stock with code 999998"),
    (("info", "999999"), "NotFound: no stock with code 999999"),
    (("watch", "999999", "--count", "1"), "NotFound: no stock with code 999999"),
    (("daily", CODE, "--start", "2025-05-20", "--end", "2025-05-10"), "is after --end 2025-05-10"),
    (("daily", CODE, "--start", "2025-07-01"), "is after the broker's date 2025-06-02"),
    (("daily", CODE, "--start", "2025-05-31", "--end", "2025-06-01"), "no KRX session between 2025-05-31"),
    (("weekly", CODE, "--start", "2025-05-05", "--end", "2025-05-06"), "no KRX session between 2025-05-05"),
])
def test_unknown_codes_and_empty_ranges_exit_1_with_one_line(koabus, args, words):
    code, out, err = koabus(*args)
    assert code == 1 and out == "" and err.count("\n") == 1 and words in err, (out, err)


def test_a_range_before_the_history_says_there_are_no_bars(koabus):
    code, out, err = koabus("daily", CODE, "--start", "1970-01-01", "--end", "1970-12-31")
    assert code == 1 and out == "" and err == f"koabus: {CODE}: no daily bars between 1970-01-01 and 1970-12-31\n"
    code, out, err = koabus("daily", CODE, "--start", "1970-01-01", "--end", "1970-12-31", "--json")
    assert code == 1 and json.loads(out) == [] and "no daily bars" in err


def test_a_range_with_sessions_still_prints_its_table(koabus):
    code, out, err = koabus("daily", CODE, "--start", "2025-05-26", "--end", "2025-05-30")
    assert code == 0 and err == "" and "2025-05-30" in out


# ---- 3: pacing countdown and ETA; order --wait ------------------------------------------------------

class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_pacing_countdown_runs_down_between_status_samples():
    clock = FakeMonotonic()
    model = PacingModel(monotonic=clock)
    model.update({"clock_s": 1000.0, "pacing": {"tr": {"wait_s": 0.0, "queued": 0, "windows": [[5, 1.0]]}}})
    assert model.describe(5) == ""  # one sample: the clock's speed is unknown, so no number yet
    clock.now += 1
    model.update({"clock_s": 1001.0, "pacing": {"tr": {"wait_s": 18.0, "queued": 0, "windows": [[5, 1.0]]}}})
    assert model.wait_left_s() == 18.0 and "next request in 18s" in model.describe(None)
    clock.now += 5  # no new status: the countdown goes on by itself (it used to freeze at the notice)
    assert model.wait_left_s() == 13.0 and "next request in 13s" in model.describe(None)
    clock.now += 20
    assert model.wait_left_s() == 0.0 and model.describe(None) == ""


def test_broker_seconds_become_wall_seconds_at_the_clock_speed():
    clock = FakeMonotonic()
    model = PacingModel(monotonic=clock)
    model.update({"clock_s": 1000.0, "pacing": {"tr": {"wait_s": 0.0, "windows": [[5, 1.0], [10, 60.0]]}}})
    clock.now += 2
    model.update({"clock_s": 1040.0, "pacing": {"tr": {"wait_s": 40.0, "windows": [[5, 1.0], [10, 60.0]]}}})
    assert model.speed == 20.0 and model.wait_left_s() == 2.0
    model.throttle({"state": "end", "kind": "tr", "wait_s": 0.0})
    # 20 more requests under 5/1 s and 10/60 s: the 11th waits for the 60 s window, the 20th too
    assert model.eta_s(20) == pytest.approx(61.0 / 20.0, abs=0.01)
    assert "ETA 4s" in model.describe(20)
    for _ in range(3):  # pages that come a second apart: slower than the pacing allows, so that pace counts
        model.sent()
        clock.now += 1.0
    assert model.eta_s(20) == pytest.approx(20.0)


def test_a_page_estimate_follows_the_range():
    from datetime import date

    assert pages_estimate("daily", date(2024, 1, 1), date(2024, 12, 31)) == 1
    assert pages_estimate("daily", date(2015, 1, 1), date(2024, 12, 31)) == 5
    assert pages_estimate("minute", date(2024, 12, 2), date(2024, 12, 6), interval=1) == 3
    assert pages_estimate("tick", date(2024, 12, 2), date(2024, 12, 6)) is None
    assert pages_estimate("daily", None, date(2024, 12, 6)) == 1


def test_the_progress_bar_reads_the_brokers_pacing_and_shows_pages(broker):
    from io import StringIO

    from rich.console import Console

    buffer = StringIO()
    console = Console(file=buffer, force_terminal=True, width=160, color_system=None)
    with Client(broker.router, broker.pub, options=ClientOptions(timeout_s=30)) as client:
        windows = client.status()["pacing"]["tr"]["windows"]
        bar = BarsProgress(client, [CODE], 5, console, transient=False, enabled=True)
        with bar:
            assert bar.model.windows == windows and bar.model.describe(5) == ""  # no speed yet
            for _ in range(40):  # the poller's next status measures the clock's speed (20)
                if bar.model.speed_known:
                    break
                time.sleep(0.25)
            assert "ETA" in bar.model.describe(5)
            bar.code(CODE, 0)
            client.daily(CODE, "2015-01-01", "2025-05-30", on_page=bar.page)
            pages = bar.current_pages
            bar.code(CODE, 1)
    assert pages >= 5 and re.search(r"page \d+", buffer.getvalue())


def test_the_order_wait_is_documented_and_says_when_it_gives_up(koabus, capsys):
    with pytest.raises(SystemExit):
        main(["order", "buy", "--help"])
    assert "(10.0)" in " ".join(capsys.readouterr().out.split())
    low = json.loads(koabus("info", CODE, "--json")[1])["하한가"]
    code, out, err = koabus("order", "buy", CODE, "1", "--price", str(low), "--wait", "2")
    note = re.search(r"koabus: order (\S+) is still (\w+) after --wait 2 s: no longer followed, it stays open", err)
    assert code == 0 and note, err
    if note.group(1).isdigit():  # numbered in time (else the server numbers it later; it is left resting)
        assert koabus("order", "cancel", note.group(1))[0] == 0


# ---- 4: watch -------------------------------------------------------------------------------------------

def test_watch_into_a_pipe_prints_a_line_per_event_as_they_come(broker):
    proc = _koabus_process("watch", CODE, "000660", "--seconds", "60", "--router", broker.router,
                           "--pub", broker.pub)
    try:
        lines = _read_lines(proc, 4, timeout_s=30)
    finally:
        stop_process(proc)
    assert len(lines) == 4, (lines, proc.stderr.read())  # while the command still runs
    assert lines[0].split("\t") == ["code", "name", "time", "price", "chg", "chg%", "vol", "cum vol"]
    for line in lines[1:]:
        cells = line.split("\t")
        assert cells[0] in (CODE, "000660") and cells[1] in ("삼성전자", "SK하이닉스") and len(cells) == 8


def test_a_lone_watcher_starts_every_code_with_its_last_values(koabus):
    code, out, _ = koabus("watch", CODE, "000660", QUIET, "--count", "3", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {e["code"] for e in events} == {CODE, "000660", QUIET}
    seeds = [e for e in events if e.get("source") == "opt10001"]
    assert seeds and all(e["snapshot"] and e["values"]["current_price"] > 0 for e in seeds)


def test_the_watch_table_has_a_row_for_every_code_asked(koabus, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = koabus("watch", CODE, QUIET, "--table", "--count", "2", "--no-snapshot")
    rows = [line.split()[0] for line in out.splitlines() if line[:6].isdigit()]
    assert code == 0 and rows == [CODE, QUIET]


def test_watch_into_head_ends_quietly(broker):
    proc = subprocess.run(f"{shlex.quote(sys.executable)} -m koabus.common.cli.main watch {CODE} --seconds 60 "
                          f"--router {broker.router} --pub {broker.pub} | head -2", shell=True, cwd=str(REPO),
                          capture_output=True, text=True, timeout=60)
    assert len(proc.stdout.splitlines()) == 2 and "Broken pipe" not in proc.stderr and "Error" not in proc.stderr


# ---- 5: order cancel/modify of an order the broker did not send -------------------------------------

def test_cancel_of_an_unknown_order_says_so_without_asking_for_an_option_that_is_not_there(koabus, capsys):
    code, _, err = koabus("order", "cancel", "9999999")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("koabus: NotFound: no open order 9999999 in account ") and "side" not in err
    with pytest.raises(SystemExit):
        main(["order", "cancel", "--help"])
    assert "--side {buy,sell}" in capsys.readouterr().out


def test_an_open_order_the_broker_did_not_send_is_cancelled_from_the_open_orders(tmp_path, capsys):
    """The broker forgot the order (its journal is gone; the simulated server keeps it open): code and side
    come from opt10075, no --code/--side needed."""
    import shutil

    process = BrokerProcess(speed=20.0, log_path=tmp_path / "broker.log").start()
    try:
        endpoints = ["--router", process.router, "--pub", process.pub, "--timeout", "20"]
        assert main(["order", "buy", CODE, "1", "--price", "60200", "--wait", "0.5", *endpoints]) == 0
        with Client(process.router, process.pub) as client:
            for _ in range(40):  # until the simulated server has it (the broker may still be pacing it)
                open_now = list(client.open_orders(english=True)["order_no"])
                if open_now:
                    break
                time.sleep(0.25)
        assert len(open_now) == 1
        order_no = open_now[0]
        process.stop()
        shutil.rmtree(process.state_dir / "orders")
        process.start()
        capsys.readouterr()
        with Client(process.router, process.pub) as client:
            with pytest.raises(NotFound):
                client.order_status(order_no=order_no)
            assert list(client.open_orders(english=True)["order_no"]) == [order_no]
        assert main(["order", "cancel", order_no, "--json", *endpoints]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["event"] == "confirmed" and (result["code"], result["side"]) == (CODE, "buy")
        assert result["orig_order_no"] == order_no
    finally:
        process.stop()


# ---- 6: xlsx, --version, tables instead of reprs, the example's usage, the licence banner --------------

def test_xlsx_output_is_written(koabus, tmp_path):
    path = tmp_path / "bars.xlsx"
    code, _, err = koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30", "--out", str(path))
    rows = json.loads(koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30", "--json")[1])
    assert code == 0 and "saved 1 code(s)" in err
    assert len(pd.read_excel(path, engine="openpyxl")) == len(rows) > 10


def test_version(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as caught:
        main(["--version"])
    assert caught.value.code == 0 and capsys.readouterr().out.strip() == f"koabus {version('koabus')}"


def test_login_and_status_are_tables_without_python_reprs(koabus, broker, capsys):
    code, out, _ = koabus("login")
    assert code == 0 and re.search(r"│ accounts\s+│ \d{10}, \d{10}", out) and "│ simulation │ yes" in out
    assert "[" not in out and "'" not in out and "True" not in out
    assert main(["status", "--router", broker.router]) == 0
    out = capsys.readouterr().out
    assert re.search(r"│ connected\s+│ yes", out) and re.search(r"│ accounts\s+│ \d{10}, \d{10}", out)
    assert re.search(r"│ clock_s\s+│ 2025-06-02 \d\d:\d\d:\d\d KST", out) and "windows" in out
    for repr_text in ("{", "[", "None", "True", "False"):
        assert repr_text not in out, repr_text


def test_the_asyncio_examples_usage_line_runs(broker):
    import ast

    doc = ast.get_docstring(ast.parse(Path(REPO, "examples", "asyncio_example.py").read_text(encoding="utf-8")))
    usage = next(line.strip() for line in doc.splitlines() if line.strip().startswith("python "))
    argv = shlex.split(usage)
    assert argv[1] == "examples/asyncio_example.py"
    proc = subprocess.run([sys.executable, *argv[1:], "--router", broker.router, "--pub", broker.pub],
                          cwd=str(REPO), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "trades seen" in proc.stdout


def test_building_the_package_prints_no_licence_deprecation():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proc = subprocess.run([sys.executable, "-W", "always", "setup.py", "--license"], cwd=str(REPO),
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "MIT"
    assert "deprecated" not in proc.stderr.lower() and "license" not in proc.stderr.lower(), proc.stderr


def test_xlsx_is_a_declared_dependency():
    import tomllib

    with open(Path(REPO, "pyproject.toml"), "rb") as handle:
        extras = tomllib.load(handle)["project"]["optional-dependencies"]
    assert any(re.match(r"openpyxl\b", requirement) for requirement in extras["client"])
