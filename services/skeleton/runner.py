"""How a service process runs: one asyncio loop until SIGINT or SIGTERM (SIGHUP, where asked, sets
`reload`), then the service's own orderly stop; its `run` returns the exit code."""
from __future__ import annotations

import asyncio
import signal
from typing import Awaitable, Callable


def run_until_stopped(start: Callable[[asyncio.Event, asyncio.Event], Awaitable[int]], *,
                      reload_on_hup: bool = False) -> int:
    """`start(stop, reload)` is called inside the loop (so the service and its events belong to it) and
    awaited; SIGINT/SIGTERM set `stop`, SIGHUP sets `reload` when `reload_on_hup`."""

    async def main() -> int:
        stop, reload = asyncio.Event(), asyncio.Event()
        loop = asyncio.get_event_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if reload_on_hup and hasattr(signal, "SIGHUP"):
            loop.add_signal_handler(signal.SIGHUP, reload.set)
        return await start(stop, reload)

    return asyncio.run(main())
