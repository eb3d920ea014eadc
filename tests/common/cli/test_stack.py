"""`koabus up|down|ps` with a real supervisord, a real broker subprocess and real `kill -9` / SIGSTOP.

Every stack lives in a temp dir with its own supervisord.conf, control socket, state and loopback ports.
"""
from __future__ import annotations

import configparser
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from koabus.common.cli import stack as stack_cli
from koabus.common.cli.main import main
from koabus.common.heartbeat import STALE_AFTER_INTERVALS
from tests.common.cli.stack_proc import Stack

REPO = Path(__file__).resolve().parents[3]


# -- no processes -------------------------------------------------------------------------------
def test_repo_supervisord_conf_runs_the_broker_with_restarts_logs_and_a_control_socket():
    conf = stack_cli.SupervisorConfig.load(str(REPO / "deploy" / "supervisord.conf"))
    assert conf.socket_path == str(REPO / "var" / "run" / "supervisor.sock")
    assert str(REPO / "var" / "log") in conf.dirs
    parser = configparser.ConfigParser(defaults={"here": str(REPO / "deploy")})
    parser.read(REPO / "deploy" / "supervisord.conf")
    broker = parser["program:broker"]
    assert broker.get("autorestart") == "true" and broker.get("stopsignal") == "TERM"
    assert broker.get("stdout_logfile").endswith("var/log/broker.log")
    assert "koabus broker" in broker.get("command")


def _beat(pid, host="h", age_interval_ms=1000, state="connected"):
    return {"service": "broker", "pid": pid, "host": host, "state": state, "uptime_s": 5.0,
            "interval_ms": age_interval_ms, "lag_s": None, "last_error": None, "time_ns": 0}


def test_rows_mark_not_running_stale_foreign_and_bus_only_services():
    now = 100.0
    programs = [
        {"name": "broker", "statename": "RUNNING", "pid": 10, "start": 50, "now": 100},
        {"name": "recorder", "statename": "BACKOFF", "pid": 0, "spawnerr": "Exited too quickly"},
        {"name": "alerting", "statename": "RUNNING", "pid": 30, "start": 90, "now": 100},
        {"name": "relay", "statename": "RUNNING", "pid": 40, "start": 90, "now": 100},
    ]
    late = now - STALE_AFTER_INTERVALS * 1.0 - 0.1
    beats = {
        "broker": stack_cli.Beat(_beat(10), now - 0.3, 0.001),
        "alerting": stack_cli.Beat({**_beat(30), "service": "alerting"}, late, None),
        "relay": stack_cli.Beat({**_beat(99), "service": "relay"}, now - 0.1, None),
        "remote": stack_cli.Beat({**_beat(7, host="far"), "service": "remote"}, now - 0.1, None),
    }
    table = {r["name"]: r for r in stack_cli.rows(programs, beats, now, "h")}
    assert [r["name"] for r in stack_cli.rows(programs, beats, now, "h")] == [
        "broker", "recorder", "alerting", "relay", "remote"]
    assert table["broker"]["healthy"] and table["broker"]["state"] == "connected" and table["broker"]["pid"] == 10
    assert table["recorder"]["state"] == "backoff" and table["recorder"]["last_error"] == "Exited too quickly"
    assert table["alerting"]["state"] == "stale" and not table["alerting"]["healthy"]
    assert table["relay"]["state"] == "foreign" and "pid 99" in table["relay"]["last_error"]
    assert table["remote"]["healthy"] and table["remote"]["supervisor"] is None


def test_ps_table_escapes_wire_text():
    row = {"name": "b\x1b[2J", "pid": 1, "host": "h", "state": "connected", "uptime_s": 4000,
           "lag_s": 0.01, "last_error": "x\r\ny", "heartbeat_age_s": 0.2}
    text = stack_cli.format_rows([row])
    assert "\x1b" not in text and "\r" not in text and "1h06m" in text


