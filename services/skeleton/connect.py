"""The broker link every consumer service opens the same way: SDK client options from the shared
settings, and a connect that retries (backing off) until a broker answers or the service stops.

A service under supervisor may start before its broker; it waits, it does not fail.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Callable, Optional

from koabus.common.errors import KoabusError

#: first retry after this, doubling up to MAX_RETRY_WAIT_S
FIRST_RETRY_WAIT_S = 0.5
MAX_RETRY_WAIT_S = 5.0
CONNECT_TIMEOUT_S = 2.0


def curve_keys(settings: Any) -> Any:
    """The SDK's CurveKeys from `settings.curve` (CurveClientSettings); None without CURVE."""
    if not settings.curve.enabled:
        return None
    from koabus.common.client import CurveKeys

    c = settings.curve
    return CurveKeys.from_keys_dir(c.keys_dir, c.key, c.server_key or None)


def client_options(settings: Any, **extra: Any) -> Any:
    """ClientOptions for the broker at `settings.router`/`pub`, named `settings.name` (`extra`: the
    service's own options, e.g. max_stream_queue)."""
    from koabus.common.client import ClientOptions

    return ClientOptions(router=settings.router, pub=settings.pub, client_name=settings.name,
                         curve=curve_keys(settings), connect_timeout_s=CONNECT_TIMEOUT_S, **extra)


async def connect_until_stopped(options: Any, stop: asyncio.Event, log: logging.Logger,
                                on_retry: Optional[Callable[[KoabusError], None]] = None) -> Any:
    """A connected AsyncClient, or None when `stop` was set first. Each failure is logged (and passed
    to `on_retry`), then the next try waits 0.5 s, 1 s, 2 s ... at most 5 s, or until `stop`."""
    from koabus.common.client import AsyncClient

    wait = FIRST_RETRY_WAIT_S
    while not stop.is_set():
        client = AsyncClient(options=options)
        try:
            await client.connect()
            return client
        except KoabusError as exc:
            log.info("no broker at %s yet (%s); retrying", options.router, exc)
            if on_retry is not None:
                on_retry(exc)
            try:
                await asyncio.wait_for(stop.wait(), wait)
            except asyncio.TimeoutError:
                pass
            wait = min(MAX_RETRY_WAIT_S, wait * 2)
    return None


async def close_client(client: Any, timeout_s: float = 5.0) -> None:
    """Close the SDK client (None: nothing), giving up after `timeout_s`: a stopping service never hangs
    on a broker that stopped answering."""
    if client is None:
        return
    try:
        await asyncio.wait_for(client.close(), timeout_s)
    except (asyncio.TimeoutError, KoabusError):
        pass
