"""The bars service as a real process on a real broker over the simulated market (fast virtual clock).

One afternoon is run once for the module: the test records the broker's trades (a SUB, written to a lake
through the lake's API as the recorder does), starts `koabus bars` a little later (so its first bars
need the minute-TR backfill), joins late through the SDK, and runs on past the close. The bars published
final must equal the recorded ticks resampled by the lake (`Lake.bars`), minute by minute and five
minutes by five; minutes nobody traded in (the closing auction) come out carried.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Dict, List, Tuple

import pytest

from koabus.common.client import AsyncClient, Client, ClientOptions
from koabus.common.client.bars import BarEvent
from koabus.common.clock import KST
from tests.common.client.live import (
    BrokerProcess,
    pytest_runtest_makereport,  # noqa: F401
)
from tests.services.bars.live import BarsProcess, Collector, write_lake

CODES = ("005930", "000660")
DAY = "2026-12-02"  # a Wednesday session, 09:00-15:30
SPEED = 200.0
SIM_START = "2026-12-02T14:40:00+09:00"
CLOSE = datetime(2026, 12, 2, 15, 30, tzinfo=KST)
FIVE = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)

Ohlcv = Tuple[int, int, int, int, int]


def kst(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, KST)


def ceil_to(at: datetime, step: timedelta) -> datetime:
    midnight = at.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = -((midnight - at) // step)
    return midnight + steps * step


def last_start(width: timedelta) -> datetime:
    """The start of the session's last bar of `width` (the 60m bar 15:00-15:30)."""
    return ceil_to(CLOSE, width) - width


async def late_join(router: str, pub: str, interval: str) -> List[BarEvent]:
    """A new SDK client of the bars service: the snapshot's partial bars, then live ones until every code's
    snapshot bar came back final (bounded)."""
    events: List[BarEvent] = []
    options = ClientOptions(connect_timeout_s=5, timeout_s=5)
    async with AsyncClient(router, pub, options=options) as client:
        async with client.bars(list(CODES), interval) as stream:
            loop = asyncio.get_event_loop()
            deadline = loop.time() + 15
            while loop.time() < deadline:
                event = await stream.next(timeout_s=max(0.1, deadline - loop.time()))
                if event is None:
                    break
                events.append(event)
                waiting = {(e.code, e.start) for e in events if e.from_snapshot}
                closed = {(e.code, e.start) for e in events if e.final}
                if waiting and waiting <= closed:
                    break
    return events


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Dict[str, Any]:
    tmp = tmp_path_factory.mktemp("bars-day")
    broker = BrokerProcess(speed=SPEED, start=SIM_START, log_path=tmp / "broker.log").start()
    trades = Collector(broker.pub, ["rt.trade."])
    trades.start()
    trades.ready.wait(5)
    bars = out = None
    found: Dict[str, Any] = {}
    try:
        with Client(broker.router, broker.pub, options=ClientOptions(timeout_s=10)) as c:
            c.request("subscribe", {"codes": list(CODES), "types": ["trade"]})
            firsts = [trades.wait_for(lambda p, code=code: p.topic.endswith(code), 20) for code in CODES]
            found["recorded_from"] = max(kst(p.event_ns) for p in firsts)
            # the bars service starts after a 5-minute boundary the recording already covers
            start_after = ceil_to(found["recorded_from"], FIVE) + timedelta(seconds=30)
            trades.wait_for(lambda p: kst(p.event_ns) >= start_after, 30)
            settings = {"codes": list(CODES), "intervals": ["1m", "5m", "60m"], "heartbeat_ms": 200,
                        "partial_interval_s": 0.1, "final_delay_s": 2.0, "clock_poll_s": 0.05}
            bars = BarsProcess(broker.router, broker.pub, tmp / "bars.log", settings).start()
            out = Collector(bars.publish, ["bar.", "sys.hb.bars"])
            out.start()
            out.ready.wait(5)
            beat = out.wait_for(lambda p: p.topic == "sys.hb.bars" and p.body["trades"] > 0
                                and not p.body["backfilling"], 30, bars)
            found["live_from"] = {code: datetime.fromisoformat(t) for code, t in beat.body["live_from"].items()}
            # a machine so busy that the fast virtual day ran into the closing auction first proves nothing
            assert max(found["live_from"].values()) < CLOSE - timedelta(minutes=15), \
                f"the bars service went live too late on the virtual clock ({found['live_from']}): machine too slow"
            # the hour's bar always holds a trade by now: the snapshot has something in progress
            found["late_join"] = asyncio.run(late_join(bars.snapshot, bars.publish, "60m"))
            for code in CODES:  # the day's last bars
                out.wait_for(lambda p, code=code: p.body.get("final") and p.topic == f"bar.1m.{code}"
                             and p.body["start"] == (CLOSE - MINUTE).isoformat(), 40, bars)
                out.wait_for(lambda p, code=code: p.body.get("final") and p.topic == f"bar.5m.{code}"
                             and p.body["start"] == (CLOSE - FIVE).isoformat(), 40, bars)
            last_beat = out.wait_for(lambda p: p.topic == "sys.hb.bars"
                                     and (p.body["clock"] or "") > CLOSE.isoformat(), 10, bars)
            found["beat"], found["beat_seq"] = last_beat.body, last_beat.seq
    finally:
        if bars is not None:
            found["exit_code"] = bars.stop()
        for sub in (out, trades):
            if sub is not None:
                sub.stop()
        broker.stop()
        broker.remove_state()
    found["bars"] = [p for p in out.snapshot("bar.")]
    write_lake(tmp / "lake", trades.snapshot("rt.trade."))
    from koabus.common.lake.query import Lake

    lake = Lake(tmp / "lake")
    found["lake"] = {(code, every): lake.bars(code, DAY, every) for code in CODES
                     for every in ("1 minute", "5 minutes")}
    return found


