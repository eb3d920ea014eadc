"""The relay's request path and its own heartbeat: one thread owning the downstream ROUTER, one upstream
DEALER per downstream client, the status PUB and the proxy's control PAIR.

A downstream message goes up on its client's DEALER, and an upstream answer comes down to that client,
frames untouched: `snapshot` (and a gap repair, which is a snapshot), `HELLO`, TRs, everything keeps the
broker's request ids, epoch and sequence numbers. The ROUTER follows the broker's identity rules: an
identity in use is never handed to another connection, a reply to a client that is gone or whose queue
is full is dropped and counted, never blocks the relay.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Dict, Optional

import zmq

from koabus.common.errors import KoabusError, Unavailable
from koabus.common.protocol import Bye, encode_client
from koabus.common.protocol.constants import TRANSPORT_MAX_BYTES
from koabus.services.broker.clients import fingerprint, seed_routing_ids

from .config import RelaySettings
from .core import ClientTable, Route, StatusFeed, refusal_frames
from .proxy import apply_curve_client, apply_curve_server, ask_statistics

log = logging.getLogger(__name__)

#: messages moved per socket per loop turn, so one busy client never starves the others or the beat
BATCH = 256


class RelayServer(threading.Thread):
    """Run with `start()`; `ready` is set once ROUTER and status PUB are bound (or `error` is set)."""

    def __init__(self, settings: RelaySettings, context: zmq.Context, proxy_control: str,
                 stop_endpoint: str, feed: Optional[StatusFeed] = None):
        super().__init__(name="koabus-relay-io", daemon=True)
        self.settings = settings
        self.context = context
        self.proxy_control = proxy_control
        self.stop_endpoint = stop_endpoint
        self.feed = feed or StatusFeed(settings.name, settings.heartbeat_ms)
        self.table = ClientTable(settings.max_clients, settings.client_idle_s)
        self.counters: Counter = Counter()
        self.proxy_stats: Dict[str, int] = {}
        self.ready = threading.Event()
        self.error: Optional[BaseException] = None
        self.router_endpoint = ""
        self.status_endpoint = ""
        #: the proxy's bound XPUB endpoint, shown in status (set by the starter)
        self.pub_endpoint = settings.downstream.pub
        self._dealers: Dict[bytes, zmq.Socket] = {}

    # -- lifecycle ---------------------------------------------------------------------------------
    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the proxy and this thread; every socket is closed with linger 0."""
        if not self.is_alive():
            return
        push = self.context.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 0)
        push.connect(self.stop_endpoint)
        try:
            push.send(b"stop", zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        finally:
            push.close(0)
        self.join(timeout_s)

    def run(self) -> None:
        down = self.settings.downstream
        sockets = []
        steering = False  # the control PAIR reaches the proxy
        try:
            seed_routing_ids()  # ids ZeroMQ makes for peers that set none: not guessable
            router = self.context.socket(zmq.ROUTER)
            sockets.append(router)
            status = self.context.socket(zmq.PUB)
            sockets.append(status)
            control = self.context.socket(zmq.PAIR)
            sockets.append(control)
            stop = self.context.socket(zmq.PULL)
            sockets.append(stop)
            for s in sockets:
                s.setsockopt(zmq.LINGER, 0)
            router.setsockopt(zmq.MAXMSGSIZE, TRANSPORT_MAX_BYTES)
            router.setsockopt(zmq.ROUTER_HANDOVER, 0)
            router.setsockopt(zmq.ROUTER_MANDATORY, 1)
            router.setsockopt(zmq.SNDHWM, self.settings.router_hwm)
            for s in (router, status):
                apply_curve_server(s, down.public_key, down.secret_key)
            stop.bind(self.stop_endpoint)
            control.connect(self.proxy_control)
            steering = True
            router.bind(down.router)
            status.bind(down.status)
            self.router_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
            self.status_endpoint = status.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:
            self.error = exc
            if steering:  # the proxy is running: end it
                _terminate(control)
            for s in sockets:
                s.close(0)
            self.ready.set()
            return
        self.ready.set()
        log.info("relaying requests %s -> %s; status on %s", self.router_endpoint,
                 self.settings.upstream.router, self.status_endpoint)
        try:
            self._loop(router, status, control, stop)
        except BaseException as exc:  # pragma: no cover - logged, then the sockets are closed
            log.exception("relay I/O loop failed")
            self.error = exc
        finally:
            _terminate(control)
            for dealer in self._dealers.values():
                dealer.close(0)
            self._dealers.clear()
            for s in sockets:
                s.close(0)

    # -- the loop ----------------------------------------------------------------------------------
    def _loop(self, router: zmq.Socket, status: zmq.Socket, control: zmq.Socket, stop: zmq.Socket) -> None:
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(stop, zmq.POLLIN)
        self._poller = poller
        interval_s = self.settings.heartbeat_ms / 1000.0
        next_beat = time.monotonic()
        while True:
            timeout_ms = max(0, int((next_beat - time.monotonic()) * 1000))
            ready = dict(poller.poll(timeout_ms))
            if stop in ready:
                log.info("relay stopping")
                return
            if router in ready:
                self._from_downstream(router)
            for upstream_id, dealer in list(self._dealers.items()):
                if dealer in ready:
                    self._from_upstream(router, upstream_id, dealer)
            now = time.monotonic()
            if now >= next_beat:
                self._beat(status, control, now)
                next_beat = now + interval_s

    def _from_downstream(self, router: zmq.Socket) -> None:
        for _ in range(BATCH):
            try:
                frames = router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            identity, rest = frames[0], frames[1:]
            try:
                route, fresh = self.table.route_in(identity, rest, time.monotonic())
            except KoabusError as exc:
                self.counters["clients_refused"] += 1
                self._down(router, refusal_frames(identity, rest, exc))
                continue
            dealer = self._dealers.get(route.upstream_id) if not fresh else self._open(route)
            try:
                dealer.send_multipart(rest, zmq.NOBLOCK)
                self.counters["requests"] += 1
            except zmq.Again:  # the upstream queue is full (the broker is not reading)
                self.counters["requests_refused"] += 1
                self._down(router, refusal_frames(identity, rest, Unavailable(
                    "the relay cannot reach its upstream now; retry later")))

    def _from_upstream(self, router: zmq.Socket, upstream_id: bytes, dealer: zmq.Socket) -> None:
        for _ in range(BATCH):
            try:
                frames = dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            route = self.table.route_out(upstream_id, time.monotonic())
            if route is None:
                self.counters["replies_orphaned"] += 1
                continue
            if self._down(router, [route.identity, *frames]):
                self.counters["replies"] += 1

    def _down(self, router: zmq.Socket, frames) -> bool:
        try:
            router.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.Again:  # the client's queue is full: it is not reading
            self.counters["replies_dropped"] += 1
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.counters["replies_undeliverable"] += 1  # the client is gone
        return False

    def _open(self, route: Route) -> zmq.Socket:
        """A DEALER to the upstream ROUTER that speaks for one downstream client."""
        up = self.settings.upstream
        dealer = self.context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.setsockopt(zmq.ROUTING_ID, route.upstream_id)
        dealer.setsockopt(zmq.MAXMSGSIZE, TRANSPORT_MAX_BYTES)
        apply_curve_client(dealer, up.server_key, up.public_key, up.secret_key)
        dealer.connect(up.router)
        self._dealers[route.upstream_id] = dealer
        self._poller.register(dealer, zmq.POLLIN)
        self.counters["clients_seen"] += 1
        log.debug("client %s speaks upstream as %s", fingerprint(route.identity), fingerprint(route.upstream_id))
        return dealer

    def _close(self, route: Route) -> None:
        """Forget an idle client: say BYE for it (its broker session ends at once), close its DEALER."""
        dealer = self._dealers.pop(route.upstream_id, None)
        if dealer is None:
            return
        self._poller.unregister(dealer)
        if not route.said_bye:
            try:
                dealer.send_multipart(encode_client(Bye(0)), zmq.NOBLOCK)
            except zmq.ZMQError:
                pass
        dealer.close(linger=100)  # long enough for the BYE to leave
        self.counters["clients_expired"] += 1

    def _beat(self, status: zmq.Socket, control: zmq.Socket, now: float) -> None:
        for route in self.table.expire(now):
            self._close(route)
        stats = ask_statistics(control)
        if stats is not None:
            self.proxy_stats = stats
        for frames in self.feed.tick("running", self.status()):
            try:
                status.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:  # pragma: no cover - PUB drops rather than blocks
                pass

    def status(self) -> Dict[str, Any]:
        """What the relay publishes on `sys.status.relay` (no secrets: keys are never shown)."""
        up, down = self.settings.upstream, self.settings.downstream
        return {
            "clients": len(self.table),
            "upstream": {"router": up.router, "pub": up.pub, "curve": up.curve},
            "downstream": {"router": self.router_endpoint, "pub": self.pub_endpoint, "curve": down.curve},
            "counters": dict(self.counters),
            "publications": dict(self.proxy_stats),
        }


def _terminate(control: zmq.Socket) -> None:
    """Tell the proxy to end; the PAIR lingers briefly so the word is not dropped with the socket."""
    control.setsockopt(zmq.LINGER, 1000)
    try:
        control.send(b"TERMINATE", zmq.NOBLOCK)
    except zmq.ZMQError:
        pass
