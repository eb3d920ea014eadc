"""Reading one notifier's options from its YAML mapping: typed getters, secrets resolved, unknown keys
refused with a suggestion. Every error names the option as `notifiers.<name>.<key>`."""
from __future__ import annotations

import difflib
from typing import Any, List, Mapping, Optional, Set

from koabus.services.alerting.notifiers.secrets import resolve_option
from koabus.services.broker.config import SettingsError

_REQUIRED = object()


class NotifierConfigError(SettingsError):
    """A notifier's options that cannot be used: unknown type or key, wrong type, missing value.
    `missing` names the required option that was absent, if that is the error."""

    def __init__(self, message: str, missing: str = ""):
        super().__init__(message)
        self.missing = missing


class OptionReader:
    """Typed access to `data` (one notifier's options, without `type`); `finish()` refuses the keys
    no getter asked for."""

    def __init__(self, where: str, data: Mapping[str, Any], environ: Mapping[str, str]):
        self.where = where
        self._data = dict(data)
        self._environ = environ
        self._seen: Set[str] = set()

    def _get(self, key: str, default: Any) -> Any:
        self._seen.add(key)
        value = self._data.get(key)
        if value is None:
            if default is _REQUIRED:
                raise NotifierConfigError(f"{self.where}.{key}: required", missing=key)
            return default
        return value

    def text(self, key: str, default: Any = _REQUIRED, *, secret: bool = False,
             choices: Optional[tuple] = None) -> str:
        """A string; `${ENV}`/`file:` resolved; a literal refused if `secret` or secret-looking."""
        value = self._get(key, default)
        if value is default and default is not _REQUIRED:
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not secret:
            value = str(value)  # e.g. a Telegram chat id written as a number
        value = resolve_option(value, f"{self.where}.{key}", self._environ, secret=secret)
        if choices is not None and value not in choices:
            raise NotifierConfigError(f"{self.where}.{key}: {value!r} is not one of {', '.join(choices)}")
        return value

    def has(self, key: str) -> bool:
        """True when the option is given (marks it as known)."""
        self._seen.add(key)
        return self._data.get(key) is not None

    def number(self, key: str, default: Any = _REQUIRED, *, minimum: float = 0.0,
               maximum: Optional[float] = None) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise NotifierConfigError(f"{self.where}.{key}: must be a number")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise NotifierConfigError(f"{self.where}.{key}: must be {bound}")
        return float(value)

    def integer(self, key: str, default: Any = _REQUIRED, *, minimum: int = 0,
                maximum: Optional[int] = None) -> int:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise NotifierConfigError(f"{self.where}.{key}: must be an integer")
        if value < minimum or (maximum is not None and value > maximum):
            raise NotifierConfigError(f"{self.where}.{key}: out of range")
        return value

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self._get(key, default)
        if not isinstance(value, bool):
            raise NotifierConfigError(f"{self.where}.{key}: must be true or false")
        return value

    def texts(self, key: str, default: Any = _REQUIRED) -> List[str]:
        """A list of strings; a single string is a list of one."""
        value = self._get(key, default)
        if isinstance(value, str):
            value = [value]
        if (not isinstance(value, (list, tuple)) or not value
                or not all(isinstance(item, str) and item for item in value)):
            raise NotifierConfigError(f"{self.where}.{key}: must be a non-empty list of strings")
        return list(value)

    def headers(self, key: str) -> dict:
        """A map of HTTP header name -> value; values may be references and secret-named headers
        (Authorization, *token*, *key*, *secret*) must be."""
        value = self._get(key, {})
        if not isinstance(value, Mapping):
            raise NotifierConfigError(f"{self.where}.{key}: must be a map of header name to value")
        result = {}
        for name, item in value.items():
            lowered = str(name).lower()
            secret = lowered in ("authorization", "proxy-authorization", "cookie") or any(
                word in lowered for word in ("token", "key", "secret", "password", "signature"))
            where = f"{self.where}.{key}.{name}"
            result[str(name)] = resolve_option(item, where, self._environ, secret=secret)
        return result

    def misspelled(self, missing: str) -> Optional[str]:
        """An unread key that looks like the required `missing` one (`webhok_url` for `webhook_url`)."""
        close = difflib.get_close_matches(missing, sorted(set(self._data) - self._seen), n=1)
        return close[0] if close else None

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(str(key), sorted(self._seen), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(sorted(self._seen))}"
            raise NotifierConfigError(f"{self.where}.{key}: unknown option{hint}")


def http_url(options: OptionReader, key: str, default: Any = _REQUIRED) -> str:
    """An http(s) URL option (a reference when it embeds a token)."""
    from urllib.parse import urlsplit

    url = options.text(key, default)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotifierConfigError(f"{options.where}.{key}: must be an http:// or https:// URL")
    return url
