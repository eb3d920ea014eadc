from __future__ import annotations

import asyncio
import logging

from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.services.skeleton.tasks import BackgroundTasks


def test_a_failed_task_is_logged_and_becomes_the_heartbeats_last_error(caplog):
    beat = ServiceBeat(Identity.here("demo"))

    async def main() -> int:
        tasks = BackgroundTasks("demo", logging.getLogger("demo"), beat)

        async def fail() -> None:
            raise RuntimeError("boom")

        async def forever() -> None:
            await asyncio.Event().wait()

        tasks.spawn(fail())
        tasks.spawn(forever())
        for _ in range(100):  # bounded: the failing task ends within a few loop turns
            if len(tasks) == 1:
                break
            await asyncio.sleep(0)
        left = len(tasks)
        await tasks.cancel_all()
        return left * 10 + len(tasks)

    with caplog.at_level(logging.ERROR, logger="demo"):
        assert asyncio.run(main()) == 10
    assert "demo task failed" in caplog.text
    assert beat.last_error == "task failed: RuntimeError('boom')"
