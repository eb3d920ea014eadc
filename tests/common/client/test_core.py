"""The SDK's async core against a tiny protocol-speaking broker: requests, errors, deadlines, streams,
late join via snapshot, gap detection, broker loss and restart, CURVE, and the blocking wrapper."""
from __future__ import annotations

import asyncio
import threading

import pytest
import zmq
import zmq.asyncio

from koabus.common.client import AsyncClient, Client, ClientOptions, CurveKeys
from koabus.common.errors import KiwoomError, ProtocolError, Timeout, Unavailable
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


async def until(predicate, timeout_s: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.01)
    return bool(predicate())


def client_for(broker: FakeBroker, **kw) -> AsyncClient:
    return AsyncClient(broker.router, broker.pub, options=FAST, **kw)


def test_request_reply_error_and_deadline(broker):
    async def main():
        async with client_for(broker) as client:
            assert client.epoch == broker.epoch
            assert client.server == {"backend": "fake"}
            answer = await client.request("echo", {"a": 1}, timeout_s=1.5)
            assert answer["args"] == {"a": 1}
            assert 0 < answer["deadline_ms"] <= 1500
            with pytest.raises(KiwoomError) as err:
                await client.request("fail")
            assert err.value.code == -200
            with pytest.raises(Timeout):
                await client.request("silent", timeout_s=0.2)
            replies = await asyncio.gather(*(client.request("echo", {"i": i}) for i in range(50)))
            assert [r["args"]["i"] for r in replies] == list(range(50))

    run(main())


def test_streamed_parts_in_order_with_end_result(broker):
    async def main():
        async with client_for(broker) as client:
            stream = await client.connection.open_stream("pages", {"n": 4})
            parts = await stream.collect()
            assert [p["page"] for p in parts] == [0, 1, 2, 3]
            assert stream.result == {"done": True}

    run(main())


def test_connect_without_broker_fails_unavailable():
    options = FAST.with_(connect_timeout_s=0.5)
    port = free_tcp_port()

    async def main():
        client = AsyncClient(f"tcp://127.0.0.1:{port}", f"tcp://127.0.0.1:{free_tcp_port()}", options=options)
        with pytest.raises(Unavailable):
            await client.connect()

    run(main())


def test_late_join_gets_snapshot_then_live_values(broker):
    broker.publish("rt.trade.005930", {"type": "주식체결", "code": "005930", "values": {"price": 100}})
    broker.publish("rt.trade.000660", {"type": "주식체결", "code": "000660", "values": {"price": 7}})

    async def main():
        async with client_for(broker) as client:
            assert await until(lambda: "rt.trade.000660" in broker.cache)
            async with client.realtime(["005930"], ["trade"]) as stream:
                first = await stream.next(2.0)
                assert first.from_snapshot and first.values == {"price": 100} and first.code == "005930"
                broker.publish("rt.trade.005930", {"type": "주식체결", "code": "005930", "values": {"price": 101}})
                second = await stream.next(2.0)
                assert not second.from_snapshot and second.values == {"price": 101}
                assert second.seq > first.seq
            assert broker.calls_of("subscribe") == [{"codes": ["005930"], "types": ["trade"]}]
            assert broker.calls_of("unsubscribe") == [{"codes": ["005930"], "types": ["trade"]}]

    run(main())


def test_sequence_gap_is_reported(broker):
    async def main():
        async with client_for(broker) as client:
            gaps = []
            client.on_gap(gaps.append)
            async with client.realtime("005930", "trade", snapshot=False) as stream:
                broker.publish("rt.trade.005930", {"code": "005930", "values": {"price": 1}})
                assert (await stream.next(2.0)).values == {"price": 1}
                broker.skip("rt.trade.005930", 2)
                broker.publish("rt.trade.005930", {"code": "005930", "values": {"price": 4}})
                assert (await stream.next(2.0)).values == {"price": 4}
                assert await until(lambda: gaps)
                assert gaps[0].topic == "rt.trade.005930" and gaps[0].missing == 2
                assert stream.gaps == 1 and stream.lost == 2

    run(main())


