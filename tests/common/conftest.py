"""The live broker the SDK, CLI and KOAPY tests share: one per test module, on the simulated control.

A module that needs another broker (a fake, other settings) defines its own `broker` fixture, which
overrides this one."""
from __future__ import annotations

import pytest

from tests.common.client.live import BrokerProcess


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """`koabus broker --backend sim` in a child process at 20x, stopped after the module."""
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield process
    process.stop()
