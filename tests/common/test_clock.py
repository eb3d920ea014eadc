"""Virtual time: frozen, stepped, scaled; never backwards."""
from __future__ import annotations

from datetime import datetime

import pytest

from koabus.common.clock import KST, SystemClock, VirtualClock


def test_a_frozen_clock_moves_only_when_advanced():
    clock = VirtualClock(datetime(2026, 11, 27, 9, 0, tzinfo=KST), speed=0)
    t0 = clock.time()
    assert clock.time() == t0
    clock.advance(3600)
    assert clock.now() == datetime(2026, 11, 27, 10, 0, tzinfo=KST)
    assert clock.wall_delay(5) == float("inf")


def test_speed_scales_wall_delays_and_elapsed_time():
    clock = VirtualClock(1_000_000.0, speed=1000)
    assert clock.wall_delay(2.0) == pytest.approx(0.002)
    assert clock.time() >= 1_000_000.0
    clock.set_speed(0)
    frozen = clock.time()
    assert clock.time() == frozen


def test_time_never_goes_back():
    clock = VirtualClock(100.0, speed=0)
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set_time(50.0)
    clock.set_time(200.0)
    assert clock.time() == 200.0


def test_system_clock_is_kst_aware():
    assert SystemClock().now().utcoffset().total_seconds() == 9 * 3600
