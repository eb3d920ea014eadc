"""Unit tests of broker settings: defaults, YAML, overrides, unknown keys, unsafe binds."""
from __future__ import annotations

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
    s = settings_from_dict({"router": "tcp://*:5570", "curve": {"public_key": "p" * 40, "secret_key": "s" * 40}})
    assert "s" * 40 not in repr(s)  # the secret never shows in logs
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
