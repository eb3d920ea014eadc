"""MemoryGuard: when the broker starts and stops shedding, from RSS readings (a reader fed by the test)."""
from __future__ import annotations

from koabus.services.broker.memory import MB, MemoryGuard


class Readings:
    def __init__(self, *mb):
        self.values = [int(v * MB) for v in mb]
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]


def test_sheds_above_the_mark_and_stops_below_the_resume_mark():
    trims = []
    reader = Readings(300, 420, 400, 380, 360)
    guard = MemoryGuard(512, 0.8, interval_s=0.25, reader=reader, trim=lambda: trims.append(1))
    assert guard.shed_mb == 409.6 and round(guard.resume_mb, 2) == 368.64
    assert guard.check(0.0) is None and not guard.shedding
    assert guard.check(0.1) is None and reader.calls == 1  # read at most every interval_s
    assert guard.check(0.3) == "start" and guard.shedding and guard.episodes == 1
    assert guard.check(0.6) is None and trims  # gives memory back while shedding
    assert guard.check(0.9) is None and guard.shedding  # 380: under the mark, above the resume mark
    assert guard.check(1.2) == "stop" and not guard.shedding
    assert guard.peak_mb == 420 and guard.status()["shed_episodes"] == 1


def test_zero_means_not_watched_and_an_unreadable_platform_is_not_enforced():
    off = MemoryGuard(0, 0.8, reader=Readings(10_000))
    assert not off.enabled and off.check(1.0) is None and not off.shedding
    blind = MemoryGuard(512, 0.8, reader=lambda: None)
    assert blind.check(1.0) is None and not blind.shedding