def test_ps_hears_a_service_on_its_default_status_endpoint_without_being_told(tmp_path, monkeypatch, capsys):
    import threading

    import zmq

    from koabus.common import heartbeat
    from koabus.common.protocol import Publication
    from tests.helpers import free_tcp_port

    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    monkeypatch.setitem(heartbeat.SERVICE_STATUS_ENDPOINTS, "recorder", endpoint)
    beat = heartbeat.ServiceBeat(heartbeat.Identity.here("recorder"), interval_ms=100)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    done = threading.Event()

    def beating():
        seq = 0
        while not done.wait(0.05):
            seq += 1
            body = beat.body("recording", lag_s=0.2, rows_written=seq)
            pub.send_multipart(Publication(heartbeat.topic("recorder"), "HB", 1, seq, seq, None,
                                           time.time_ns(), body).to_frames())

    thread = threading.Thread(target=beating, daemon=True)
    thread.start()
    try:
        capsys.readouterr()
        code = main(["ps", "--json", "--listen", "1.5", "--config", str(tmp_path / "none.conf"),
                     "--pub", f"tcp://127.0.0.1:{free_tcp_port()}"])
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    finally:
        done.set()
        thread.join(2)
        pub.close(0)
    assert rows["recorder"]["state"] == "recording" and rows["recorder"]["pid"] == os.getpid(), rows
    assert code == 0