def test_broker_restart_fails_pending_then_reconnects_and_resubscribes(broker):
    async def main():
        async with client_for(broker) as client:
            epochs, states = [], []
            client.on_epoch_change(epochs.append)
            client.on_state(lambda e: states.append(e.state))
            old_epoch = client.epoch
            stream = await client.realtime("005930", "trade", snapshot=False).start()
            pending = asyncio.ensure_future(client.request("silent", timeout_s=10))
            await asyncio.sleep(0.05)
            broker.stop()
            with pytest.raises(Unavailable):
                await pending
            assert client.state == "reconnecting"
            broker.start()
            assert await until(lambda: epochs and client.state == "ready", 5)
            assert epochs[0].old_epoch == old_epoch and epochs[0].new_epoch == broker.epoch
            assert await until(lambda: len(broker.calls_of("subscribe")) == 2)  # again, at the new broker
            broker.publish("rt.trade.005930", {"code": "005930", "values": {"price": 9}})
            event = await stream.next(2.0)
            assert event is not None and event.values == {"price": 9} and event.epoch == broker.epoch
            assert (await client.request("echo", {"x": 1}))["args"] == {"x": 1}
            assert "reconnecting" in states and states[-1] == "ready"
            await stream.close()

    run(main())


def test_requests_made_while_reconnecting_wait_for_the_new_broker(broker):
    async def main():
        async with client_for(broker) as client:
            broker.stop()
            assert await until(lambda: client.state == "reconnecting", 3)
            waiting = asyncio.ensure_future(client.request("echo", {"late": True}, timeout_s=5))
            await asyncio.sleep(0.2)
            broker.start()
            assert (await waiting)["args"] == {"late": True}

    run(main())


def test_curve_keys_reach_the_sockets_and_work_end_to_end():
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    fake = FakeBroker(free_tcp_port(), free_tcp_port(), curve_secret=server_secret).start()
    keys = CurveKeys(server_public.decode(), client_public.decode(), client_secret.decode())
    assert client_secret.decode() not in repr(keys)
    try:
        async def main():
            async with AsyncClient(fake.router, fake.pub, options=FAST, curve=keys) as client:
                assert client.connection._dealer.getsockopt(zmq.MECHANISM) == zmq.CURVE
                assert client.connection._sub.getsockopt(zmq.MECHANISM) == zmq.CURVE
                assert (await client.request("echo", {"secure": 1}))["args"] == {"secure": 1}
            wrong = CurveKeys(client_public.decode(), client_public.decode(), client_secret.decode())
            with pytest.raises(Unavailable):  # a wrong server key never completes the handshake
                await AsyncClient(fake.router, fake.pub, options=FAST.with_(connect_timeout_s=0.5),
                                  curve=wrong).connect()

        run(main())
    finally:
        fake.stop()


def test_blocking_client_works_inside_a_running_event_loop(broker):
    """As in Jupyter: the caller's thread already runs a loop; the Client must not touch it."""
    async def notebook_cell():
        with Client(broker.router, broker.pub, options=FAST) as client:
            assert client.request("echo", {"k": "v"})["args"] == {"k": "v"}
            with pytest.raises(KiwoomError):
                client.request("fail")
            stream = client.connection.open_stream  # attributes of attributes stay plain
            assert callable(stream)
            sub = client.realtime("005930", "trade", snapshot=False)
            with sub:
                broker.publish("rt.trade.005930", {"code": "005930", "values": {"price": 5}})
                event = sub.next(2.0)
                assert event.values == {"price": 5}
            assert client.loop is not asyncio.get_running_loop()
        assert not client.loop.is_running()

    run(notebook_cell())


def test_blocking_client_from_several_threads(broker):
    with Client(broker.router, broker.pub, options=FAST) as client:
        results = {}

        def worker(i):
            results[i] = client.request("echo", {"i": i})["args"]["i"]

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(5)
        assert results == {i: i for i in range(8)}


