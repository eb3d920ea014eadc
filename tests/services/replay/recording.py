"""A recorded day for the replay tests: a short session of a real broker over the simulator, captured by a
real SUB socket and written to a temporary lake through the lake's own API (to_arrow + ParquetSink).

`record_session` returns the captured publications (the ground truth a replay must reproduce).
`replay_stack` runs a real broker over a ReplayControl of that lake on a frozen clock; `play` steps
the virtual clock through the recorded day in fixed increments and collects what the SUB receives.
"""
from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import List, Sequence

from koabus.common.protocol import Publication
from tests.services.broker.conftest import Stack, make_broker, start_stack

CODES = ("005930", "000660")
TYPES = ("trade", "best", "book")
SESSION_DAY = date(2024, 3, 6)  # conftest.SESSION_START's day
RECORD_SECONDS = 40.0
STEP_S = 0.5


def record_session(qapp, lake: Path, seconds: float = RECORD_SECONDS) -> List[Publication]:
    """Run a simulated broker for `seconds` of virtual time with CODES x TYPES subscribed; write what a
    SUB received to `lake` (one batch per table) and return it in arrival order."""
    from koabus.common.lake.schema import table_of, to_arrow, trading_date
    from koabus.services.recorder.sinks.parquet import ParquetSink

    stack = start_stack(qapp)
    try:
        client = stack.client("recorder")
        client.subscribe_pub("rt.")
        client.pump(0.2)
        client.result("subscribe", {"codes": list(CODES), "types": list(TYPES)})
        _step(stack, client, seconds)
        pubs = client.pubs_on("rt.")
    finally:
        stack.close()
    sink = ParquetSink(lake, durable=False)
    by_table = {}
    for pub in pubs:
        by_table.setdefault((table_of(pub.topic), trading_date(pub)), []).append(pub)
    for (table, day), group in sorted(by_table.items()):
        sink.write(table, day, to_arrow(table, group), "test-0-0")
    sink.close()
    return pubs


def write_hand_day(lake: Path, prints: Sequence[tuple], code: str = "005930", change_base: int = 69500) -> None:
    """A hand-built day of 주식체결 only (no book): `prints` are (HH:MM:SS, price, signed qty, ask, bid),
    published as a broker would and written through the lake's API."""
    from datetime import datetime

    from koabus.common.clock import KST
    from koabus.common.lake.schema import to_arrow
    from koabus.services.recorder.sinks.parquet import ParquetSink

    pubs, volume = [], 0
    for n, (hms, price, qty, ask, bid) in enumerate(prints, start=1):
        volume += abs(qty)
        at = datetime.combine(SESSION_DAY, datetime.strptime(hms, "%H:%M:%S").time(), tzinfo=KST)
        ns = int(at.timestamp()) * 1_000_000_000
        values = {"trade_time": hms, "current_price": price, "change": price - change_base,
                  "change_rate": round((price - change_base) * 100.0 / change_base, 2), "ask": ask, "bid": bid,
                  "volume": qty, "cum_volume": volume, "session": "2"}
        pubs.append(Publication(f"rt.trade.{code}", "RT", 7, n, n, ns, ns + 1000, {"type": "주식체결", "code": code,
                                                                                   "values": values}))
    sink = ParquetSink(lake, durable=False)
    sink.write("rt_trade", SESSION_DAY.isoformat(), to_arrow("rt_trade", pubs), "hand-0-0")
    sink.close()


def write_daily_history(lake: Path, code: str, rows: Sequence[dict]) -> None:
    """Daily bars for `code` in the lake's history store, as `koabus sync` writes them."""
    from koabus.common.lake.schema import history_to_arrow
    from koabus.services.recorder.sinks.parquet import ParquetSink

    sink = ParquetSink(lake, durable=False)
    sink.write("history_daily", "", history_to_arrow("history_daily", code, rows, adjusted=True), "sync-0-0")
    sink.close()


def replay_stack(qapp, lake: Path, codes: Sequence[str] = ()) -> Stack:
    """A logged-in broker over a ReplayControl of `lake`'s SESSION_DAY on a frozen virtual clock."""
    from koabus.services.replay.control import ReplaySource, open_replay

    control = open_replay(ReplaySource(str(lake), SESSION_DAY, tuple(codes), speed=0.0, hold=False))
    broker = make_broker(control, control.sim.clock)
    try:
        broker.start()
    except BaseException:
        shutil.rmtree(broker.test_state_dir, ignore_errors=True)
        raise
    stack = Stack(qapp, control, broker)
    probe = stack.client("fixture")
    assert probe.wait_for(lambda: broker.core.connected, 5.0), "the replay broker did not log in"
    return stack


def play(stack: Stack, codes: Sequence[str] = CODES, types: Sequence[str] = TYPES) -> List[Publication]:
    """Subscribe like the recording did, step through the whole recorded day, return the rt publications."""
    client = stack.client("player")
    client.subscribe_pub("rt.")
    client.pump(0.2)
    client.result("subscribe", {"codes": list(codes), "types": list(types)})
    day = stack.control.recorded
    _step(stack, client, day.last_t - stack.sim.clock.time() + 1.0)
    return client.pubs_on("rt.")


def _step(stack: Stack, client, seconds: float) -> None:
    """Advance the frozen clock by `seconds` in STEP_S steps, pumping after each (bounded loop)."""
    steps = int(seconds / STEP_S) + 1
    for _ in range(steps):
        stack.sim.advance(STEP_S)
        client.pump(0.01)
    client.pump(0.2)


def fingerprint(pubs: Sequence[Publication]):
    """What must be identical between the recording and a replay, and between two replays."""
    return [(p.topic, p.body, p.event_ns) for p in pubs]
