"""Fixtures for relay tests: relays on random loopback ports, stopped by the fixture that made them."""
from __future__ import annotations

from typing import Any, List

import pytest


def make_relay(upstream_router: str, upstream_pub: str, **overrides: Any):
    """A started Relay in this process, taking the bus from the given endpoints."""
    from koabus.services.relay.app import Relay
    from koabus.services.relay.config import settings_from_dict

    upstream = {"router": upstream_router, "pub": upstream_pub, **overrides.pop("upstream", {})}
    downstream = {"router": "tcp://127.0.0.1:*", "pub": "tcp://127.0.0.1:*", "status": "tcp://127.0.0.1:*",
                  **overrides.pop("downstream", {})}
    data = {"upstream": upstream, "downstream": downstream, "heartbeat_ms": 50, **overrides}
    relay = Relay(settings_from_dict(data))
    relay.start()
    return relay


@pytest.fixture
def relays():
    """`relays(upstream_router, upstream_pub, **overrides)` starts a relay; all are stopped at the end."""
    made: List[Any] = []

    def start(upstream_router: str, upstream_pub: str, **overrides: Any):
        relay = make_relay(upstream_router, upstream_pub, **overrides)
        made.append(relay)
        return relay

    try:
        yield start
    finally:
        for relay in reversed(made):
            relay.stop()