def test_a_lost_part_fails_the_request_and_stops_it_at_the_broker(broker):
    async def main():
        async with client_for(broker) as client:
            stream = await client.connection.open_stream("pages", {"n": 4, "lose": 2})
            seen = []
            with pytest.raises(ProtocolError, match="part 2 was lost"):
                async for part in stream:
                    seen.append(part["page"])
            assert seen == [0, 1]  # what arrived in order is delivered; then the failure
            assert await until(lambda: stream.request_id in broker.cancels)

    run(main())


def test_an_end_that_counts_other_parts_fails_the_request(broker):
    async def main():
        async with client_for(broker) as client:
            stream = await client.connection.open_stream("pages", {"n": 3, "claim": 4})
            with pytest.raises(ProtocolError, match="END counts 4 parts but 3 arrived"):
                await stream.collect()
            fine = await client.connection.open_stream("pages", {"n": 3})  # a whole stream still passes
            assert len(await fine.collect()) == 3 and fine.result == {"done": True}

    run(main())


def test_condition_searches_get_a_longer_default_deadline(broker):
    async def main():
        async with client_for(broker) as client:
            assert FAST.timeout_s == 2.0 and FAST.condition_timeout_s == 90.0
            search = await client.request("condition_search", {"name": "c", "index": 1})
            watch = await client.request("condition_watch", {"name": "c", "index": 1})
            other = await client.request("echo", {})
            assert 60_000 < search["deadline_ms"] <= 90_000 and 60_000 < watch["deadline_ms"] <= 90_000
            assert other["deadline_ms"] <= 2_000  # every other op keeps timeout_s
            assert (await client.request("condition_search", {}, timeout_s=1.0))["deadline_ms"] <= 1_000
        async with AsyncClient(broker.router, broker.pub, options=FAST.with_(condition_timeout_s=5.0)) as client:
            assert await client.condition_search("c", 1) == ["005930", "000660"]
            assert 3_000 < (await client.request("condition_search", {}))["deadline_ms"] <= 5_000

    run(main())


def test_a_flooded_sub_reader_lets_the_loops_other_tasks_run():
    """Publications already waiting do not suspend `await recv_multipart()`: a reader that never yields ran
    through a flood while the streams' consumers (and every other task) waited; the Python SDK consumed
    nothing of a 22k/s stream in bench_clients. The reader gives the loop a turn every READ_TURN messages."""
    from koabus.common.client.core import READ_TURN, Connection
    from koabus.common.protocol import Publication

    count = 20 * READ_TURN

    async def main():
        ctx = zmq.asyncio.Context()
        xpub, sub = ctx.socket(zmq.XPUB), ctx.socket(zmq.SUB)
        try:
            for sock, option in ((xpub, zmq.SNDHWM), (sub, zmq.RCVHWM)):
                sock.setsockopt(option, 0)
            xpub.bind("inproc://flood")
            sub.connect("inproc://flood")
            sub.subscribe(b"rt.")
            assert (await asyncio.wait_for(xpub.recv(), 5)) == b"\x01rt."  # the subscription is in place
            for i in range(1, count + 1):  # all of them waiting before the reader starts
                await xpub.send_multipart(Publication("rt.trade.005930", "RT", 7, i, i, None, 0, {"i": i}).to_frames())
            conn = Connection(ClientOptions())
            seen = []
            conn.dispatch = lambda pub, batched=False: seen.append(pub.seq)
            turns = []

            async def other_task():
                while len(seen) < count:
                    turns.append(len(seen))
                    await asyncio.sleep(0)

            other = asyncio.ensure_future(other_task())
            reader = asyncio.ensure_future(conn._read_sub(sub))
            await asyncio.wait_for(other, 10)
            reader.cancel()
            assert seen == list(range(1, count + 1))
            during = [n for n in turns if 0 < n < count]
            assert len(during) >= count // READ_TURN - 2, (len(during), turns[:5])
        finally:
            xpub.close(0)
            sub.close(0)
            ctx.term()

    asyncio.run(main())
