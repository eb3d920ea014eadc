"""Fixtures for the simulated market: markets on a frozen virtual clock at a chosen KST instant."""
from __future__ import annotations

from datetime import datetime

import pytest

from koabus.common.clock import KST, VirtualClock
from koabus.services.sim.market import Market


def kst(*args: int) -> datetime:
    return datetime(*args, tzinfo=KST)


@pytest.fixture
def make_market():
    """make_market(when, seed=7) -> Market on a frozen VirtualClock set to `when` (KST datetime)."""

    def make(when: datetime, seed: int = 7) -> Market:
        return Market(seed=seed, clock=VirtualClock(when, speed=0))

    return make


@pytest.fixture(scope="module")
def midday_market() -> Market:
    """A market frozen at 11:00 on Thursday 2025-03-06 (shared by read-only tests of a module)."""
    return Market(seed=7, clock=VirtualClock(kst(2025, 3, 6, 11, 0), speed=0))
