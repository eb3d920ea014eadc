"""The web process: aiohttp serving one page and a WebSocket, fed from the bus by the sans-I/O Dashboard.

One asyncio loop owns everything: the HTTP server, the SDK client of the broker (realtime trade and
book streams with snapshot, so a page fills at once; `ch.` and `sys.` publications), one SUB on the
other services' PUBs (`bar.<interval>.` from the bars service, `alert.` from alerting, `sys.hb` from
all), and one sender task per browser that drains that browser's bounded, coalescing `Outbox`.

Security: bound off loopback the page, the socket and the API need the token (`?key=` once, then an
HttpOnly cookie, or `Authorization: Bearer`); orders go out only when `trading` was allowed at start
(config.trading_allowed: trading: true and a key with the trade role), otherwise refused here.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

import zmq
import zmq.asyncio
from aiohttp import WSMsgType, web

from koabus.common.errors import KoabusError
from koabus.common.heartbeat import Identity, ServiceBeat, service_of
from koabus.common.protocol import Publication
from koabus.services.skeleton.connect import client_options, close_client, connect_until_stopped
from koabus.services.skeleton.runner import run_until_stopped
from koabus.services.skeleton.status import StatusPublisher
from koabus.services.skeleton.tasks import BackgroundTasks

from .bridge import Dashboard, Message, Outbox, history_rows, interval_seconds
from .config import SERVICE, WebSettings

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "koabus_web"
#: browser -> server messages larger than this are refused (ops are tiny)
MAX_WS_MESSAGE = 4096
SIDES = ("buy", "sell")


class Browser:
    """One open page: its WebSocket, its outbox and the code it shows."""

    def __init__(self, ws: web.WebSocketResponse, max_pending: int, selected: str):
        self.ws = ws
        self.outbox = Outbox(max_pending)
        self.wake = asyncio.Event()
        self.selected = selected
        self.sent = 0

    def wants(self, message: Message) -> bool:
        if message.get("t") in ("book", "bar", "bars"):
            return message.get("code") == self.selected
        return True

    def push(self, message: Message) -> None:
        if self.wants(message):
            self.outbox.put(message)
            self.wake.set()


class WebService:
    """A running dashboard. `await run(stop)` until `stop` is set; returns the exit code."""

    def __init__(self, settings: WebSettings, token: str = "", trading: bool = False, clock: Any = time.monotonic):
        self.settings = settings
        self.token = token
        self.trading = trading
        self.clock = clock
        self.dashboard = Dashboard(settings.codes, settings.interval, settings.max_bars, trading,
                                   settings.stale_after_s)
        self.browsers: Set[Browser] = set()
        self.client: Any = None
        self.port: Optional[int] = None
        self._history_loaded: Set[str] = set()
        self._history_lock: Optional[asyncio.Lock] = None
        self.tasks = BackgroundTasks("web", log)
        self._streams: List[Any] = []

    # ---- fan-out ---------------------------------------------------------------------------------

    def broadcast(self, messages: List[Message]) -> None:
        for message in messages:
            for browser in list(self.browsers):
                browser.push(message)

    # ---- HTTP ------------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=64 * 1024)
        app.router.add_get("/", self.index)
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/api/state", self.api_state)
        app.router.add_post("/api/order", self.api_order)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_static("/static/", STATIC, show_index=False, follow_symlinks=False)
        return app

    def _authorized(self, request: web.Request) -> bool:
        if not self.token:
            return True
        given = [request.cookies.get(COOKIE, ""), request.query.get("key", "")]
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given.append(header[len("Bearer "):])
        return any(g and hmac.compare_digest(g.encode(), self.token.encode()) for g in given)

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == "/healthz":
            return await handler(request)
        if not self._authorized(request):
            return web.Response(status=401, text="koabus web: this dashboard needs its key (?key=...)\n")
        response = await handler(request)
        if self.token and request.query.get("key") and not request.cookies.get(COOKIE):
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="Strict")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
        return response

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"service": "web", "link": self.dashboard.link, "browsers": len(self.browsers)})

    async def api_state(self, request: web.Request) -> web.Response:
        code = request.query.get("code") or None
        return web.json_response(self.dashboard.full_state(self.clock(), code), dumps=_dumps)

    async def api_order(self, request: web.Request) -> web.Response:
        if not _same_origin(request):
            return web.json_response({"ok": False, "error": "cross-site order refused"}, status=403)
        try:
            op = await request.json()
        except (ValueError, UnicodeDecodeError):
            return web.json_response({"ok": False, "error": "send a JSON object"}, status=400)
        result = await self.order(op if isinstance(op, dict) else {})
        return web.json_response(result, status=200 if result.get("ok") else 403 if not self.trading else 400)

    # ---- WebSocket ---------------------------------------------------------------------------------

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):  # another site's page must not read the bus (or send orders) via us
            return web.Response(status=403, text="koabus web: cross-site WebSocket refused\n")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_WS_MESSAGE)
        await ws.prepare(request)
        code = request.query.get("code")
        browser = Browser(ws, self.settings.max_pending, code if code in self.settings.codes else self.settings.codes[0])
        browser.outbox.resync = True  # the first thing a page gets is the full state
        browser.wake.set()
        self.browsers.add(browser)
        sender = asyncio.ensure_future(self._send_loop(browser))
        self._spawn(self._ensure_history(browser.selected))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    op = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(op, dict):
                    await self._on_op(browser, op)
        finally:
            self.browsers.discard(browser)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _on_op(self, browser: Browser, op: Dict[str, Any]) -> None:
        if op.get("op") == "select" and op.get("code") in self.settings.codes:
            browser.selected = op["code"]
            browser.push(self.dashboard.bars_message(browser.selected))
            book = self.dashboard.books.get(browser.selected)
            if book is not None:
                browser.push(dict(book))
            self._spawn(self._ensure_history(browser.selected))
        elif op.get("op") == "order":
            result = await self.order(op)
            browser.outbox.put({"t": "order_result", "k": f"order_result:{op.get('id', '')}", **result})
            browser.wake.set()

    async def _send_loop(self, browser: Browser) -> None:
        """Drain the browser's outbox into one JSON array per wake-up; a slow socket just coalesces."""
        try:
            while not browser.ws.closed:
                await browser.wake.wait()
                browser.wake.clear()
                resync, messages = browser.outbox.take()
                if resync:
                    messages = self.dashboard.full_state(self.clock(), browser.selected)
                if not messages:
                    continue
                await browser.ws.send_str(_dumps(messages))
                browser.sent += len(messages)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass

    # ---- orders --------------------------------------------------------------------------------------

    async def order(self, op: Dict[str, Any]) -> Dict[str, Any]:
        """Send one order to the broker, only when trading was allowed at start; never raises."""
        if not self.trading:
            return {"ok": False, "error": "orders are disabled: start with trading: true and a trade-role key"}
        code, side = op.get("code"), op.get("side")
        qty, price = op.get("qty"), op.get("price")
        if code not in self.settings.codes or side not in SIDES or not isinstance(qty, int) or qty <= 0 \
                or not isinstance(price, int) or price <= 0:
            return {"ok": False, "error": "an order is {code (on the watchlist), side buy|sell, qty > 0, price > 0}"}
        if self.client is None:
            return {"ok": False, "error": "no broker"}
        try:
            account = self.settings.account or (await self.client.accounts())[0]
            handle = await self.client.order(account, side, code, qty, price)
        except (KoabusError, IndexError) as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "client_order_id": handle.client_order_id}

    # ---- the bus -------------------------------------------------------------------------------------

    async def _connect(self, stop: asyncio.Event) -> None:
        """Connect to the broker (retrying while there is none), then open the streams."""
        from koabus.common.client.streams import TopicStream

        s = self.settings
        self.client = await connect_until_stopped(
            client_options(s, max_stream_queue=10_000), stop, log,
            on_retry=lambda _exc: self.broadcast(self.dashboard.set_link("down")))
        if self.client is None:
            return
        self.client.on_state(lambda ev: self.broadcast(self.dashboard.set_link(ev.state or "?")))
        self.client.on_epoch_change(lambda ev: self.broadcast(self.dashboard.set_link(self.client.state,
                                                                                         ev.new_epoch)))
        self.broadcast(self.dashboard.set_link(self.client.state, self.client.epoch))
        try:
            names = await self.client.names(list(s.codes))
            self.broadcast(self.dashboard.set_names(dict(zip(s.codes, names))))
        except KoabusError as exc:
            log.warning("stock names not loaded: %s", exc)
        bus = TopicStream(self.client.connection, prefixes=("ch.", "sys."), snapshot=False)
        bus.add_callback(self.on_publication, iterate=False)
        self._streams.append(bus)
        await bus.start()
        realtime = self.client.realtime(list(s.codes), ["trade", "book"], snapshot=True)
        realtime.add_callback(self.on_realtime, iterate=False)
        self._streams.append(realtime)
        await realtime.start()
        log.info("web: streaming %d code(s) from %s", len(s.codes), s.pub)
        for code in s.codes[:1]:
            await self._ensure_history(code)

    def on_realtime(self, event: Any) -> None:
        slug = event.topic.split(".")[1] if event.topic.count(".") >= 2 else ""
        if slug == "trade":
            self.broadcast(self.dashboard.on_trade(event.code, event.values, event.event_time))
        elif slug == "book":
            self.broadcast(self.dashboard.on_book(event.code, event.values, event.event_time))

    def on_publication(self, pub: Publication) -> None:
        """Broker `ch.`/`sys.` and the other services' `bar.`/`alert.`/`sys.hb.` publications."""
        from koabus.common.client.events import ns_to_kst

        topic = pub.topic
        if topic.startswith("ch."):
            self.broadcast(self.dashboard.on_chejan(pub.body, ns_to_kst(pub.event_ns or pub.recv_ns)))
        elif topic.startswith("bar."):
            self.broadcast(self.dashboard.on_bar(pub.body, self.clock()))
        elif topic.startswith("alert."):
            self.broadcast(self.dashboard.on_alert(pub.body, pub.event_ns or pub.recv_ns))
        elif topic == "sys.status":
            self.dashboard.on_status(pub.body)
        else:
            service = service_of(topic)
            if service is not None:
                self.dashboard.on_heartbeat(service, pub.body, self.clock())

    async def _ensure_history(self, code: str) -> None:
        """The chart's history of `code` from the minute TR, once per code (live bars then extend it)."""
        if self._history_lock is None or self.client is None or code in self._history_loaded:
            return
        unit = self.settings.interval[-1]
        if unit != "m":
            return
        async with self._history_lock:
            if code in self._history_loaded:
                return
            rows = await self._lake_history(code) if self.settings.history == "lake" else []
            if not rows:
                try:
                    frame = await self.client.minute(code, interval_seconds(self.settings.interval) // 60)
                except KoabusError as exc:
                    log.warning("no minute history for %s: %s", code, exc)
                    return
                rows = history_rows(frame, self.settings.max_bars)
            self._history_loaded.add(code)
            self.broadcast(self.dashboard.set_history(code, rows))

    async def _lake_history(self, code: str) -> List[Any]:
        """Today's bars of `code` resampled from the recorded ticks (the broker's clock says which day)."""
        from datetime import datetime

        from koabus.common.clock import KST

        now_s = self.dashboard.clock_s if self.dashboard.clock_s is not None else time.time()
        day = datetime.fromtimestamp(now_s, KST).strftime("%Y-%m-%d")
        minutes = interval_seconds(self.settings.interval) // 60

        def read() -> List[Any]:
            from koabus.common.lake.query import Lake

            with Lake(self.settings.lake_root) as lake:
                return history_rows(lake.bars(code, day, f"{minutes} minutes"), self.settings.max_bars)

        try:
            return await asyncio.get_event_loop().run_in_executor(None, read)
        except Exception as exc:  # an unreadable lake: the TR still draws the chart
            log.warning("no lake history for %s on %s (%s): using the minute TR", code, day, exc)
            return []

    async def _watch_services(self, sub: Any) -> None:
        while True:
            frames = await sub.recv_multipart()
            try:
                pub = Publication.from_frames(frames)
            except KoabusError:
                continue
            self.on_publication(pub)

    async def _beat_loop(self, publisher: StatusPublisher, stop: asyncio.Event) -> None:
        while not stop.is_set():
            link = self.dashboard.link
            if link != "ready":
                publisher.heartbeat.error(f"broker link {link}")
            elif (publisher.heartbeat.last_error or "").startswith("broker link"):
                publisher.heartbeat.last_error = None  # the link came back: not an error any more
            publisher.beat("running" if link == "ready" else "degraded", browsers=len(self.browsers),
                              trading=self.trading, url=f"http://{self.settings.host}:{self.port}/")
            try:
                await asyncio.wait_for(stop.wait(), self.settings.heartbeat_ms / 1000.0)
            except asyncio.TimeoutError:
                pass

    async def _health_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.client is not None and self.client.state == "ready":
                try:
                    self.dashboard.on_status(await self.client.request("status", timeout_s=2.0))
                except KoabusError:
                    pass
            self.broadcast([self.dashboard.health_message(self.clock())])
            try:
                await asyncio.wait_for(stop.wait(), self.settings.health_interval_s)
            except asyncio.TimeoutError:
                pass

    # ---- run -----------------------------------------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        self.tasks.spawn(coro)

    async def run(self, stop: asyncio.Event, ready: Optional[asyncio.Event] = None) -> int:
        s = self.settings
        self._history_lock = asyncio.Lock()
        ctx = zmq.asyncio.Context.instance()
        sub = ctx.socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 10_000)
        for prefix in ("sys.hb", f"bar.{s.interval}.", "alert."):
            sub.setsockopt(zmq.SUBSCRIBE, prefix.encode("ascii"))
        for endpoint in dict.fromkeys((s.bars, s.alerts) + tuple(s.services)):
            if endpoint != s.status:
                sub.connect(endpoint)
        publisher = StatusPublisher.bind(ctx, s.status, SERVICE, s.name, ServiceBeat(Identity.here(SERVICE),
                                                                                     s.heartbeat_ms))
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, s.host, s.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []  # the real port when port 0 was asked
        self.port = sockets[0].getsockname()[1] if sockets else s.port
        print(f"koabus web: dashboard at http://{s.host}:{self.port}/ (trading {'ON' if self.trading else 'off'})",
              flush=True)
        self._spawn(self._watch_services(sub))
        self._spawn(self._connect(stop))
        self._spawn(self._health_loop(stop))
        self._spawn(self._beat_loop(publisher, stop))
        if ready is not None:
            ready.set()
        try:
            await stop.wait()
        finally:
            log.info("web stopping: %d browser(s)", len(self.browsers))
            for browser in list(self.browsers):
                await browser.ws.close()
            await self.tasks.cancel_all()
            for stream in self._streams:
                try:
                    await asyncio.wait_for(stream.close(), 2.0)
                except (asyncio.TimeoutError, KoabusError):
                    pass
            await close_client(self.client)
            await runner.cleanup()
            publisher.beat("stopped", browsers=0, trading=self.trading)
            publisher.close()
            sub.close(0)
            log.info("web stopped")
        return 0


def _same_origin(request: web.Request) -> bool:
    """No Origin (not a browser page) or this very server's: a page elsewhere cannot drive the dashboard."""
    origin = request.headers.get("Origin")
    return origin is None or origin == f"{request.scheme}://{request.host}"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def run(settings: WebSettings, token: str = "", trading: bool = False) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code."""
    return run_until_stopped(lambda stop, _reload: WebService(settings, token, trading).run(stop))
