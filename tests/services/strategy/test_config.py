"""Strategy settings: typed, unknown keys refused, choices checked; the CLI's --param values."""
from __future__ import annotations

import pytest

from koabus.services.strategy.cli import parse_params
from koabus.services.strategy.config import SettingsError, load_settings, settings_from_dict


def test_defaults_and_nested_sections():
    s = settings_from_dict({"limits": {"max_position": 100}, "params": {"fast": 3}, "on_error": "leave"})
    assert s.status == "tcp://127.0.0.1:5593" and s.limits.max_position == 100 and s.params == {"fast": 3}
    assert s.on_error == "leave" and s.faults.crash_at == ""


@pytest.mark.parametrize("data, message", [
    ({"limit": {}}, "unknown setting"),
    ({"limits": {"max_loss": 1}}, "unknown setting"),
    ({"on_error": "retry"}, "on_error"),
    ({"name": "has space"}, "name"),
    ({"replay_date": "20240306"}, "replay_date"),
    ({"stop_at": "1530"}, "stop_at"),
    ({"status": "tcp://0.0.0.0:5593"}, "status"),
    ({"limits": {"max_position": -1}}, "max_position"),
])
def test_bad_settings_are_refused_with_the_field_named(data, message):
    with pytest.raises(SettingsError, match=message):
        settings_from_dict(data)


def test_the_deploy_file_loads():
    s = load_settings("deploy/strategy.yaml")
    assert s.file.endswith("ma_cross.py") and s.limits.max_orders_per_minute > 0


def test_params_are_json_else_text():
    assert parse_params(["fast=5", "code=005930", "codes=[\"005930\", \"000660\"]", "x=a=b"]) == {
        "fast": 5, "code": "005930", "codes": ["005930", "000660"], "x": "a=b"}
    with pytest.raises(ValueError):
        parse_params(["novalue"])
