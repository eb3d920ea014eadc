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
