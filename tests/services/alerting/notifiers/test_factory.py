"""make_notifier: types and options validated with messages that name the option."""
from __future__ import annotations

import pytest

from koabus.services.alerting.notifiers import (
    EmailNotifier,
    NotifierConfigError,
    SlackNotifier,
    TelegramNotifier,
    make_notifier,
    make_notifiers,
)
from koabus.services.broker.config import SettingsError


@pytest.mark.parametrize("options, message", [
    ({"type": "slak"}, r"^notifiers.n.type: 'slak' is not one of .*; did you mean 'slack'\?$"),
    ({"type": "webhook"}, r"^notifiers.n.url: required$"),
    ({"type": "webhook", "urll": "http://127.0.0.1/x"}, r"^notifiers.n.urll: unknown option; did you mean 'url'\?$"),
    ({"type": "webhook", "url": "http://127.0.0.1/x", "timeout": 3},
     r"^notifiers.n.timeout: unknown option; did you mean 'timeout_s'\?$"),
    ({"type": "webhook", "url": "ftp://example.com/x"}, r"^notifiers.n.url: must be an http:// or https:// URL$"),
    ({"type": "webhook", "url": "http://127.0.0.1/x", "timeout_s": "5"}, r"^notifiers.n.timeout_s: must be a number$"),
    ({"type": "console", "to": "printer"}, r"^notifiers.n.to: 'printer' is not one of stdout, stderr, log$"),
    ({"type": "email", "host": "smtp.example.com", "from": "a@x", "to": []}, r"^notifiers.n.to: must be a non-empty list of strings$"),
    ({"type": "email", "host": "smtp.example.com", "from": "a@x", "to": "b@x", "security": "none",
      "username": "a", "password": "${P}"}, r"^notifiers.n.security: 'none' would send the password in clear"),
    ({"type": "telegram", "token": "${T}", "chat_id": "1", "parse_mode": "Markdown"},
     r"^notifiers.n.parse_mode: 'Markdown' is not one of HTML, MarkdownV2$"),
])
def test_bad_options_are_refused_with_the_option_named(options, message):
    with pytest.raises(NotifierConfigError, match=message):
        make_notifier("n", options, environ={"P": "pw", "T": "1:x"})


def test_errors_are_settings_errors_and_bad_names_refused():
    with pytest.raises(SettingsError, match="notifier name"):
        make_notifier("has space", {"type": "console"})


def test_reprs_do_not_show_secrets():
    slack = make_notifier("s", {"type": "slack", "webhook_url": "${U}"},
                          environ={"U": "https://hooks.slack.com/services/T/B/SECRET"})
    tg = make_notifier("t", {"type": "telegram", "token": "${T}", "chat_id": 5}, environ={"T": "1:SECRET"})
    mail = make_notifier("m", {"type": "email", "host": "smtp.example.com", "from": "a@x", "to": "b@x",
                               "username": "a", "password": "${P}"}, environ={"P": "SECRET"})
    assert isinstance(slack, SlackNotifier) and isinstance(tg, TelegramNotifier)
    assert isinstance(mail, EmailNotifier) and mail.port == 587
    for notifier in (slack, tg, mail):
        assert "SECRET" not in repr(notifier)
    assert repr(slack) == "SlackNotifier(name='s', target='hooks.slack.com')"


def test_make_notifiers_builds_the_map():
    built = make_notifiers({"console": {"type": "console"}, "ops": {"type": "webhook", "url": "http://127.0.0.1:1/"}})
    assert sorted(built) == ["console", "ops"] and built["ops"].name == "ops"
