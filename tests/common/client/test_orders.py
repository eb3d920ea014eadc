"""OrderHandle surfaces a failed order: the broker's refusal, a rejection, with `error` set and `wait()`
raising it; a filled order waits fine. Against the fake broker, whose outcome follows the client order id."""
from __future__ import annotations

import asyncio

import pytest

from koabus.common.client import AsyncClient, ClientOptions, OrderRejected
from koabus.common.errors import DuplicateOrder, InvalidRequest, KiwoomError, RiskRejected, Timeout
from tests.common.client.fake_broker import FakeBroker
from tests.helpers import free_tcp_port

FAST = ClientOptions(timeout_s=2.0, connect_timeout_s=3.0, hello_timeout_s=0.3, heartbeat_ms=100, liveness=3)
ACCOUNT = "8000000011"


@pytest.fixture
def broker():
    fake = FakeBroker(free_tcp_port(), free_tcp_port()).start()
    yield fake
    fake.stop()


def run(coro, timeout_s: float = 20.0):
    return asyncio.run(asyncio.wait_for(coro, timeout_s))


@pytest.mark.parametrize("cid, error", [("risk-1", RiskRejected), ("dup-1", DuplicateOrder),
                                        ("busy-1", InvalidRequest), ("overload-1", KiwoomError)])
def test_a_refused_order_sets_error_and_wait_raises_it(broker, cid, error):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            handle = await client.buy(ACCOUNT, "005930", 1, 70000, client_order_id=cid)
            with pytest.raises(error):
                await handle.wait(5.0)
            assert isinstance(handle.error, error) and handle.history == [] and not handle.done
            assert [e async for e in handle.events()] == []

    run(main())


def test_a_rejection_with_a_return_code_is_a_kiwoom_error(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            handle = await client.buy(ACCOUNT, "005930", 1, 70000, client_order_id="reject-1")
            with pytest.raises(KiwoomError) as err:
                await handle.wait(5.0)
            assert err.value.code == -302 and handle.error is err.value
            assert handle.state["state"] == "failed" and handle.state["code"] == "005930"  # not the -302

    run(main())


def test_a_server_rejection_without_a_code_is_order_rejected(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            handle = await client.buy(ACCOUNT, "005930", 1, 100, client_order_id="rc4027-1")
            with pytest.raises(OrderRejected, match="RC4027"):
                await handle.wait(5.0)
            assert [e["event"] for e in handle.history] == ["sent", "message", "rejected", "done"]

    run(main())


def test_a_filled_order_has_no_error(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            handle = await client.buy(ACCOUNT, "005930", 2, market=True, client_order_id="ok-1")
            final = await handle.wait(5.0)
            assert final["state"] == "filled" and final["filled_qty"] == 2 and handle.error is None
            order = broker.calls_of("order")[0]
            assert order["client_order_id"] == "ok-1" and order["hoga"] == "03"

    run(main())


def test_wait_times_out_as_a_koabus_timeout(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            stream = await client.connection.open_stream("silent", {})
            from koabus.common.client.orders import OrderHandle

            handle = OrderHandle(client, stream, {"client_order_id": "slow-1"})
            with pytest.raises(Timeout):
                await handle.wait(0.2)
            await handle.detach()
            assert await asyncio.wait_for(handle.wait(2.0), 3.0)  # detaching ends the pump, not the order
            assert not handle.done

    run(main())


# ---- limit and market orders: a limit order with price 0 never becomes a market order ----------------

def _sent_orders(broker):
    return [{k: a.get(k) for k in ("hoga", "price")} for a in broker.calls_of("order")]


@pytest.mark.parametrize("call, field", [
    (lambda c: c.buy(ACCOUNT, "005930", 1), "price"),  # no price: it used to go out as a market order
    (lambda c: c.buy(ACCOUNT, "005930", 1, 0), "price"),
    (lambda c: c.sell(ACCOUNT, "005930", 1, -100), "price"),
    (lambda c: c.order(ACCOUNT, "buy", "005930", 1, 0, hoga="00"), "price"),
    (lambda c: c.buy(ACCOUNT, "005930", 1, 70000, market=True), "price"),  # a market order takes no price
    (lambda c: c.buy(ACCOUNT, "005930", 1, market=True, hoga="00"), "hoga"),
    (lambda c: c.order(ACCOUNT, "buy", "005930", 1, 70000, hoga="03"), "price"),
    (lambda c: c.OrderCall("rq", "0101", ACCOUNT, 1, "005930", 1, 0, "00"), "price"),
    (lambda c: c.OrderCall("rq", "0101", ACCOUNT, 1, "005930", 1, 0, ""), "price"),
    (lambda c: c.modify_order(ACCOUNT, order_no="0000001", qty=1, price=0), "price"),
])
def test_a_limit_order_without_a_positive_price_is_refused_before_sending(broker, call, field):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            with pytest.raises(InvalidRequest) as err:
                await call(client)
            assert err.value.details.get("field") == field

    run(main())
    assert broker.calls_of("order") == [] and broker.calls_of("modify_order") == []


def test_market_orders_are_explicit(broker):
    async def main():
        async with AsyncClient(broker.router, broker.pub, options=FAST) as client:
            handles = [await client.buy(ACCOUNT, "005930", 1, market=True),
                       await client.sell(ACCOUNT, "005930", 1, 0, market=True),
                       await client.order(ACCOUNT, "buy", "005930", 1, hoga="03"),
                       await client.buy(ACCOUNT, "005930", 1, 70000)]
            for handle in handles:
                await handle.wait(5.0)
            # KOAPY style: hoga "03" with price 0 is a market order; a price that comes with it is dropped
            events = await client.OrderCall("rq", "0101", ACCOUNT, 2, "005930", 1, 0, "03")
            assert [e["event"] async for e in events][-1] == "done"
            events = await client.OrderCall("rq", "0101", ACCOUNT, 1, "005930", 1, 70000, "03")
            assert [e["event"] async for e in events][-1] == "done"

    run(main())
    market = {"hoga": "03", "price": 0}
    assert _sent_orders(broker) == [market, market, market, {"hoga": "00", "price": 70000}, market, market]


def test_prices_from_dataframes_and_floats_are_whole_krw():
    import numpy as np

    from koabus.common.client.orders import order_price

    assert order_price(np.int64(70000), None) == ("00", 70000)
    assert order_price(70000.0, "00") == ("00", 70000)
    for bad in (70000.5, "70000", None, np.int64(0)):
        with pytest.raises(InvalidRequest):
            order_price(bad, None)
