from __future__ import annotations

from dataclasses import dataclass

import pytest

from koabus.services.broker.config import SettingsError, _build
from koabus.services.skeleton.settings import BusServiceSettings


@dataclass(frozen=True)
class DemoSettings(BusServiceSettings):
    name: str = "koabus-demo"
    status: str = "tcp://127.0.0.1:5599"
    window_s: float = 60.0


def build(**data):
    return _build(DemoSettings, data, "")


def test_a_derived_service_gets_the_shared_fields_from_yaml_keys():
    s = build(router="ipc:///tmp/r", pub="ipc:///tmp/p", heartbeat_ms=500, window_s=5.0)
    assert (s.name, s.router, s.pub, s.status, s.heartbeat_ms, s.window_s) == (
        "koabus-demo", "ipc:///tmp/r", "ipc:///tmp/p", "tcp://127.0.0.1:5599", 500, 5.0)
    assert not s.curve.enabled


@pytest.mark.parametrize("data, message", [
    ({"name": "x" * 65}, "name must be text of 1 to 64 characters"),
    ({"router": "tcp://10.0.0.5:5570"}, "router tcp://10.0.0.5:5570 is not on this host: set curve.keys_dir"),
    ({"status": "tcp://0.0.0.0:5599"}, "status tcp://0.0.0.0:5599 must be on this host"),
    ({"pub": "udp://127.0.0.1:1"}, "pub must be tcp://HOST:PORT"),
    ({"curve": {"keys_dir": "keys"}}, "curve.keys_dir and curve.key must be set together"),
    ({"colour": "red"}, "unknown setting(s) colour"),
])
def test_the_shared_checks_refuse_with_one_clear_line(data, message):
    with pytest.raises(SettingsError) as info:
        build(**data)
    assert message in str(info.value)


def test_an_off_host_broker_is_accepted_with_curve_keys():
    s = build(router="tcp://10.0.0.5:5570", pub="tcp://10.0.0.5:5571", curve={"keys_dir": "keys", "key": "me"})
    assert s.curve.enabled and s.router == "tcp://10.0.0.5:5570"
