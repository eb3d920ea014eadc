"""The HTTP side on a real loopback socket (aiohttp's test server; no broker): the key, the page's
assets, the first WebSocket message, and orders refused unless trading was allowed at start."""
from __future__ import annotations

import asyncio
import json

from aiohttp.test_utils import TestClient, TestServer

from koabus.services.web.app import COOKIE, WebService
from koabus.services.web.config import settings_from_dict

TOKEN = "k" * 32


def _run(service: WebService, body) -> None:
    async def main() -> None:
        async with TestClient(TestServer(service.make_app(), host="127.0.0.1")) as client:
            await body(client)

    asyncio.run(main())


def test_without_a_token_the_page_and_its_own_assets_are_served():
    async def body(client):
        page = await client.get("/")
        html = await page.text()
        assert page.status == 200 and "/static/app.js" in html and "http" not in html.replace("http-equiv", "")
        for asset in ("/static/app.js", "/static/style.css"):
            assert (await client.get(asset)).status == 200
        assert (await client.get("/static/../config.py")).status in (403, 404)

    _run(WebService(settings_from_dict({})), body)


def test_a_token_guards_everything_but_healthz():
    async def body(client):
        assert (await client.get("/")).status == 401
        assert (await client.get("/api/state")).status == 401
        assert (await client.get("/", params={"key": "wrong" * 8})).status == 401
        assert (await client.get("/healthz")).status == 200
        first = await client.get("/", params={"key": TOKEN})
        assert first.status == 200 and COOKIE in first.cookies
        assert (await client.get("/api/state")).status == 200  # the cookie now
        bearer = await client.session.get(client.make_url("/api/state"), headers={"Authorization": f"Bearer {TOKEN}"},
                                          cookies={})
        assert bearer.status == 200

    _run(WebService(settings_from_dict({}), token=TOKEN), body)


def test_websocket_starts_with_the_full_state_and_refuses_orders_without_trading():
    async def body(client):
        ws = await client.ws_connect("/ws?code=000660")
        first = json.loads((await ws.receive(timeout=5)).data)
        assert first[0]["t"] == "hello" and first[0]["trading"] is False
        assert any(m["t"] == "bars" and m["code"] == "000660" for m in first)
        await ws.send_str(json.dumps({"op": "order", "id": "1", "code": "005930", "side": "buy", "qty": 1,
                                      "price": 86000}))
        for _ in range(20):  # health pushes may come first; bounded
            batch = json.loads((await ws.receive(timeout=5)).data)
            result = next((m for m in batch if m["t"] == "order_result"), None)
            if result is not None:
                break
        assert result["ok"] is False and "disabled" in result["error"]
        await ws.close()
        foreign = await client.get("/ws", headers={"Origin": "http://evil.example", "Upgrade": "websocket",
                                                    "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert foreign.status == 403
        response = await client.post("/api/order", json={"code": "005930", "side": "buy", "qty": 1, "price": 86000})
        assert response.status == 403 and (await response.json())["ok"] is False

    _run(WebService(settings_from_dict({"codes": ["005930", "000660"]})), body)


def test_with_trading_allowed_orders_are_checked_then_need_the_broker():
    service = WebService(settings_from_dict({"codes": ["005930"]}), trading=True)

    async def body(client):
        bad = await client.post("/api/order", json={"code": "999999", "side": "buy", "qty": 1, "price": 1})
        assert bad.status == 400
        cross = await client.post("/api/order", json={"code": "005930", "side": "buy", "qty": 1, "price": 86000},
                                  headers={"Origin": "http://evil.example"})
        assert cross.status == 403
        ok_form = await client.post("/api/order", json={"code": "005930", "side": "buy", "qty": 1, "price": 86000})
        assert (await ok_form.json())["error"] == "no broker"  # past the gate; nothing to send it to here

    _run(service, body)
