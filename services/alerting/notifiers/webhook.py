"""Generic webhook notifier: the alert's bus body (`Alert.to_body()`) POSTed as JSON."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from koabus.services.alerting.notifiers.httppost import post_json, target_of

if TYPE_CHECKING:
    from koabus.services.alerting.alert import Alert
    from koabus.services.alerting.notifiers.options import OptionReader

DEFAULT_TIMEOUT_S = 5.0


class HttpNotifier:
    """Shared shape of the HTTP notifiers: a URL (possibly secret), headers, a timeout; subclasses
    say what JSON an alert becomes (`payload`)."""

    def __init__(self, name: str, url: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                 headers: Optional[Mapping[str, str]] = None):
        self.name = name
        self._url = url
        self.timeout_s = timeout_s
        self._headers = dict(headers or {})

    @property
    def target(self) -> str:
        return target_of(self._url)

    def payload(self, alert: Alert) -> Dict[str, Any]:
        raise NotImplementedError

    def send(self, alert: Alert) -> None:
        post_json(self._url, self.payload(alert), timeout_s=self.timeout_s, headers=self._headers,
                  label=self.name)

    def __repr__(self) -> str:  # never the URL: it may carry a token
        return f"{type(self).__name__}(name={self.name!r}, target={self.target!r})"


class WebhookNotifier(HttpNotifier):
    """POSTs `Alert.to_body()` to `url` with optional `headers` (secret-named ones from ${ENV}/file:)."""

    def payload(self, alert: Alert) -> Dict[str, Any]:
        return alert.to_body()

    @classmethod
    def from_options(cls, name: str, options: OptionReader) -> WebhookNotifier:
        from koabus.services.alerting.notifiers.options import http_url

        return cls(name, http_url(options, "url"), timeout_s=options.number("timeout_s", DEFAULT_TIMEOUT_S,
                                                                              minimum=0.1, maximum=120),
                   headers=options.headers("headers"))
