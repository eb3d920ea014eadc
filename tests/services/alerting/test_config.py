"""Alerting settings: defaults that match the stack, refusals that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from koabus.common.heartbeat import SERVICE_STATUS_ENDPOINTS
from koabus.services.alerting.config import load_settings, settings_from_dict
from koabus.services.broker.config import SettingsError

REPO = Path(__file__).resolve().parents[3]


def test_defaults_listen_to_every_other_service_and_publish_on_the_alerting_endpoint():
    s = settings_from_dict({})
    assert s.status == SERVICE_STATUS_ENDPOINTS["alerting"] == "tcp://127.0.0.1:5591"
    assert set(s.watch_services) == set(SERVICE_STATUS_ENDPOINTS.values()) - {s.status}
    assert s.rules == "deploy/alerts.yaml" and set(s.notifiers) == {"console"}
    assert (s.router, s.pub) == ("tcp://127.0.0.1:5570", "tcp://127.0.0.1:5571")


@pytest.mark.parametrize("data, words", [
    ({"status": "tcp://0.0.0.0:5591"}, "status tcp://0.0.0.0:5591 must be on this host"),
    ({"pub": "tcp://10.0.0.2:5571"}, "pub tcp://10.0.0.2:5571 is not on this host"),
    ({"notifiers": {"ops": {"url": "http://127.0.0.1/x"}}}, "notifiers.ops must be a map with `type`"),
    ({"notifiers": {"bad name": {"type": "console"}}}, "notifiers.bad name: a notifier name"),
    ({"delivery": {"queue_size": 0}}, "delivery.queue_size must be an integer >= 1"),
    ({"delivery": {"retry": 1}}, "unknown setting(s) delivery.retry"),
    ({"reload_check_s": 0}, "reload_check_s must be a number > 0"),
    ({"notifiers": {"tg": {"type": "telegram", "token": "123:abc", "chat_id": "1"}}},
     "notifiers.tg.token: a secret in plain text is not allowed"),
])
def test_refusals_name_the_key(data, words):
    with pytest.raises(SettingsError) as caught:
        settings_from_dict(data)
    assert words in str(caught.value)


def test_the_deploy_files_are_valid_and_overrides_apply(tmp_path):
    from koabus.services.alerting.rules import load_rules

    s = load_settings(str(REPO / "deploy" / "alerting.yaml"), {"rules": str(tmp_path / "r.yaml"), "status": None})
    assert s.rules == str(tmp_path / "r.yaml") and s.status == "tcp://127.0.0.1:5591"
    assert s.notifiers["console"] == {"type": "console", "to": "stdout"}
    assert "notifiers" not in repr(s)  # options may hold references to secrets: kept out of logs
    rules = load_rules(REPO / "deploy" / "alerts.yaml", notifiers=set(s.notifiers))
    assert {r.kind for r in rules} == {"price", "change", "volume_spike", "spread", "vi", "condition", "order",
                                       "system", "heartbeat"}
