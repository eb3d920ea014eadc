from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from koabus.services.skeleton.connect import client_options, connect_until_stopped
from koabus.services.skeleton.settings import BusServiceSettings
from tests.helpers import free_tcp_port


@dataclass(frozen=True)
class DemoSettings(BusServiceSettings):
    name: str = "koabus-demo"
    status: str = "tcp://127.0.0.1:5599"


def test_no_broker_means_retries_until_the_service_stops():
    router, pub = f"tcp://127.0.0.1:{free_tcp_port()}", f"tcp://127.0.0.1:{free_tcp_port()}"
    options = client_options(DemoSettings(router=router, pub=pub))
    assert (options.router, options.pub, options.client_name, options.curve) == (router, pub, "koabus-demo", None)
    failures = []

    async def main():
        stop = asyncio.Event()

        def retry(exc):
            failures.append(exc)
            stop.set()  # the service stops while waiting for a broker

        return await connect_until_stopped(options, stop, logging.getLogger("demo"), on_retry=retry)

    assert asyncio.run(main()) is None
    assert len(failures) == 1
