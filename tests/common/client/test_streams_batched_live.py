"""A realtime stream that takes its events from positional batches (docs/protocol.md §4.4), next to one that takes
them one by one, on one connection to a live broker: each gets every event once, in order, no gaps."""
from __future__ import annotations

import asyncio

from koabus.common.client import AsyncClient, ClientOptions
from koabus.common.client.streams import batch_filter

CODES = ["005930", "000660"]
OPTIONS = ClientOptions(timeout_s=30.0)
EVENTS = 40


def test_batch_filters():
    assert batch_filter("rt.trade.005930") == "rtp.trade" and batch_filter("rt.trade.") == "rtp.trade"
    assert batch_filter("rt.") == "rtp." and batch_filter("ch.8000000011.") == "ch.8000000011."


async def _take(stream, n: int, timeout_s: float = 30.0):
    out = []
    deadline = asyncio.get_running_loop().time() + timeout_s
    while len(out) < n and asyncio.get_running_loop().time() < deadline:
        event = await stream.next(1.0)
        if event is not None:
            out.append(event)
    return out


def _in_order_once(events):
    by_code = {}
    for e in events:
        by_code.setdefault(e.code, []).append(e.seq)
    return all(seqs == sorted(set(seqs)) for seqs in by_code.values())


def test_batched_and_single_streams_share_a_connection(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=OPTIONS) as client:
            single = client.realtime(CODES, "trade")
            async with single:
                early = await _take(single, 5)  # both codes trade: the broker caches their last values
                batched = client.realtime(CODES, "trade", batched=True)
                async with batched:
                    status = await client.request("status")
                    assert status["publications"]["positional"] is True
                    got_batched, got_single = await asyncio.gather(_take(batched, EVENTS), _take(single, EVENTS))
                    assert len(early) == 5 and len(got_batched) == EVENTS and len(got_single) == EVENTS
                    assert got_batched[0].from_snapshot  # a late join starts from the broker's last values
                    assert {e.code for e in got_batched if not e.from_snapshot} == set(CODES)
                    assert _in_order_once(got_batched) and _in_order_once(early + got_single)
                    assert batched.gaps == 0 and single.gaps == 0
                    # the same events, whichever way they came
                    live = {e.seq: e.values for e in got_batched if not e.from_snapshot}
                    shared = [e for e in got_single if e.seq in live]
                    assert shared and all(live[e.seq] == e.values for e in shared)
            # the last batch subscription gone: the broker stops building batches
            for _ in range(50):
                if not (await client.request("status"))["publications"]["positional"]:
                    break
                await asyncio.sleep(0.1)
            assert (await client.request("status"))["publications"]["positional"] is False

    asyncio.run(main())
