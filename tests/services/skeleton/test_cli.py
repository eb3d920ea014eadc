from __future__ import annotations

import argparse

from koabus.services.broker.config import SettingsError
from koabus.services.skeleton.cli import add_bus_options, bus_overrides, run_cli


def parser(**kwargs) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_bus_options(p, "demo", "tcp://127.0.0.1:5599", **kwargs)
    return p


def test_the_bus_options_become_the_shared_setting_overrides():
    args = parser().parse_args(["--router", "ipc:///tmp/r", "--status", "ipc:///tmp/s", "--log-level", "DEBUG"])
    assert bus_overrides(args) == {"router": "ipc:///tmp/r", "pub": None, "status": "ipc:///tmp/s", "name": None,
                                   "logging.level": "DEBUG"}


def test_a_service_without_status_or_name_options_has_none():
    p = argparse.ArgumentParser()
    add_bus_options(p, "demo", None, name_help=None)
    args = p.parse_args([])
    assert not hasattr(args, "status") and not hasattr(args, "name")
    assert bus_overrides(args)["status"] is None


def test_a_settings_error_is_one_line_and_exit_2(capsys):
    def load():
        raise SettingsError("status tcp://0.0.0.0:1 must be on this host\n(second line)")

    assert run_cli("demo", load, lambda settings: 0) == 2
    assert capsys.readouterr().err == "koabus demo: status tcp://0.0.0.0:1 must be on this host (second line)\n"


def test_start_errors_fail_the_same_way_and_a_good_start_returns_its_code(capsys):
    from koabus.services.broker.config import LoggingSettings

    class Settings:
        logging = LoggingSettings()

    def refuse(settings):
        raise OSError("address already in use")

    assert run_cli("demo", Settings, refuse) == 2
    assert "koabus demo: address already in use" in capsys.readouterr().err
    assert run_cli("demo", Settings, lambda settings: 7) == 7
