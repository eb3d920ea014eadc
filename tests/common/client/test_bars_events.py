"""BarEvent: the SDK's view of a BAR publication (docs/protocol.md §4.2)."""
from __future__ import annotations

from datetime import datetime

import pytest

from koabus.common.client.bars import BarEvent, interval_name, interval_seconds
from koabus.common.clock import KST
from koabus.common.protocol import Publication

BODY = {"code": "005930", "interval": "5m", "start": "2026-12-02T09:00:00+09:00", "end": "2026-12-02T09:05:00+09:00",
        "open": 70000, "high": 70500, "low": 69900, "close": 70100, "volume": 12, "value": 841000, "trades": 3,
        "final": True, "carried": False}


def test_a_bar_publication_becomes_a_bar_event():
    pub = Publication("bar.5m.005930", "BAR", 9, 42, 7, None, 1, BODY)
    event = BarEvent.from_publication(pub, from_snapshot=True)
    assert event.start == datetime(2026, 12, 2, 9, 0, tzinfo=KST) and event.interval_s == 300
    assert (event.close, event.final, event.seq, event.from_snapshot) == (70100, True, 42, True)
    with pytest.raises(ValueError):
        BarEvent.from_body({"code": "005930"})


def test_interval_names():
    assert [interval_seconds(v) for v in ("1m", "60m", "1h", 5)] == [60, 3600, 3600, 300]
    assert interval_name(15) == "15m"
    with pytest.raises(ValueError):
        interval_seconds("soon")
