"""The chart's history from a recorded lake (the recorder's ParquetSink wrote it): the minute bars equal
the day's trades bucketed by minute, oldest first."""
from __future__ import annotations

import asyncio
from datetime import datetime

from koabus.services.web.app import WebService
from koabus.services.web.config import settings_from_dict
from tests.common.lake.query_lake import DAY, KST, record_day


def test_lake_history_is_the_days_trades_by_minute(tmp_path):
    recorded = record_day(tmp_path)
    service = WebService(settings_from_dict({"codes": ["005930"], "history": "lake", "lake_root": str(tmp_path)}))
    service.dashboard.clock_s = datetime.fromisoformat(f"{DAY}T15:00:00+09:00").timestamp()
    rows = asyncio.run(service._lake_history("005930"))

    expected = {}
    for t in recorded.trade_rows("005930", DAY):
        start = int(t["time"].replace(second=0, microsecond=0).timestamp() * 1000)
        bar = expected.setdefault(start, [start, t["price"], t["price"], t["price"], t["price"], 0])
        bar[2], bar[3], bar[4], bar[5] = max(bar[2], t["price"]), min(bar[3], t["price"]), t["price"], bar[5] + t["volume"]
    assert rows and rows == [expected[k] for k in sorted(expected)]
    assert datetime.fromtimestamp(rows[0][0] / 1000, KST).date().isoformat() == DAY
