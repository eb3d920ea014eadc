"""Discord notifier: a webhook message, `content` (at most 2000 characters, what push notifications
show) plus one embed with the details, colored by severity; mentions are disabled so a template
value such as "@everyone" cannot ping a server.

The webhook URL is the credential (discord.com/api/webhooks/<id>/<token>): ${ENV} or file: only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from koabus.services.alerting.notifiers.base import alert_time_iso_utc, truncate
from koabus.services.alerting.notifiers.webhook import DEFAULT_TIMEOUT_S, HttpNotifier

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

CONTENT_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
COLORS = {"info": 0x3498DB, "warning": 0xF1C40F, "critical": 0xE74C3C}


def discord_payload(alert: Alert, username: str = "") -> Dict[str, Any]:
    fields = [{"name": "rule", "value": truncate(alert.rule, FIELD_VALUE_LIMIT), "inline": True},
              {"name": "kind", "value": truncate(alert.kind, FIELD_VALUE_LIMIT), "inline": True}]
    if alert.code:
        fields.append({"name": "code", "value": truncate(alert.code, FIELD_VALUE_LIMIT), "inline": True})
    payload: Dict[str, Any] = {
        "content": truncate(f"**[{alert.severity.upper()}] {alert.title}**\n{alert.text}", CONTENT_LIMIT),
        "embeds": [{"title": truncate(alert.title or alert.rule, EMBED_TITLE_LIMIT),
                    "color": COLORS.get(alert.severity, COLORS["warning"]),
                    "timestamp": alert_time_iso_utc(alert), "fields": fields}],
        "allowed_mentions": {"parse": []},
    }
    if username:
        payload["username"] = username
    return payload


class DiscordNotifier(HttpNotifier):
    def __init__(self, name: str, url: str, *, username: str = "", **kwargs: Any):
        super().__init__(name, url, **kwargs)
        self.username = username

    def payload(self, alert: Alert) -> Dict[str, Any]:
        return discord_payload(alert, self.username)

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> DiscordNotifier:
        from koabus.services.alerting.notifiers.options import http_url

        return cls(name, http_url(options, "webhook_url"), username=options.text("username", ""),
                   timeout_s=options.number("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1, maximum=120))
