"""One JSON POST with a timeout, its outcome mapped to DeliveryError (standard library only).

4xx other than 429 are final (the request itself is wrong: bad token, bad payload); 429 is retried
after the Retry-After the server asked for; 5xx, timeouts and refused connections are retried.
Redirects are not followed (a POST turned into a GET would look delivered). Error messages name
the host only, never the URL, because a webhook URL may be the secret.
"""
from __future__ import annotations

import email.utils
import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from koabus.services.alerting.notifiers.base import DeliveryError

USER_AGENT = "koabus-alerting/1"
_MAX_RESPONSE_BYTES = 64 * 1024
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D401 - urllib hook
        return None  # urllib then raises HTTPError with the 3xx status


def _opener(host: str) -> urllib.request.OpenerDirector:
    # a loopback target never goes through an environment proxy (tests, a local relay)
    proxies = urllib.request.ProxyHandler({} if host in _LOOPBACK else None)
    return urllib.request.build_opener(proxies, _NoRedirect())


def target_of(url: str) -> str:
    """`host[:port]` of `url`: what error messages and reprs show."""
    try:
        return urlsplit(url).netloc.rpartition("@")[2] or "?"
    except ValueError:
        return "?"


def parse_retry_after(value: Optional[str], now_s: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date; None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


def _retry_after_from_body(body: bytes) -> Optional[float]:
    """Discord and Telegram also say it in the JSON body (`retry_after`, `parameters.retry_after`)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    for holder in (data, data.get("parameters")):
        if isinstance(holder, dict) and isinstance(holder.get("retry_after"), (int, float)):
            return max(0.0, float(holder["retry_after"]))
    return None


def _snippet(body: bytes) -> str:
    text = body[:300].decode("utf-8", "replace").strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""


def post_json(url: str, payload: Any, *, timeout_s: float, headers: Optional[Mapping[str, str]] = None,
              label: str = "") -> Tuple[int, bytes]:
    """POST `payload` as JSON; (status, body) for a 2xx answer, DeliveryError for anything else."""
    host = target_of(url)
    where = f"{label} -> {host}" if label else host
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", USER_AGENT)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _opener(urlsplit(url).hostname or "").open(request, timeout=timeout_s) as response:
            return response.status, response.read(_MAX_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        body = _read_quietly(exc)
        status = exc.code
        if status == 429:
            wait = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            if wait is None:
                wait = _retry_after_from_body(body)
            raise DeliveryError(f"{where}: HTTP 429 too many requests", retryable=True, retry_after_s=wait,
                                status=status) from None
        retryable = status >= 500
        raise DeliveryError(f"{where}: HTTP {status}{_snippet(body)}", retryable=retryable,
                            status=status) from None
    except (socket.timeout, TimeoutError):
        raise DeliveryError(f"{where}: no answer within {timeout_s:g} s", retryable=True) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise DeliveryError(f"{where}: no answer within {timeout_s:g} s", retryable=True) from None
        text = getattr(reason, "strerror", None) or str(reason)
        raise DeliveryError(f"{where}: cannot connect: {text}", retryable=True) from None
    except (ConnectionError, OSError) as exc:
        raise DeliveryError(f"{where}: connection failed: {exc.strerror or type(exc).__name__}",
                            retryable=True) from None
    except ValueError as exc:  # malformed URL, e.g. unknown scheme
        raise DeliveryError(f"{where}: bad URL ({type(exc).__name__})", retryable=False) from None


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read(_MAX_RESPONSE_BYTES) or b""
    except (OSError, ValueError):
        return b""
    finally:
        exc.close()