def finals(found: Dict[str, Any], code: str, interval: str) -> List[Dict[str, Any]]:
    return [p.body for p in found["bars"] if p.topic == f"bar.{interval}.{code}" and p.body["final"]]


def lake_buckets(frame, width: timedelta) -> Dict[datetime, Dict[str, int]]:
    """The lake's resampled rows by bucket start; the closing print (15:30:00, a bucket of its own when
    resampled from midnight) belongs to the session's last bar, after-hours trades to none."""
    rows: Dict[datetime, Dict[str, int]] = {}
    for row in frame.itertuples():
        start = row.time.to_pydatetime().astimezone(KST)
        values = {"open": row.open, "high": row.high, "low": row.low, "close": row.close, "volume": row.volume,
                  "value": row.value, "trades": row.trades}
        values = {k: int(v) for k, v in values.items()}
        last = rows.get(last_start(width))
        if start > CLOSE:  # after-hours sessions (15:40 on): in no regular bar
            continue
        if start == CLOSE and last is not None:
            last.update(high=max(last["high"], values["high"]), low=min(last["low"], values["low"]),
                        close=values["close"], volume=last["volume"] + values["volume"],
                        value=last["value"] + values["value"], trades=last["trades"] + values["trades"])
        else:
            rows[min(start, last_start(width))] = values
    return rows


def ohlcv(body: Dict[str, Any]) -> Ohlcv:
    return body["open"], body["high"], body["low"], body["close"], body["volume"]


