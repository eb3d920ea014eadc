"""The web service in-process against a real sim broker: a page's WebSocket gets live quotes, chart
history (from the minute TR when the lake has none), the order
it sends (trading allowed) comes back as an open order and fills from the broker's chejan, the bars
and alerts other services publish reach it, and its own heartbeat is on its status PUB."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta

import aiohttp
import zmq
import zmq.asyncio

from koabus.common.clock import KST
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType
from koabus.services.web.app import WebService
from koabus.services.web.config import settings_from_dict
from tests.common.client.live import BrokerProcess
from tests.helpers import free_tcp_port

DEADLINE_S = 20.0


async def _until(ws, state, predicate, timeout_s: float = DEADLINE_S):
    """Read batches into `state` (latest message per type) until `predicate(state)`; bounded."""
    deadline = time.monotonic() + timeout_s
    while not predicate(state):
        left = deadline - time.monotonic()
        assert left > 0, f"gave up waiting; last messages: {sorted(state)}"
        msg = await ws.receive(timeout=left)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        for m in json.loads(msg.data):
            state[m["t"]] = m
            state.setdefault("all", []).append(m)
    return state


def test_orders_fills_bars_alerts_and_heartbeat(tmp_path):
    broker = BrokerProcess(speed=20, log_path=tmp_path / "broker.log").start()
    others = f"tcp://127.0.0.1:{free_tcp_port()}"  # plays the bars and alerting services' PUB
    status = f"tcp://127.0.0.1:{free_tcp_port()}"
    settings = settings_from_dict({"router": broker.router, "pub": broker.pub, "port": free_tcp_port(),
                                   "codes": ["005930", "000660"], "bars": others, "alerts": others,
                                   "services": [], "status": status, "health_interval_s": 0.3,
                                   "history": "lake", "lake_root": str(tmp_path / "empty-lake")})

    async def main() -> None:
        service = WebService(settings, trading=True)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.ensure_future(service.run(stop, ready))
        ctx = zmq.asyncio.Context.instance()
        pub = ctx.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        pub.bind(others)
        beats = ctx.socket(zmq.SUB)
        beats.setsockopt(zmq.LINGER, 0)
        beats.setsockopt(zmq.SUBSCRIBE, b"sys.hb.web")
        beats.connect(status)
        try:
            await asyncio.wait_for(ready.wait(), 10)
            async with aiohttp.ClientSession() as http:
                ws = await http.ws_connect(f"http://127.0.0.1:{service.port}/ws")
                def samsung(s):
                    return next((m for m in reversed(s.get("all", [])) if m["t"] == "quote" and m["code"] == "005930"), None)

                state = await _until(ws, {}, lambda s: samsung(s) is not None and "book" in s)
                price = samsung(state)["price"]
                # an empty lake: the chart's history came from the minute TR instead
                state = await _until(ws, state, lambda s: any(m["t"] == "bars" and m["bars"] for m in s["all"]))
                await ws.send_str(json.dumps({"op": "order", "id": "a", "code": "005930", "side": "buy", "qty": 3,
                                              "price": price + 1000}))  # marketable: fills at once in the sim
                state = await _until(ws, state, lambda s: "order_result" in s)
                assert state["order_result"]["ok"] is True, state["order_result"]
                state = await _until(ws, state, lambda s: "fills" in s and s["fills"]["fills"])
                fill = state["fills"]["fills"][0]
                assert (fill["code"], fill["qty"], fill["name"]) == ("005930", 3, "삼성전자")
                assert fill["side"] and fill["price"] <= price + 1000

                start = datetime(2025, 6, 2, 9, 7, tzinfo=KST)
                body = {"code": "005930", "interval": "1m", "start": start.isoformat(),
                        "end": (start + timedelta(minutes=1)).isoformat(), "open": 1, "high": 3, "low": 1, "close": 2,
                        "volume": 77, "value": 0, "trades": 1, "final": True, "carried": False}
                alert = {"rule": "big-move", "kind": "price", "severity": "warning", "title": "삼성전자 급등",
                         "text": "+5%", "code": "005930", "time_ns": time.time_ns()}

                def sent(s):  # a late SUB misses the first sends (slow joiner): publish until seen
                    for topic, kind, b in (("bar.1m.005930", PubType.BAR, body), ("alert.big-move", PubType.ALERT, alert)):
                        pub.send_multipart(Publication(topic, kind, 1, 1, 1, None, time.time_ns(), b).to_frames())
                    return (any(m["t"] == "bar" and m["bar"][5] == 77 for m in s["all"])
                            and bool(s.get("alerts", {}).get("alerts")))  # the first snapshot's list is empty

                state = await _until(ws, state, sent)
                assert state["alerts"]["alerts"][0]["title"] == "삼성전자 급등"
                await ws.close()
            states = []
            for _ in range(20):  # beats queued since the start say "degraded" (no broker link yet); bounded
                beat = Publication.from_frames(await asyncio.wait_for(beats.recv_multipart(), 5))
                states.append(beat.body["state"])
                if beat.body["state"] == "running":
                    break
            assert beat.topic == "sys.hb.web" and states[-1] == "running" and beat.body["trading"] is True, states
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            pub.close(0)
            beats.close(0)

    try:
        asyncio.run(main())
    finally:
        broker.stop()
