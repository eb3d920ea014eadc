"""E-mail over a real SMTP server (aiosmtpd on loopback): subject, body, login, failures."""
from __future__ import annotations

import email
import email.policy
import os

import pytest

from koabus.services.alerting.notifiers import DeliveryError, Dispatcher, make_notifier
from tests.helpers import free_tcp_port

from .conftest import make_alert


def _options(server, **extra):
    return {"type": "email", "host": server.host, "port": server.port, "security": "none",
            "from": "koabus@example.com", "to": ["ops@example.com", "desk@example.com"], **extra}


def test_alert_is_delivered_with_title_as_subject(smtp_server):
    notifier = make_notifier("mail", _options(smtp_server))
    with Dispatcher([notifier]) as dispatcher:
        dispatcher.dispatch(make_alert(notify=("mail",)))
        assert smtp_server.mailbox.wait_for(1)
    [envelope] = smtp_server.mailbox.messages
    assert envelope.mail_from == "koabus@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "desk@example.com"]
    message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
    assert message["Subject"] == "Samsung Electronics above 75,000"
    assert message["X-Koabus-Rule"] == "samsung-above-75k"
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Samsung Electronics 005930 at 75,100 (>= 75,000)\n")
    assert "time:     2025-12-03 10:00:00 KST" in body and '"current_price": 75100' in body
    assert dispatcher.stats()["mail"].sent == 1


def test_login_with_a_password_from_a_private_file(smtp_server, tmp_path):
    secret = tmp_path / "smtp-password"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o600)
    notifier = make_notifier("mail", _options(smtp_server, username="alerts", password=f"file:{secret}"))
    notifier.send(make_alert())
    assert smtp_server.logins and smtp_server.logins[-1][1:] == (b"alerts", True)
    assert smtp_server.mailbox.wait_for(1)


def test_wrong_password_is_a_final_error(smtp_server):
    notifier = make_notifier("mail", _options(smtp_server, username="alerts", password="${P}"),
                             environ={"P": "wrong"})
    with pytest.raises(DeliveryError) as error:
        notifier.send(make_alert())
    assert not error.value.retryable and "SMTP 535" in str(error.value)
    assert smtp_server.mailbox.messages == []


def test_unreachable_server_is_retryable():
    notifier = make_notifier("mail", {"type": "email", "host": "127.0.0.1", "port": free_tcp_port(),
                                      "security": "none", "from": "a@example.com", "to": "b@example.com",
                                      "timeout_s": 2})
    with pytest.raises(DeliveryError) as error:
        notifier.send(make_alert())
    assert error.value.retryable


def test_starttls_with_the_servers_ca_then_login(starttls_smtp_server, self_signed_cert):
    server = starttls_smtp_server
    notifier = make_notifier("mail", _options(server, security="starttls", ca_file=self_signed_cert[0],
                                              username="alerts", password="${P}"), environ={"P": "s3cret"})
    notifier.send(make_alert())
    assert server.mailbox.wait_for(1)
    assert server.logins[-1][1:] == (b"alerts", True)


def test_starttls_refuses_a_certificate_it_cannot_verify(starttls_smtp_server):
    notifier = make_notifier("mail", _options(starttls_smtp_server, security="starttls"))
    with pytest.raises(DeliveryError, match="TLS failed") as error:
        notifier.send(make_alert())
    assert not error.value.retryable
    assert starttls_smtp_server.mailbox.messages == []


def test_plain_connection_to_a_server_that_requires_starttls_is_final(starttls_smtp_server):
    notifier = make_notifier("mail", _options(starttls_smtp_server))
    with pytest.raises(DeliveryError, match="SMTP 530") as error:
        notifier.send(make_alert())
    assert not error.value.retryable
