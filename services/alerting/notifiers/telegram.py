"""Telegram notifier: Bot API `sendMessage` ({chat_id, text, parse_mode}) to `{api_url}/bot{token}/...`.

The bot token is the credential (${ENV} or file:); `api_url` is configurable so tests and local Bot
API servers work. Template values are escaped for the parse mode, so they cannot break the markup.
"""
from __future__ import annotations

import html
import json
import re
from typing import TYPE_CHECKING, Any, Dict

from koabus.services.alerting.notifiers.base import DeliveryError, detail_line, truncate
from koabus.services.alerting.notifiers.httppost import post_json
from koabus.services.alerting.notifiers.webhook import DEFAULT_TIMEOUT_S

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

DEFAULT_API_URL = "https://api.telegram.org"
TEXT_LIMIT = 4096
PARSE_MODES = ("HTML", "MarkdownV2")
_MD_SPECIAL = re.compile(r"([_*\[\]()~`>#+\-=|{}.!\\])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def telegram_text(alert: Alert, parse_mode: str) -> str:
    """Bold title line, the text, an italic detail line; each part cut so the whole fits 4096."""
    title = truncate(f"[{alert.severity.upper()}] {alert.title}", 200)
    detail = truncate(detail_line(alert), 200)
    body = truncate(alert.text, 3000)
    if parse_mode == "HTML":
        esc = html.escape
        return f"<b>{esc(title)}</b>\n{esc(body)}\n<i>{esc(detail)}</i>"
    return f"*{_md(title)}*\n{_md(body)}\n_{_md(detail)}_"


def telegram_payload(alert: Alert, chat_id: str, parse_mode: str = "HTML") -> Dict[str, Any]:
    return {"chat_id": chat_id, "text": telegram_text(alert, parse_mode), "parse_mode": parse_mode}


class TelegramNotifier:
    def __init__(self, name: str, token: str, chat_id: str, *, api_url: str = DEFAULT_API_URL,
                 parse_mode: str = "HTML", timeout_s: float = DEFAULT_TIMEOUT_S):
        if parse_mode not in PARSE_MODES:
            raise ValueError(f"parse_mode must be one of {PARSE_MODES}")
        self.name = name
        self._token = token
        self.chat_id = chat_id
        self.api_url = api_url.rstrip("/")
        self.parse_mode = parse_mode
        self.timeout_s = timeout_s

    def payload(self, alert: Alert) -> Dict[str, Any]:
        return telegram_payload(alert, self.chat_id, self.parse_mode)

    def send(self, alert: Alert) -> None:
        url = f"{self.api_url}/bot{self._token}/sendMessage"
        _, body = post_json(url, self.payload(alert), timeout_s=self.timeout_s, label=self.name)
        try:
            answer = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            answer = None
        if not isinstance(answer, dict) or answer.get("ok") is not True:
            description = answer.get("description", "") if isinstance(answer, dict) else ""
            raise DeliveryError(f"{self.name}: Telegram did not accept the message {description}".rstrip(),
                                retryable=False)

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> TelegramNotifier:
        from koabus.services.alerting.notifiers.options import http_url

        return cls(name, options.text("token", secret=True), options.text("chat_id"),
                   api_url=http_url(options, "api_url", DEFAULT_API_URL),
                   parse_mode=options.text("parse_mode", "HTML", choices=PARSE_MODES),
                   timeout_s=options.number("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1, maximum=120))

    def __repr__(self) -> str:
        return f"TelegramNotifier(name={self.name!r}, chat_id={self.chat_id!r}, api_url={self.api_url!r})"
