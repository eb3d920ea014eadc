"""Unit tests of broker settings: defaults, YAML, overrides, unknown keys, unsafe binds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

import pytest

from koabus.services.broker.config import (
    BrokerSettings,
    SettingsError,
    is_local_endpoint,
    load_settings,
    settings_from_dict,
)


def test_defaults_bind_loopback():
    s = BrokerSettings()
    assert s.router == "tcp://127.0.0.1:5570" and s.pub == "tcp://127.0.0.1:5571"
    assert s.pacing.tr_windows[0] == (5, 1.0) and s.pacing.order_windows == ((5, 1.0),)
    assert s.pacing.condition_repeat_s == 60.0


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "broker.yaml"
    path.write_text("router: tcp://127.0.0.1:6000\npacing:\n  tr_windows: [[5, 1], [100, 60]]\n"
                    "risk:\n  max_qty: 100\n  allowed_codes: ['005930']\n", encoding="utf-8")
    s = load_settings(str(path), {"pub": "tcp://127.0.0.1:6001", "sim.speed": 10, "backend": None})
    assert s.router.endswith(":6000") and s.pub.endswith(":6001")
    assert s.pacing.tr_windows == ((5, 1.0), (100, 60.0))
    assert s.risk.max_qty == 100 and s.risk.allowed_codes == ("005930",)
    assert s.sim.speed == 10.0


@pytest.mark.parametrize("data", [
    {"routr": "tcp://127.0.0.1:1"},
    {"pacing": {"tr_window": [[5, 1]]}},
    {"pacing": {"tr_windows": [[0, 1]]}},
    {"heartbeat_ms": "1000"},
    {"risk": {"max_qty": -1}},
    {"backend": "excel"},
])
def test_bad_settings_are_refused(data):
    with pytest.raises(SettingsError):
        settings_from_dict(data)


def test_non_loopback_bind_needs_curve():
    with pytest.raises(SettingsError, match="CURVE"):
        settings_from_dict({"router": "tcp://0.0.0.0:5570"})
    with pytest.raises(SettingsError):
        settings_from_dict({"pub": "tcp://*:5571"})
    s = settings_from_dict({"router": "tcp://*:5570", "curve": {"public_key": "p" * 40, "secret_key": "s" * 40,
                                                                 "keys_dir": "var/keys"}})
    assert "s" * 40 not in repr(s)  # the secret never shows in logs
    assert s.insecure_warning() is None
    # CURVE keys without an allow-list would let any key holder in as admin: refused
    with pytest.raises(SettingsError, match="curve.keys_dir must be set"):
        settings_from_dict({"curve": {"public_key": "p" * 40, "secret_key": "s" * 40}})
    # --insecure: allowed, with the warning start and status show
    s = settings_from_dict({"router": "tcp://0.0.0.0:5570", "insecure": True})
    assert "INSECURE" in s.insecure_warning() and "tcp://0.0.0.0:5570" in s.insecure_warning()
    assert settings_from_dict({"insecure": True}).insecure_warning() is None  # loopback: nothing exposed
    assert is_local_endpoint("ipc:///tmp/x") and is_local_endpoint("tcp://[::1]:1")
    assert not is_local_endpoint("tcp://10.0.0.1:1")


def test_example_config_loads():
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "deploy" / "broker.example.yaml"
    s = load_settings(str(example))
    assert s.backend == "sim" and s.pacing.condition_repeat_s == 60.0


def test_account_and_logging_sections(tmp_path):
    path = tmp_path / "broker.yaml"
    path.write_text("account:\n  default: '8000000011'\nlogging:\n  level: WARNING\n"
                    f"  file: {tmp_path / 'log' / 'broker.log'}\n  max_bytes: 4096\n  backup_count: 2\n",
                    encoding="utf-8")
    s = load_settings(str(path), {"logging.level": "DEBUG"})
    assert s.account.default == "8000000011"
    assert s.logging.level == "DEBUG" and s.logging.file.endswith("broker.log")
    assert (s.logging.max_bytes, s.logging.backup_count, s.logging.stderr) == (4096, 2, True)
    assert BrokerSettings().account.default is None and BrokerSettings().logging.level == "INFO"


@pytest.mark.parametrize("data", [
    {"account": {"default": "80000-00011"}},
    {"account": {"default": True}},
    {"account": {"deflt": "8000000011"}},
    {"logging": {"level": "LOUD"}},
    {"logging": {"max_bytes": 0}},
    {"logging": {"file": ""}},
    {"logging": {"rotate": True}},
])
def test_bad_account_and_logging_settings_are_refused(data):
    with pytest.raises(SettingsError):
        settings_from_dict(data)


def test_entry_point_logging_writes_a_rotated_file(tmp_path):
    import logging

    from koabus.services.broker.cli import configure_logging

    log_file = tmp_path / "logs" / "broker.log"
    settings = settings_from_dict({"logging": {"level": "INFO", "file": str(log_file), "max_bytes": 300,
                                               "backup_count": 2, "stderr": False,
                                               "format": "%(levelname)s|%(name)s|%(message)s"}}).logging
    target = logging.getLogger("koabus-test-logging-root")
    target.propagate = False
    try:
        configure_logging(settings, target)
        handlers = configure_logging(settings, target)  # twice: replaced, not doubled
        assert target.handlers == handlers and len(handlers) == 1
        target.debug("not at INFO")
        for n in range(20):
            target.info("message %d with some padding to make the file roll over", n)
        for h in handlers:
            h.flush()
        text = log_file.read_text(encoding="utf-8")
        assert "INFO|koabus-test-logging-root|message 19" in text and "not at INFO" not in text
        assert (tmp_path / "logs" / "broker.log.1").exists() and not (tmp_path / "logs" / "broker.log.3").exists()
    finally:
        for h in list(target.handlers):
            target.removeHandler(h)
            h.close()


def test_cli_refuses_a_bad_logging_setting(tmp_path, capsys):
    import argparse

    from koabus.services.broker.cli import main

    path = tmp_path / "broker.yaml"
    path.write_text("logging:\n  level: LOUD\n", encoding="utf-8")
    args = argparse.Namespace(config=str(path), backend=None, router=None, pub=None, speed=None,
                              log_level=None, log_file=None)
    assert main(args) == 2
    assert "logging.level" in capsys.readouterr().err


def test_example_config_states_the_defaults():
    from pathlib import Path

    from koabus.services.broker.pacing import KIWOOM_TR_WINDOWS

    example = Path(__file__).resolve().parents[3] / "deploy" / "broker.example.yaml"
    s, defaults = load_settings(str(example)), BrokerSettings()
    assert defaults.pacing.tr_windows == KIWOOM_TR_WINDOWS  # the pacer's real-server windows
    assert (s.pacing, s.account, s.logging) == (defaults.pacing, defaults.account, defaults.logging)


# ---- every value checked for type and range, with the key path and the allowed range ---------------

@pytest.mark.parametrize("data, message", [
    ({"pacing": {"tr_backoff_s": -1}}, "pacing.tr_backoff_s must be a number >= 0, not -1"),
    ({"pacing": {"margin_s": "5ms"}}, "pacing.margin_s must be a number >= 0, not '5ms'"),
    ({"pacing": {"max_queue_per_client": 0}}, "pacing.max_queue_per_client must be an integer >= 1, not 0"),
    ({"sim": {"speed": -1}}, "sim.speed must be a number >= 0, not -1"),
    ({"sim": {"speed": float("nan")}}, "sim.speed must be a number >= 0, not nan"),
    ({"sim": {"speed": float("inf")}}, "sim.speed must be a number >= 0, not inf"),
    ({"supervision": {"probe_interval_s": 0}}, "supervision.probe_interval_s must be a number > 0, not 0"),
    ({"supervision": {"login_timeout_s": -3}}, "supervision.login_timeout_s must be a number > 0, not -3"),
    ({"supervision": {"login_at_start": "yes"}}, "supervision.login_at_start must be true or false, not 'yes'"),
    ({"supervision": {"relogin_backoff_s": [1, -2]}},
     "supervision.relogin_backoff_s[1] must be a number >= 0, not -2"),
    ({"supervision": {"relogin_backoff_s": []}}, "supervision.relogin_backoff_s must be a non-empty list"),
    ({"tr_timeout_s": 0}, "tr_timeout_s must be a number > 0, not 0"),
    ({"order_balance_wait_s": -0.5}, "order_balance_wait_s must be a number >= 0, not -0.5"),
    ({"heartbeat_ms": "1000"}, "heartbeat_ms must be an integer from 10 to 60000, not '1000'"),
    ({"heartbeat_ms": 5}, "heartbeat_ms must be an integer from 10 to 60000, not 5"),
    ({"heartbeat_ms": None}, "heartbeat_ms must be an integer from 10 to 60000, not null"),
    ({"heartbeat_ms": True}, "heartbeat_ms must be an integer from 10 to 60000, not true"),
    ({"max_inflight_per_client": 0}, "max_inflight_per_client must be an integer >= 1, not 0"),
    ({"max_outbound": -5}, "max_outbound must be an integer >= 1, not -5"),
    ({"max_frame_bytes": 1 << 40}, "max_frame_bytes must be an integer from 1024 to 16777216, not 1099511627776"),
    ({"client_lease_ms": 1500}, "client_lease_ms must be at least 2 x heartbeat_ms (2000), not 1500"),
    ({"pacing": {"tr_windows": [[5, float("nan")]]}},
     "pacing.tr_windows[0] must be a [count >= 1, seconds > 0] pair, not [5, nan]"),
    ({"pacing": {"order_windows": [[0, 1]]}},
     "pacing.order_windows[0] must be a [count >= 1, seconds > 0] pair, not [0, 1]"),
    ({"pacing": {"order_windows": []}}, "pacing.order_windows must be a non-empty list of [count, seconds] pairs"),
    ({"router": "tcp://127.0.0.1:notaport"}, "router must be tcp://HOST:PORT (PORT 1-65535 or *), ipc://PATH or "
                                             "inproc://NAME, not 'tcp://127.0.0.1:notaport'"),
    ({"router": "tcp://127.0.0.1:99999"}, "router must be tcp://HOST:PORT (PORT 1-65535 or *), ipc://PATH or "
                                          "inproc://NAME, not 'tcp://127.0.0.1:99999'"),
    ({"pub": "udp://127.0.0.1:5571"}, "pub must be tcp://HOST:PORT (PORT 1-65535 or *), ipc://PATH or "
                                      "inproc://NAME, not 'udp://127.0.0.1:5571'"),
    ({"pub": "tcp://127.0.0.1:5570"}, "router and pub must not share port 5570"),
    ({"name": ""}, "name must be text of 1 to 64 characters, not ''"),
    ({"logging": {"level": "LOUD"}}, "logging.level must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'LOUD'"),
    ({"logging": {"max_bytes": 0}}, "logging.max_bytes must be an integer >= 1, not 0"),
    ({"logging": {"backup_count": -1}}, "logging.backup_count must be an integer >= 0, not -1"),
    ({"logging": {"format": "%(asctime)s %(bogus"}}, "logging.format is not a logging format: '%(asctime)s %(bogus'"),
    ({"curve": {"public_key": "x" * 40}}, "curve.public_key and curve.secret_key must be set together"),
    ({"curve": {"public_key": "short", "secret_key": "s" * 40}},
     "curve.public_key must be a 40-character Z85 key, not 5 characters"),
    ({"sim": {"start": "garbage"}}, "sim.start must be epoch seconds or an ISO date and time, not 'garbage'"),
    ({"sim": {"config": [1]}}, "sim.config must be a mapping or null, not [1]"),
    ({"pacing": 5}, "pacing must be a mapping, not 5"),
    ({"risk": {"max_qty": 1.5}}, "risk.max_qty must be an integer >= 1 or null, not 1.5"),
    ({"risk": {"max_notional": 0}}, "risk.max_notional must be an integer >= 1 or null, not 0"),
    ({"risk": {"allowed_codes": ["005930", 5]}}, "risk.allowed_codes[1] must be text, not 5"),
    ({"account": {"default": "80000-00011"}}, "account.default must be an account number, not '80000-00011'"),
])
def test_bad_values_are_refused_with_the_key_path_and_the_allowed_range(data, message):
    with pytest.raises(SettingsError) as info:
        settings_from_dict(data)
    assert str(info.value) == message


def test_a_hostile_value_is_shortened_in_the_message():
    with pytest.raises(SettingsError) as info:
        settings_from_dict({"name": "n" * 10_000})
    assert str(info.value).startswith("name must be text of 1 to 64 characters, not 'nnn")
    assert len(str(info.value)) < 200


def test_good_edge_values_pass():
    s = settings_from_dict({"sim": {"speed": 0, "start": 1_700_000_000}, "supervision": {"silence_s": 0},
                            "heartbeat_ms": 100, "client_lease_ms": 200, "pacing": {"margin_s": 0},
                            "router": "tcp://127.0.0.1:*", "pub": "ipc:///tmp/koabus-pub", "max_frame_bytes": 1024,
                            "logging": {"level": "debug", "backup_count": 0}})
    assert s.sim.speed == 0.0 and s.sim.start == "1700000000" and s.client_lease_ms == 200
    assert s.logging.level == "debug" and s.pub == "ipc:///tmp/koabus-pub"


def test_yaml_timestamps_and_dates_are_accepted_for_the_sim_start(tmp_path):
    path = tmp_path / "broker.yaml"
    path.write_text("sim:\n  start: 2024-03-06T09:00:00+09:00\n", encoding="utf-8")
    assert load_settings(str(path)).sim.start == "2024-03-06T09:00:00+09:00"
    path.write_text("sim:\n  start: 2024-03-06\n", encoding="utf-8")
    assert load_settings(str(path)).sim.start == "2024-03-06"


@dataclass(frozen=True)
class _Inner:
    depth: int = 3


@dataclass(frozen=True)
class _Section:
    """Stands for a section someone adds later: fields of every kind, no validation code of its own."""

    count: int = 1
    wait_s: float = 1.0
    probe_timeout_s: float = 1.0
    label: str = "x"
    spool_dir: str = "var/spool"
    limit: Optional[int] = None
    ratio: Optional[float] = None
    names: Tuple[str, ...] = ()
    inner: _Inner = _Inner()


def test_new_fields_are_checked_by_their_type_without_per_field_code():
    """Sections and fields others add (ints, floats, text, paths, optional values, lists) get the same checks."""
    from koabus.services.broker import config

    Section = _Section
    build = config._build  # the one builder every section goes through
    ok = build(Section, {"count": 0, "wait_s": 2, "limit": 5, "ratio": 0.5, "names": ["a", "b"],
                         "inner": {"depth": 1}}, "new.")
    assert (ok.count, ok.wait_s, ok.limit, ok.ratio, ok.names, ok.inner.depth) == (0, 2.0, 5, 0.5, ("a", "b"), 1)
    assert isinstance(ok.wait_s, float)
    for data, message in [
        ({"count": -1}, "new.count must be an integer >= 0, not -1"),
        ({"count": None}, "new.count must be an integer >= 0, not null"),
        ({"wait_s": "soon"}, "new.wait_s must be a number >= 0, not 'soon'"),
        ({"probe_timeout_s": 0}, "new.probe_timeout_s must be a number > 0, not 0"),
        ({"label": 5}, "new.label must be text, not 5"),
        ({"spool_dir": " "}, "new.spool_dir must be a path, not ' '"),
        ({"limit": 2.5}, "new.limit must be an integer >= 0 or null, not 2.5"),
        ({"ratio": -1}, "new.ratio must be a number >= 0 or null, not -1"),
        ({"names": "a"}, "new.names must be a list, not 'a'"),
        ({"names": ["a", None]}, "new.names[1] must be text, not null"),
        ({"inner": {"depth": -2}}, "new.inner.depth must be an integer >= 0, not -2"),
        ({"inner": {"deep": 1}}, "unknown setting(s) new.inner.deep; valid: new.inner.depth"),
        ({"inner": 3}, "new.inner must be a mapping, not 3"),
    ]:
        with pytest.raises(SettingsError) as info:
            build(Section, data, "new.")
        assert str(info.value) == message


# ---- config files: one line, exit code 2, never a traceback ---------------------------------------

def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("router: tcp://127.0.0.1:6000\npacing:\n  tr_backoff_s: 1\n   margin_s: 2\n", encoding="utf-8")
    with pytest.raises(SettingsError) as info:
        load_settings(str(path))
    assert str(info.value).startswith(f"{path}, line 4") and "\n" not in str(info.value)


@pytest.mark.parametrize("content, message", [
    (b"- 1\n- 2\n", "the top level must be a mapping"),
    (b"name: \xff\xfe\n", "not UTF-8"),
    (b"name: !!python/object:os.system {}\n", "line 1"),
])
def test_unreadable_config_files_are_settings_errors(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(SettingsError, match=message):
        load_settings(str(path))


def test_a_missing_config_file_is_a_settings_error(tmp_path):
    with pytest.raises(SettingsError, match="cannot read config file .*missing.yaml"):
        load_settings(str(tmp_path / "missing.yaml"))


def _koabus_broker(tmp_path, *args, timeout_s=120.0):
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-m", "koabus.common.cli.main", "broker", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout_s, env=env)


@pytest.mark.parametrize("content, expected", [
    ("pacing:\n  tr_backoff_s: -1\n", "koabus broker: pacing.tr_backoff_s must be a number >= 0, not -1"),
    ("router: [unclosed\n", "bad.yaml, line 2"),
    ("heartbeat_ms: 1000\nclient_lease_ms: 1000\n",
     "koabus broker: client_lease_ms must be at least 2 x heartbeat_ms (2000), not 1000"),
    (None, "cannot read config file"),
])
def test_koabus_broker_with_a_bad_config_exits_2_with_one_line(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    out = _koabus_broker(tmp_path, "--config", str(path), timeout_s=60.0)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], out.stderr


def test_a_port_in_use_is_one_line_naming_the_port_and_its_holder(tmp_path):
    import os
    import socket
    import sys

    from tests.helpers import free_tcp_port

    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        out = _koabus_broker(tmp_path, "--router", f"tcp://127.0.0.1:{port}",
                             "--pub", f"tcp://127.0.0.1:{free_tcp_port()}", "--log-level", "ERROR")
    finally:
        holder.close()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert f"tcp://127.0.0.1:{port}" in lines[0] and f"port {port} is already in use" in lines[0]
    if sys.platform.startswith("linux"):
        assert f"pid {os.getpid()}" in lines[0], lines[0]


def test_an_unknown_sim_config_key_exits_2_with_one_line(tmp_path):
    path = tmp_path / "broker.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\nsim:\n  config:\n    sped: 3\n", encoding="utf-8")
    out = _koabus_broker(tmp_path, "--config", str(path), "--log-level", "ERROR", timeout_s=60.0)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("koabus broker: sim.config:") and "sped" in lines[0], out.stderr


def test_a_simulated_store_held_by_another_broker_exits_2_with_one_line(tmp_path):
    import os

    from koabus.services.sim.store import _FileLock
    from tests.helpers import free_tcp_port

    store = tmp_path / "state" / "sim"
    store.mkdir(parents=True)
    lock = _FileLock.acquire(str(store / "lock"))  # what a running simulator holds
    try:
        out = _koabus_broker(tmp_path, "--router", f"tcp://127.0.0.1:{free_tcp_port()}",
                             "--pub", f"tcp://127.0.0.1:{free_tcp_port()}", "--log-level", "ERROR",
                             "--config", _state_config(tmp_path))
    finally:
        lock.release()
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(os.getpid()) in lines[0], out.stderr


def _state_config(tmp_path) -> str:
    path = tmp_path / "state.yaml"
    path.write_text(f"state_dir: {tmp_path / 'state'}\n", encoding="utf-8")
    return str(path)
