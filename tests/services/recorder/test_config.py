"""Recorder settings: YAML and flag overrides into frozen dataclasses; unknown or unsafe values refused."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.broker.config import SettingsError
from koabus.services.recorder.config import RecorderSettings, load_settings

REPO = Path(__file__).resolve().parents[3]


def test_defaults_follow_the_contract():
    s = RecorderSettings()
    assert (s.router, s.pub, s.status) == ("tcp://127.0.0.1:5570", "tcp://127.0.0.1:5571", "tcp://127.0.0.1:5590")
    assert (s.lake, s.sinks, s.topics, s.flush_interval_s, s.roll_interval_s) == (
        "./data", ("parquet",), ("",), 1.0, 30.0)
    assert s.whole_stream and s.heartbeat_ms == 1000
    # the alerting service's alerts are recorded too, from its default status PUB
    (alerting,) = s.services
    assert (alerting.endpoint, alerting.prefixes, alerting.label) == (
        SERVICE_STATUS_ENDPOINTS["alerting"], ("alert.",), "alerting")
    assert not alerting.whole_stream


def test_services_are_read_from_yaml_and_can_be_turned_off(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("services:\n  - {endpoint: 'tcp://127.0.0.1:6001', prefixes: ['alert.', 'bar.'], name: mine}\n"
                    "  - {endpoint: 'ipc:///tmp/x'}\n")
    s = load_settings(str(path))
    assert [(x.endpoint, x.prefixes, x.label) for x in s.services] == [
        ("tcp://127.0.0.1:6001", ("alert.", "bar."), "mine"), ("ipc:///tmp/x", ("alert.",), "ipc:///tmp/x")]
    path.write_text("services: []\n")
    assert load_settings(str(path)).services == ()


@pytest.mark.parametrize("services, words", [
    ([{"endpoint": "tcp://10.1.2.3:5591"}], "this host"),
    ([{"endpoint": "tcp://127.0.0.1:5591", "bogus": 1}], r"services\[0\].bogus"),
    ([{}, {}], "named alike"),
    ([{"endpoint": "tcp://127.0.0.1:5571"}], "pub or status"),
    ([{"prefixes": []}], "prefixes"),
    ([{"endpoint": f"tcp://127.0.0.1:{6000 + n}"} for n in range(16)], "at most 15"),
    ({"endpoint": "tcp://127.0.0.1:5591"}, "must be a list"),
])
def test_bad_services_are_refused(services, words):
    with pytest.raises(SettingsError, match=words):
        load_settings(None, {"services": services})


def test_the_deployed_config_records_the_watchlist(tmp_path):
    s = load_settings(str(REPO / "deploy" / "recorder.yaml"))
    assert len(s.realtime.codes) == 8 and set(s.realtime.types) == {"trade", "quote", "book"}
    assert s.topics == ("",) and s.status == "tcp://127.0.0.1:5590"
    assert [(x.label, x.prefixes) for x in s.services] == [("alerting", ("alert.",))]


def test_flags_override_the_file(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("lake: /x\nroll_interval_s: 10\nrealtime: {codes: ['005930']}\n")
    s = load_settings(str(path), {"lake": "/y", "flush_interval_s": 0.5, "sinks": ["parquet", "postgres"],
                                  "postgres.dsn": "host=127.0.0.1 user=postgres", "topics": ["rt.trade."]})
    assert (s.lake, s.roll_interval_s, s.flush_interval_s, s.realtime.codes) == ("/y", 10.0, 0.5, ("005930",))
    assert not s.whole_stream and "user=postgres" not in repr(s)


@pytest.mark.parametrize("overrides, words", [
    ({"bogus": 1}, "unknown setting"),
    ({"realtime.bogus": 1}, "unknown setting"),
    ({"flush_interval_s": 0}, "flush_interval_s"),
    ({"roll_interval_s": 0.5}, "roll_interval_s"),
    ({"max_buffer_rows": 0}, "max_buffer_rows"),
    ({"sinks": ["kafka"]}, "kafka"),
    ({"sinks": ["postgres"]}, "postgres.dsn"),
    ({"topics": []}, "topics"),
    ({"router": "tcp://10.1.2.3:5570"}, "CURVE"),
    ({"status": "tcp://0.0.0.0:5590"}, "this host"),
    ({"status": "nowhere"}, "status"),
])
def test_bad_settings_are_refused_with_one_line(overrides, words):
    with pytest.raises(SettingsError, match=words):
        load_settings(None, overrides)


def test_the_command_refuses_a_bad_config_with_exit_code_2(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("roll_interval_s: -1\n")
    proc = subprocess.run([sys.executable, "-c", "import sys\nfrom koabus.common.cli.main import main\n"
                           "sys.exit(main())", "recorder", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=str(REPO))
    assert proc.returncode == 2 and "koabus recorder:" in proc.stderr and "roll_interval_s" in proc.stderr
