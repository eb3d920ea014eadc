"""Secrets: ${ENV} and permission-checked file: references; plain-text secrets refused."""
from __future__ import annotations

import os

import pytest

from koabus.services.alerting.notifiers import SecretError, check_no_literal_secrets, make_notifier
from koabus.services.alerting.notifiers.secrets import looks_like_secret, resolve_secret


def _secret_file(tmp_path, mode: int, content: str = "s3cret\n"):
    path = tmp_path / "token"
    path.write_text(content)
    os.chmod(path, mode)
    return str(path)


def test_env_reference():
    assert resolve_secret("${TOKEN}", "x", {"TOKEN": " abc \n"}) == "abc"
    with pytest.raises(SecretError, match=r"^notifiers.tg.token: environment variable TOKEN is not set$"):
        resolve_secret("${TOKEN}", "notifiers.tg.token", {})
    with pytest.raises(SecretError, match="TOKEN is empty"):
        resolve_secret("${TOKEN}", "x", {"TOKEN": ""})


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_private_file_reference(tmp_path, mode):
    assert resolve_secret("file:" + _secret_file(tmp_path, mode), "x", {}) == "s3cret"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_file_readable_by_others_is_refused_with_the_fix(tmp_path, mode):
    path = _secret_file(tmp_path, mode)
    with pytest.raises(SecretError) as error:
        resolve_secret("file:" + path, "notifiers.mail.password", {})
    message = str(error.value)
    assert message.startswith(f"notifiers.mail.password: secret file {path} is readable")
    assert f"(mode {mode:04o}); run: chmod 600 {path}" in message
    assert "s3cret" not in message


def test_file_problems_are_named(tmp_path):
    with pytest.raises(SecretError, match="cannot be opened"):
        resolve_secret(f"file:{tmp_path}/missing", "x", {})
    with pytest.raises(SecretError, match="not a regular file"):
        resolve_secret(f"file:{tmp_path}", "x", {})
    with pytest.raises(SecretError, match="is empty"):
        resolve_secret("file:" + _secret_file(tmp_path, 0o600, "\n"), "x", {})
    with pytest.raises(SecretError, match="absolute path"):
        resolve_secret("file:token", "x", {})


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_file_owned_by_someone_else_is_refused(tmp_path):
    path = _secret_file(tmp_path, 0o600)
    os.chown(path, 65534, -1)
    with pytest.raises(SecretError, match="owned by uid 65534"):
        resolve_secret("file:" + path, "x", {})


@pytest.mark.parametrize("options", [
    {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"},
    {"type": "discord", "webhook_url": "https://discord.com/api/webhooks/123/abcdef"},
    {"type": "webhook", "url": "https://api.telegram.org/bot123:ABC/sendMessage"},
    {"type": "webhook", "url": "https://user:pw@example.com/hook"},
    {"type": "webhook", "url": "https://example.com/hook?token=abc"},
    {"type": "webhook", "url": "https://example.com/hook", "headers": {"Authorization": "Bearer abc"}},
    {"type": "telegram", "token": "123:ABC", "chat_id": "1"},
    {"type": "email", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"],
     "username": "a", "password": "hunter2"},
])
def test_plain_text_secrets_are_refused(options):
    with pytest.raises(SecretError, match=r"a secret in plain text is not allowed; use \$\{ENV\} or file:"):
        make_notifier("n", options, environ={})


def test_secret_looking_urls():
    assert looks_like_secret("https://hooks.slack.com/services/T/B/X")
    assert not looks_like_secret("https://example.com/alerts")
    assert not looks_like_secret("${SLACK_URL}")


def test_config_scan_refuses_literals_anywhere():
    check_no_literal_secrets({"notifiers": {"t": {"type": "telegram", "token": "${TG}"}}})
    with pytest.raises(SecretError, match=r"^notifiers.t.token: a secret in plain text"):
        check_no_literal_secrets({"notifiers": {"t": {"type": "telegram", "token": "123:ABC"}}})
    with pytest.raises(SecretError, match=r"^rules\[0\].url: "):
        check_no_literal_secrets({"rules": [{"url": "https://hooks.slack.com/services/T/B/X"}]})