# -- a held port or socket ----------------------------------------------------------------------
def test_up_stops_with_one_line_naming_the_port_and_its_holder(tmp_path):
    stack = Stack(tmp_path)
    port = int(stack.router.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        done = stack.koabus("up", "--timeout", "10")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done
    assert len(lines) == 1, done.stderr
    assert f"port {port}" in lines[0] and f"pid {os.getpid()}" in lines[0]
    assert stack.supervisord_pid() is None and not (tmp_path / "run" / "supervisor.sock").exists()


def test_up_checks_the_ports_of_the_configured_services_too(tmp_path, monkeypatch, capsys):
    from koabus.common import heartbeat
    from tests.helpers import free_tcp_port

    stack = Stack(tmp_path)
    stack.conf.write_text(stack.conf.read_text() + "\n[program:recorder]\ncommand = /bin/true\n", encoding="utf-8")
    port = free_tcp_port()
    monkeypatch.setitem(heartbeat.SERVICE_STATUS_ENDPOINTS, "recorder", f"tcp://127.0.0.1:{port}")
    assert stack_cli.SupervisorConfig.load(str(stack.conf)).programs == ("broker", "recorder")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        capsys.readouterr()
        code = main(["up", "--timeout", "10", "--config", str(stack.conf), "--router", stack.router,
                     "--pub", stack.pub])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1, err
    assert f"port {port} (recorder status" in err[0] and f"pid {os.getpid()}" in err[0]
    assert stack.supervisord_pid() is None


def test_up_stops_with_one_line_when_another_process_holds_supervisors_socket(tmp_path):
    stack = Stack(tmp_path)
    (tmp_path / "run").mkdir()
    path = str(tmp_path / "run" / "supervisor.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as holder:
        holder.bind(path)
        holder.listen()
        done = stack.koabus("up", "--timeout", "10")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done
    assert path in lines[0] and f"pid {os.getpid()}" in lines[0]
    assert stack.supervisord_pid() is None


# -- a running stack ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        done = s.koabus("up", "--timeout", "60")
        assert done.returncode == 0, f"{done}\n{_log(s)}"
        yield s
    finally:
        s.close()


def _log(s: Stack) -> str:
    try:
        return (s.root / "log" / "broker.log").read_text(errors="replace")[-3000:]
    except OSError as exc:
        return str(exc)


def _ps(s: Stack, capsys, listen_s: float = stack_cli.PS_LISTEN_S):
    capsys.readouterr()
    code = main(["ps", "--json", "--listen", str(listen_s), "--config", str(s.conf), "--router", s.router,
                 "--pub", s.pub])
    return code, {r["name"]: r for r in json.loads(capsys.readouterr().out)}


def _broker_pid(s: Stack) -> int:
    sup = stack_cli.Supervisor(stack_cli.SupervisorConfig.load(str(s.conf)).socket_path)
    info = {p["name"]: p for p in sup.processes()}["broker"]
    assert info["statename"] == "RUNNING", info
    return info["pid"]


def _wait_healthy(s: Stack, capsys, timeout_s: float = 30.0, not_pid: int = 0) -> dict:
    deadline = time.monotonic() + timeout_s
    row: dict = {}
    while time.monotonic() < deadline:
        code, rows = _ps(s, capsys)
        row = rows.get("broker", {})
        if code == 0 and row.get("healthy") and row.get("pid") != not_pid:
            return row
        time.sleep(0.2)
    raise AssertionError(f"broker not healthy in {timeout_s} s: {row}\n{_log(s)}")


def test_up_says_up_only_for_its_own_broker_and_ps_shows_it_healthy(stack, capsys):
    pid = _broker_pid(stack)
    code, rows = _ps(stack, capsys)
    broker = rows["broker"]
    assert code == 0 and broker["healthy"], rows
    assert broker["pid"] == pid and broker["host"] == socket.gethostname() and broker["state"] == "connected"
    assert broker["supervisor"] == "RUNNING" and broker["heartbeat_age_s"] < 2
    assert isinstance(broker["uptime_s"], float) and broker["lag_s"] is not None
    again = stack.koabus("up", "--timeout", "30")  # a second `up` restarts nothing
    assert again.returncode == 0, again
    assert f"broker pid {pid} " in again.stdout and "restarting nothing" in again.stdout
    assert _broker_pid(stack) == pid


def test_a_broker_that_stops_beating_shows_stale_within_3_s(stack, capsys):
    _wait_healthy(stack, capsys)
    pid = _broker_pid(stack)
    os.kill(pid, signal.SIGSTOP)
    try:
        stopped = time.monotonic()
        code, rows = _ps(stack, capsys)
        elapsed = time.monotonic() - stopped
        assert code == 1 and rows["broker"]["state"] == "stale", rows
        assert rows["broker"]["pid"] == pid
        assert elapsed < 3.0
    finally:
        os.kill(pid, signal.SIGCONT)
    _wait_healthy(stack, capsys)


def test_kill_9_of_the_broker_is_followed_by_its_restart_and_the_clients_recovery(stack, capsys):
    from koabus.common.client import Client, ClientOptions

    _wait_healthy(stack, capsys)
    pid = _broker_pid(stack)
    options = ClientOptions(connect_timeout_s=10, timeout_s=5, reconnect_max_s=0.5)
    with Client(stack.router, stack.pub, options=options) as client:
        assert client.GetMasterCodeName("005930") == "삼성전자"
        os.kill(pid, signal.SIGKILL)
        row = _wait_healthy(stack, capsys, timeout_s=40, not_pid=pid)
        assert row["pid"] == _broker_pid(stack) != pid
        deadline, answer, last = time.monotonic() + 20, None, None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = client.GetMasterCodeName("000660")
            except Exception as exc:  # Unavailable while the SDK reconnects
                last = exc
                time.sleep(0.2)
        assert answer == "SK하이닉스", last


def test_up_does_not_say_up_when_another_process_answers_as_the_broker(tmp_path):
    """Supervisor runs a 'broker' that never binds; an impostor answers `status` on the ROUTER port."""
    import subprocess
    import sys
    import threading

    import zmq

    from koabus.common.protocol import Reply, decode_client, encode_broker

    s = Stack(tmp_path, command=f"{sys.executable} -c 'import time; time.sleep(600)'")
    (tmp_path / "run").mkdir()
    (tmp_path / "log").mkdir()
    subprocess.run([str(Path(sys.executable).parent / "supervisord"), "-c", str(s.conf)], check=True, timeout=30)
    ctx = zmq.Context.instance()
    impostor = ctx.socket(zmq.ROUTER)
    impostor.setsockopt(zmq.LINGER, 0)
    impostor.bind(s.router)
    stop = threading.Event()

    def answer() -> None:
        while not stop.is_set():
            if impostor.poll(50):
                ident, *frames = impostor.recv_multipart()
                req = decode_client(frames)
                status = {"pid": os.getpid(), "host": socket.gethostname(), "connected": True, "state": "connected"}
                impostor.send_multipart([ident, *encode_broker(Reply(req.request_id, status))])

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        done = s.koabus("up", "--timeout", "4")
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done
        assert f"pid {os.getpid()}" in lines[0] and "not supervisor's broker" in lines[0], lines
        assert "is up" not in done.stdout
    finally:
        stop.set()
        thread.join(5)
        impostor.close(0)
        s.close()
