"""Streams of one client share the broker-side interest: closing one stream never ends another's data,
and the broker hears `unsubscribe`/`condition_stop` only when the last local holder closes."""
from __future__ import annotations

import asyncio

import pytest

from koabus.common.client import AsyncClient, ClientOptions
from tests.common.client.fake_broker import FakeBroker
from tests.helpers import free_tcp_port

FAST = ClientOptions(timeout_s=2.0, connect_timeout_s=3.0, hello_timeout_s=0.3, heartbeat_ms=100, liveness=3,
                     reconnect_min_s=0.05, reconnect_max_s=0.2)


@pytest.fixture
def broker():
    fake = FakeBroker(free_tcp_port(), free_tcp_port()).start()
    yield fake
    fake.stop()


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


def trade(broker: FakeBroker, code: str, price: int) -> None:
    broker.publish(f"rt.trade.{code}", {"type": "주식체결", "code": code, "values": {"price": price}})


def test_closing_one_realtime_stream_keeps_the_others_subscription(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            both = await client.realtime(["005930", "000660"], "trade", snapshot=False).start()
            samsung = await client.realtime("005930", "trade", snapshot=False).start()
            trade(broker, "005930", 1)
            assert (await samsung.next(2.0)).values == {"price": 1}
            await both.close()
            # only the pair nobody else holds is released at the broker
            assert broker.calls_of("unsubscribe") == [{"codes": ["000660"], "types": ["trade"]}]
            trade(broker, "005930", 2)
            assert (await samsung.next(2.0)).values == {"price": 2}
            again = await client.realtime("005930", "trade", snapshot=False).start()
            await samsung.close()
            assert len(broker.calls_of("unsubscribe")) == 1  # `again` still holds 005930
            await again.close()
            assert broker.calls_of("unsubscribe")[1:] == [{"codes": ["005930"], "types": ["trade"]}]
            assert client.connection.interests.count(("rt", "trade", "005930")) == 0

    run(main())


def test_condition_streams_share_one_watch(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            first = await client.condition_stream("cheap", 3)
            second = await client.condition_stream("cheap", 3)
            for stream in (first, second):
                initial = await stream.next(2.0)
                assert initial.kind == "initial" and initial.codes == ("005930", "000660")
            await first.close()
            assert broker.calls_of("condition_stop") == []
            broker.publish("cond.3", {"index": 3, "name": "cheap", "code": "035420", "kind": "I"}, kind="COND")
            event = await second.next(2.0)
            assert event.kind == "I" and event.codes == ("035420",) and "035420" in second.codes
            await second.close()
            assert broker.calls_of("condition_stop") == [{"name": "cheap", "index": 3}]

    run(main())


def test_condition_stream_follows_the_topic_the_broker_names(broker):
    broker.condition_topic = "cond.alt.{index}"  # the spec's singular `topic`, not the SDK's own guess

    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            stream = await client.condition_stream("cheap", 4)
            assert (await stream.next(2.0)).kind == "initial"
            for _ in range(200):  # the SUB's subscription travels on its own: publish once it has arrived
                if any(s.startswith("cond.alt.4") for s in list(broker.subscriptions)):
                    break
                await asyncio.sleep(0.01)
            else:
                raise AssertionError(f"the stream never subscribed cond.alt.4: {broker.subscriptions}")
            broker.publish("cond.alt.4", {"index": 4, "name": "cheap", "code": "035420", "kind": "D"}, kind="COND")
            event = await stream.next(2.0)
            assert event is not None and event.kind == "D" and event.codes == ("035420",)
            await stream.close()

    run(main())
