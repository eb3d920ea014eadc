"""Relay settings: typed, unknown keys refused, CURVE required off this host, secrets not shown."""
from __future__ import annotations

import subprocess
import sys

import pytest
import zmq

from koabus.services.relay.config import SettingsError, load_settings, settings_from_dict

PUBLIC, SECRET = (k.decode() for k in zmq.curve_keypair())


def test_defaults_are_loopback_and_plain():
    s = settings_from_dict({})
    assert s.upstream.router == "tcp://127.0.0.1:5570" and s.downstream.pub == "tcp://127.0.0.1:5581"
    assert not s.upstream.curve and not s.downstream.curve


@pytest.mark.parametrize("data, words", [
    ({"bogus": 1}, "unknown setting(s) bogus"),
    ({"upstream": {"rooter": "tcp://127.0.0.1:1"}}, "unknown setting(s) upstream.rooter"),
    ({"heartbeat_ms": "fast"}, "heartbeat_ms must be"),
    ({"max_clients": 0}, "max_clients must be"),
    ({"downstream": {"pub": "tcp://0.0.0.0:5581"}}, "reachable from other hosts"),
    ({"downstream": {"router": "tcp://*:5580"}}, "reachable from other hosts"),
    ({"upstream": {"router": "tcp://10.1.2.3:5570"}}, "not on this host"),
    ({"upstream": {"server_key": PUBLIC}}, "must be set together"),
    ({"downstream": {"public_key": PUBLIC}}, "must be set together"),
    ({"downstream": {"public_key": "x" * 39, "secret_key": SECRET}}, "40-character Z85"),
    ({"downstream": {"client_keys": [PUBLIC]}}, "needs downstream.public_key"),
    ({"downstream": {"router": "tcp://127.0.0.1:6000", "pub": "tcp://127.0.0.1:6000"}}, "different ports"),
])
def test_bad_settings_are_refused_with_one_clear_line(data, words):
    with pytest.raises(SettingsError) as info:
        settings_from_dict(data)
    assert words in str(info.value)


def test_non_loopback_with_curve_is_allowed_and_secrets_stay_out_of_repr():
    s = settings_from_dict({
        "upstream": {"router": "tcp://10.1.2.3:5570", "pub": "tcp://10.1.2.3:5571",
                     "server_key": PUBLIC, "public_key": PUBLIC, "secret_key": SECRET},
        "downstream": {"router": "tcp://*:5580", "pub": "tcp://*:5581", "status": "tcp://*:5582",
                       "public_key": PUBLIC, "secret_key": SECRET, "client_keys": [PUBLIC]}})
    assert s.upstream.curve and s.downstream.curve
    assert SECRET not in repr(s)


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text("name: edge\ndownstream:\n  router: tcp://127.0.0.1:6100\n", encoding="utf-8")
    s = load_settings(str(path), {"downstream.pub": "tcp://127.0.0.1:6101", "name": None})
    assert (s.name, s.downstream.router, s.downstream.pub) == ("edge", "tcp://127.0.0.1:6100",
                                                               "tcp://127.0.0.1:6101")


def test_the_command_refuses_a_bad_config_with_exit_2(tmp_path):
    path = tmp_path / "relay.yaml"
    path.write_text("downstream:\n  pub: tcp://0.0.0.0:5581\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "koabus.common.cli.main", "relay", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("koabus relay: downstream.pub") and "Traceback" not in proc.stderr
