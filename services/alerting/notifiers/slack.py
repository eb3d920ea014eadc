"""Slack notifier: an incoming-webhook message, `text` (the notification fallback) plus Block Kit blocks.

The webhook URL is the credential (hooks.slack.com/services/...), so it comes from ${ENV} or file:.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict

from koabus.services.alerting.notifiers.base import detail_line, truncate
from koabus.services.alerting.notifiers.webhook import DEFAULT_TIMEOUT_S, HttpNotifier

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

HEADER_LIMIT = 150  # plain_text header block
SECTION_LIMIT = 3000  # mrkdwn section text
_ICONS = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}


def slack_escape(text: str) -> str:
    """Slack's three control characters; a template value cannot become a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert) -> Dict[str, Any]:
    icon = _ICONS.get(alert.severity, ":bell:")
    return {
        "text": truncate(f"[{alert.severity.upper()}] {alert.title}: {slack_escape(alert.text)}", SECTION_LIMIT),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": truncate(alert.title or alert.rule,
                                                                                HEADER_LIMIT)}},
            {"type": "section", "text": {"type": "mrkdwn",
                                         "text": truncate(slack_escape(alert.text) or " ", SECTION_LIMIT)}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(
                f"{icon} *{alert.severity}* · {slack_escape(detail_line(alert))}", SECTION_LIMIT)}]},
        ],
    }


class SlackNotifier(HttpNotifier):
    def payload(self, alert: Alert) -> Dict[str, Any]:
        return slack_payload(alert)

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> SlackNotifier:
        from koabus.services.alerting.notifiers.options import http_url

        return cls(name, http_url(options, "webhook_url"),
                   timeout_s=options.number("timeout_s", DEFAULT_TIMEOUT_S, minimum=0.1, maximum=120))
