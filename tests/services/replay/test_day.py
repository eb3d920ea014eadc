"""The replay's pure parts: typed lake values back to the control's raw text, and delivery times."""
from __future__ import annotations

from datetime import time

import pytest

from koabus.services.broker.decoding import parser_for
from koabus.services.replay.day import delivery_times
from koabus.services.replay.encode import raw_text

S = 1_000_000_000


@pytest.mark.parametrize("kind, value, ref, raw", [
    ("price", 70100, 70000, "+70100"), ("price", 69900, 70000, "-69900"), ("price", 70000, 70000, "70000"),
    ("price", 70100, None, "70100"), ("price", 2650.12, 2600.0, "+2650.12"), ("signed", 15, None, "+15"),
    ("signed", -15, None, "-15"), ("int", 3014225, None, "3014225"), ("float", 1.5, None, "+1.50"),
    ("float", -0.25, None, "-0.25"), ("float", 0.0, None, "0.00"), ("float", 0.125, None, "+0.125"),
    ("time", time(9, 0, 1), None, "090001"), ("maybe_time", None, None, "000000"), ("time", None, None, ""),
    ("str", "2", None, "2"), ("int", None, None, ""),
])
def test_raw_text_is_what_the_broker_decodes_back(kind, value, ref, raw):
    assert raw_text(kind, value, ref) == raw
    decoded = parser_for(kind)(raw)
    expected = value.strftime("%H:%M:%S") if isinstance(value, time) else value
    assert decoded == expected


def test_delivery_follows_the_exchange_second_and_the_receive_offset():
    base = 1_709_686_800 * S  # 2024-03-06 10:00:00 KST
    recv = [5 * S, 5 * S + 100, 5 * S + 300_000_000, 9 * S, 9 * S + 2 * S, 20 * S]
    event = [None, base, base, base + S, base + S, None]
    times = delivery_times(recv, event)
    # a leading row without an exchange time goes with the first one; offsets within the second kept
    assert times[:3] == [base / S, base / S, (base + 300_000_000) / S]
    assert times[3] == (base + S) / S
    assert times[4] == (base + S + 999_000_000) / S  # capped under a second
    assert times[5] == times[4]  # no exchange time: with the row ahead
    assert times == sorted(times)


def test_delivery_without_exchange_times_uses_the_receive_times():
    assert delivery_times([3 * S, 4 * S], [None, None]) == [3.0, 4.0]


def test_history_store_reads_what_sync_writes(tmp_path):
    from datetime import date, datetime

    from koabus.common.clock import KST
    from koabus.common.lake.schema import history_to_arrow
    from koabus.services.recorder.sinks.parquet import ParquetSink
    from koabus.services.replay.history import HistoryStore

    sink = ParquetSink(tmp_path, durable=False)
    minutes = [{"trade_time": f"202403061{m:03d}00", "open": 100, "high": 120, "low": 90, "current_price": 110 + m,
                "volume": 5, "trade_value": 1} for m in (1, 2)]
    sink.write("history_minute1", "", history_to_arrow("history_minute1", "005930", minutes), "sync-0-0")
    sink.write("history_daily", "", history_to_arrow("history_daily", "005930", [
        {"date": "20240305", "open": 1, "high": 3, "low": 1, "current_price": 2, "volume": 7, "trade_value": 4}]),
        "sync-0-1")
    sink.close()
    store = HistoryStore(str(tmp_path))
    bars = store.minutes("005930", 1, datetime(2024, 3, 6, 15, 0, tzinfo=KST).timestamp(), 10)
    assert [(datetime.fromtimestamp(b.t, KST).strftime("%H:%M"), b.close) for b in bars] == [("10:02", 112),
                                                                                           ("10:01", 111)]
    daily = store.daily("005930", date(2024, 3, 6), 10)
    assert [(b.date, b.close, b.volume, b.value) for b in daily] == [(date(2024, 3, 5), 2, 7, 4_000_000)]
    assert not store.has_minutes("005930", 3) and not store.has_daily("000660")
