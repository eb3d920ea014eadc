"""A service's background coroutines (watchers, pollers, requests in flight): kept so they can be
cancelled at stop, and a failure logged and shown in the heartbeat's `last_error` rather than lost."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterator, Optional, Set

from koabus.common.heartbeat import ServiceBeat


class BackgroundTasks:
    """`spawn` starts one; `cancel_all` at stop. `log` None: a failure is not logged (the service
    watches its tasks' results itself); `beat`: a failure becomes the heartbeat's last error."""

    def __init__(self, label: str, log: Optional[logging.Logger] = None, beat: Optional[ServiceBeat] = None):
        self.label = label
        self.log = log
        self.beat = beat
        self._tasks: Set[asyncio.Task] = set()

    def spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if self.log is None or task.cancelled() or task.exception() is None:
            return
        self.log.error("%s task failed", self.label, exc_info=task.exception())
        if self.beat is not None:
            self.beat.error(f"task failed: {task.exception()!r}")

    async def cancel_all(self) -> None:
        """Cancel every task still running and wait until each has ended."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Task]:
        return iter(list(self._tasks))
