"""Notifiers: how an alert reaches people (console, webhook, Slack, Discord, Telegram, e-mail).

`make_notifier(name, options)` builds one from its configuration mapping (`type` plus that type's
options), resolving secrets and refusing unknown options; `Dispatcher` (delivery.py) delivers.
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, Mapping, Optional

from koabus.services.alerting.notifiers.base import DeliveryError, Notifier
from koabus.services.alerting.notifiers.console import ConsoleNotifier
from koabus.services.alerting.notifiers.delivery import Dispatcher, NotifierStats
from koabus.services.alerting.notifiers.discord import DiscordNotifier
from koabus.services.alerting.notifiers.email import EmailNotifier
from koabus.services.alerting.notifiers.options import NotifierConfigError, OptionReader
from koabus.services.alerting.notifiers.secrets import SecretError, check_no_literal_secrets
from koabus.services.alerting.notifiers.slack import SlackNotifier
from koabus.services.alerting.notifiers.telegram import TelegramNotifier
from koabus.services.alerting.notifiers.webhook import WebhookNotifier

__all__ = [
    "NOTIFIER_TYPES", "ConsoleNotifier", "DeliveryError", "DiscordNotifier", "Dispatcher", "EmailNotifier",
    "Notifier", "NotifierConfigError", "NotifierStats", "SecretError", "SlackNotifier", "TelegramNotifier",
    "WebhookNotifier", "check_no_literal_secrets", "make_notifier", "make_notifiers",
]

#: `type:` in the configuration -> the class whose `from_options(name, reader)` builds it
NOTIFIER_TYPES: Dict[str, Callable[[str, OptionReader], Notifier]] = {
    "console": ConsoleNotifier.from_options,
    "webhook": WebhookNotifier.from_options,
    "slack": SlackNotifier.from_options,
    "discord": DiscordNotifier.from_options,
    "telegram": TelegramNotifier.from_options,
    "email": EmailNotifier.from_options,
}
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def make_notifier(name: str, options: Mapping[str, Any],
                  environ: Optional[Mapping[str, str]] = None) -> Notifier:
    """The notifier `name` configured by `options` (`{type: ..., <options of that type>}`).

    Secrets (`${ENV}`, `file:/path`) are resolved now from `environ` (default: the process
    environment), so a missing secret fails at start, not at the first alert. Raises
    NotifierConfigError / SecretError (both SettingsError) whose message starts `notifiers.<name>`.
    """
    where = f"notifiers.{name}"
    if not isinstance(name, str) or not _NAME.match(name):
        raise NotifierConfigError(f"{where}: a notifier name is letters, digits, '_', '-', '.'")
    if not isinstance(options, Mapping):
        raise NotifierConfigError(f"{where}: must be a map with 'type' and its options")
    kind = options.get("type")
    if kind not in NOTIFIER_TYPES:
        import difflib

        close = difflib.get_close_matches(str(kind), sorted(NOTIFIER_TYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NotifierConfigError(f"{where}.type: {kind!r} is not one of {', '.join(NOTIFIER_TYPES)}{hint}")
    rest = {key: value for key, value in options.items() if key != "type"}
    reader = OptionReader(where, rest, os.environ if environ is None else environ)
    try:
        notifier = NOTIFIER_TYPES[kind](name, reader)
    except NotifierConfigError as exc:
        typo = reader.misspelled(exc.missing) if exc.missing else None
        if typo:
            raise NotifierConfigError(f"{where}.{typo}: unknown option; did you mean {exc.missing!r}?") from None
        raise
    except SecretError:
        raise
    except ValueError as exc:
        raise NotifierConfigError(f"{where}: {exc}") from None
    reader.finish()
    return notifier


def make_notifiers(config: Mapping[str, Mapping[str, Any]],
                   environ: Optional[Mapping[str, str]] = None) -> Dict[str, Notifier]:
    """`make_notifier` for each entry of the service's `notifiers:` map."""
    return {name: make_notifier(name, options, environ) for name, options in (config or {}).items()}