@pytest.mark.parametrize("interval,width,every,enough", [("1m", MINUTE, "1 minute", 10), ("5m", FIVE, "5 minutes", 2)])
def test_final_bars_equal_the_recorded_ticks_resampled(day, interval, width, every, enough):
    for code in CODES:
        lake = lake_buckets(day["lake"][(code, every)], width)
        bars = finals(day, code, interval)
        assert bars, f"no final {interval} bar of {code}"
        first_complete = ceil_to(day["recorded_from"], width)
        compared = 0
        for body in bars:
            start = datetime.fromisoformat(body["start"])
            if start < first_complete:
                continue
            row = lake.get(start)
            if row is None:
                assert body["carried"] and body["volume"] == 0, body
                continue
            assert not body["carried"]
            assert ohlcv(body) == (row["open"], row["high"], row["low"], row["close"], row["volume"]), (start, body, row)
            if start >= day["live_from"][code]:  # all live: the traded value and the prints match too
                assert (body["value"], body["trades"]) == (row["value"], row["trades"]), (start, body, row)
            compared += 1
        assert compared >= enough, f"{code} {interval}: only {compared} bars compared"
        # and nothing the lake holds in that span is missing
        published = {datetime.fromisoformat(b["start"]) for b in bars}
        assert {s for s in lake if max(first_complete, min(published)) <= s <= max(published)} <= published


def test_backfill_makes_the_first_bars_complete(day):
    """The first final bars began before the service did: their early part came from the minute TR, and
    they still equal the ticks the recording holds for the whole interval."""
    for code in CODES:
        live_from = day["live_from"][code]
        assert live_from >= ceil_to(day["recorded_from"], FIVE) + MINUTE
        for interval, width, every in (("1m", MINUTE, "1 minute"), ("5m", FIVE, "5 minutes")):
            first = finals(day, code, interval)[0]
            start = datetime.fromisoformat(first["start"])
            assert start < live_from  # it needed the backfill
            row = lake_buckets(day["lake"][(code, every)], width)[start]
            assert ohlcv(first) == (row["open"], row["high"], row["low"], row["close"], row["volume"])


def test_minutes_without_trades_come_out_carried_and_the_closing_print_ends_the_day(day):
    for code in CODES:
        bars = finals(day, code, "1m")
        starts = [datetime.fromisoformat(b["start"]) for b in bars]
        assert starts == [starts[0] + n * MINUTE for n in range(len(starts))]  # one bar per minute, no holes
        auction = [b for b in bars if CLOSE - timedelta(minutes=10) <= datetime.fromisoformat(b["start"]) < CLOSE - MINUTE]
        assert len(auction) == 9 and all(b["carried"] and b["volume"] == 0 for b in auction)
        before = next(b for b in reversed(bars) if datetime.fromisoformat(b["start"]) < CLOSE - timedelta(minutes=10))
        assert {(b["open"], b["high"], b["low"], b["close"]) for b in auction} == {(before["close"],) * 4}
        last = bars[-1]
        assert last["end"] == CLOSE.isoformat() and not last["carried"] and last["volume"] > 0
        five = finals(day, code, "5m")
        assert five[-1]["end"] == CLOSE.isoformat() and five[-1]["close"] == last["close"]


def test_a_late_joiner_gets_the_bars_in_progress_then_live_ones(day):
    events = day["late_join"]
    snap = [e for e in events if e.from_snapshot]
    assert snap, "the snapshot held no bar in progress"
    assert all(not e.final and e.interval == "60m" and e.code in CODES for e in snap)
    for code in CODES:  # per topic: its snapshot first, then live publications after it, none twice
        mine = [e for e in events if e.code == code]
        assert not any(e.from_snapshot for e in mine[1:])
        assert [e.seq for e in mine] == sorted({e.seq for e in mine})
    live = [e for e in events if not e.from_snapshot]
    for bar in snap:
        closed = next(e for e in live if e.final and (e.code, e.start) == (bar.code, bar.start))
        assert closed.volume >= bar.volume and closed.high >= bar.high and closed.low <= bar.low


def test_heartbeat_and_clean_stop(day):
    beat = day["beat"]
    assert beat["service"] == "bars" and beat["codes"] == list(CODES) and beat["intervals"] == ["1m", "5m", "60m"]
    assert beat["bars_published"] == len([p for p in day["bars"] if p.body["final"] and p.seq < day["beat_seq"]])
    assert beat["lag_s"] is not None and beat["late_trades"] == 0 and beat["backfilling"] == []
    assert day["exit_code"] == 0

