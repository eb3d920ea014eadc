"""E-mail notifier: one plain-text message per alert over SMTP; subject = the alert title.

Security: `starttls` (default, port 587), `ssl` (implicit TLS, port 465) or `none` (port 25; only for
a relay on this host, since a password would cross the network in clear). The password comes from
${ENV} or file:. One connection per message: alerts are rare and a kept-open session goes stale.
"""
from __future__ import annotations

import json
import smtplib
import socket
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Optional, Sequence

from koabus.services.alerting.notifiers.base import DeliveryError, alert_time_text

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_TIMEOUT_S = 10.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def email_message(alert: Alert, sender: str, recipients: Sequence[str], subject_prefix: str = "") -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _one_line(f"{subject_prefix}{alert.title or alert.rule}")
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="koabus.alerting")
    message["X-Koabus-Rule"] = _one_line(alert.rule)
    message["X-Koabus-Severity"] = _one_line(alert.severity)
    lines = [alert.text, "", f"severity: {alert.severity}", f"rule:     {alert.rule} ({alert.kind})"]
    if alert.code:
        lines.append(f"code:     {alert.code}")
    lines.append(f"time:     {alert_time_text(alert)}")
    if alert.values:
        lines += ["", "values:", json.dumps(alert.values, ensure_ascii=False, indent=2, sort_keys=True,
                                            default=str)]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailNotifier:
    def __init__(self, name: str, host: str, sender: str, recipients: Sequence[str], *,
                 port: Optional[int] = None, security: str = "starttls", username: str = "",
                 password: str = "", timeout_s: float = DEFAULT_TIMEOUT_S, subject_prefix: str = "",
                 ca_file: str = ""):
        if security not in SECURITY:
            raise ValueError(f"security must be one of {SECURITY}")
        if not recipients:
            raise ValueError("at least one recipient is needed")
        self.name = name
        self.host = host
        self.port = port or DEFAULT_PORTS[security]
        self.security = security
        self.sender = sender
        self.recipients = tuple(recipients)
        self.username = username
        self._password = password
        self.timeout_s = timeout_s
        self.subject_prefix = subject_prefix
        self.ca_file = ca_file

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=self._tls())
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            client.starttls(context=self._tls())
        return client

    def send(self, alert: Alert) -> None:
        message = email_message(alert, self.sender, self.recipients, self.subject_prefix)
        where = f"{self.name} -> {self.host}:{self.port}"
        try:
            client = self._connect()
            try:
                if self.username:
                    client.login(self.username, self._password)
                client.send_message(message, from_addr=self.sender, to_addrs=list(self.recipients))
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(f"{where}: recipients refused (SMTP {codes})",
                                retryable=all(400 <= c < 500 for c in codes)) from None
        except smtplib.SMTPResponseException as exc:  # auth, sender, data refused: 4xx transient, 5xx final
            text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
            raise DeliveryError(f"{where}: SMTP {exc.smtp_code} {_one_line(str(text))[:200]}",
                                retryable=400 <= exc.smtp_code < 500, status=exc.smtp_code) from None
        except (socket.timeout, TimeoutError):
            raise DeliveryError(f"{where}: no answer within {self.timeout_s:g} s", retryable=True) from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}", retryable=False) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryError(f"{where}: {exc}", retryable=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise DeliveryError(f"{where}: {text}", retryable=True) from None

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> EmailNotifier:
        from koabus.services.alerting.notifiers.options import NotifierConfigError

        security = options.text("security", "starttls", choices=SECURITY)
        host = options.text("host")
        username = options.text("username", "")
        password = options.text("password", "", secret=True)
        if username and not password:
            raise NotifierConfigError(f"{options.where}.password: required with username (${{ENV}} or file:)")
        if password and security == "none" and host not in _LOOPBACK:
            raise NotifierConfigError(f"{options.where}.security: 'none' would send the password in clear "
                                      f"to {host}; use starttls or ssl")
        return cls(name, host, options.text("from"), options.texts("to"),
                   port=options.integer("port", 0, minimum=0, maximum=65535) or None, security=security,
                   username=username, password=password,
                   timeout_s=options.number("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1, maximum=120),
                   subject_prefix=options.text("subject_prefix", ""), ca_file=options.text("ca_file", ""))

    def __repr__(self) -> str:
        return (f"EmailNotifier(name={self.name!r}, host={self.host!r}, port={self.port}, "
                f"security={self.security!r}, to={list(self.recipients)!r})")
