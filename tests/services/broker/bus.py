"""A minimal bus client for the broker tests: DEALER + SUB that pump the Qt loop while they wait.

The broker runs in the test's thread (its Qt half) and in its own I/O thread, so every wait here
processes Qt events and is bounded in time; nothing can hang.
"""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Tuple

import zmq
from PyQt5.QtCore import QEventLoop

from koabus.common.protocol import (
    Bye,
    Cancel,
    Hello,
    Ping,
    Publication,
    Request,
    decode_broker,
    encode_client,
)

FINAL = ("REPLY", "END", "ERROR")
#: how long a test waits for a final answer by default: a deadline for a broken broker, not a speed check (a
#: fresh simulator's first condition search builds ~11 years of 321 stocks' history: ~4 s on a 2-core EPYC)
ANSWER_TIMEOUT_S = 15.0


class BusClient:
    """`curve=(server_public, client_public, client_secret)` (Z85 bytes) makes both sockets CURVE clients."""

    def __init__(self, app, router: str, pub: Optional[str] = None, name: str = "test",
                 curve: Optional[Tuple[bytes, bytes, bytes]] = None):
        self.app = app
        self.ctx = zmq.Context.instance()
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.setsockopt(zmq.LINGER, 0)
        _curve_client(self.dealer, curve)
        self.dealer.connect(router)
        self.sub = None
        if pub:
            self.sub = self.ctx.socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            self.sub.setsockopt(zmq.RCVHWM, 0)
            _curve_client(self.sub, curve)
            self.sub.connect(pub)
        self.name = name
        self._rid = 0
        self.inbox: List[Any] = []
        self.pubs: List[Publication] = []

    def close(self) -> None:
        self.dealer.close(0)
        if self.sub is not None:
            self.sub.close(0)

    # -- plumbing --------------------------------------------------------------------------------
    def next_id(self) -> int:
        self._rid += 1
        return self._rid

    def pump(self, seconds: float = 0.05) -> None:
        deadline = time.monotonic() + seconds
        while True:
            self.app.processEvents(QEventLoop.AllEvents, 5)
            self._read()
            if time.monotonic() >= deadline:
                return
            time.sleep(0.0005)

    def _read(self) -> None:
        while self.dealer.poll(0):
            self.inbox.append(decode_broker(self.dealer.recv_multipart()))
        if self.sub is not None:
            while self.sub.poll(0):
                self.pubs.append(Publication.from_frames(self.sub.recv_multipart()))

    def send_raw(self, frames: List[bytes]) -> None:
        self.dealer.send_multipart(frames)

    def wait_for(self, predicate, timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.pump(0.005)
            if predicate():
                return True
        return bool(predicate())

    def messages_for(self, rid: int) -> List[Any]:
        return [m for m in self.inbox if m.request_id == rid]

    def wait_final(self, rid: int, timeout_s: float = ANSWER_TIMEOUT_S) -> List[Any]:
        ok = self.wait_for(lambda: any(m.TYPE in FINAL for m in self.messages_for(rid)), timeout_s)
        msgs = self.messages_for(rid)
        assert ok, f"no final answer to request {rid} within {timeout_s}s; got {msgs}"
        return msgs

    # -- protocol ----------------------------------------------------------------------------------
    def hello(self, timeout_s: float = 5.0):
        rid = self.next_id()
        self.dealer.send_multipart(encode_client(Hello(rid, (1,), self.name, 1000)))
        return self.wait_final_any(rid, timeout_s)

    def wait_final_any(self, rid: int, timeout_s: float):
        ok = self.wait_for(lambda: bool(self.messages_for(rid)), timeout_s)
        assert ok, f"nothing answered request {rid}"
        return self.messages_for(rid)[0]

    def send(self, op: str, args: Optional[Dict[str, Any]] = None, **kw: Any) -> int:
        rid = self.next_id()
        self.dealer.send_multipart(encode_client(Request(rid, op, args or {}, **kw)))
        return rid

    def call(self, op: str, args: Optional[Dict[str, Any]] = None, timeout_s: float = ANSWER_TIMEOUT_S, **kw: Any):
        """Send a request and return (final message, parts)."""
        rid = self.send(op, args, **kw)
        msgs = self.wait_final(rid, timeout_s)
        parts = [m for m in msgs if m.TYPE == "PART"]
        final = [m for m in msgs if m.TYPE in FINAL][0]
        return final, parts

    def result(self, op: str, args: Optional[Dict[str, Any]] = None, timeout_s: float = ANSWER_TIMEOUT_S, **kw: Any):
        final, _ = self.call(op, args, timeout_s, **kw)
        assert final.TYPE == "REPLY", f"{op} failed: {final}"
        return final.result

    def cancel(self, rid: int) -> None:
        self.dealer.send_multipart(encode_client(Cancel(rid)))

    def ping(self) -> int:
        rid = self.next_id()
        self.dealer.send_multipart(encode_client(Ping(rid)))
        return rid

    def bye(self) -> None:
        self.dealer.send_multipart(encode_client(Bye(self.next_id())))

    def subscribe_pub(self, prefix: str) -> None:
        assert self.sub is not None
        self.sub.setsockopt(zmq.SUBSCRIBE, prefix.encode("ascii"))

    def pubs_on(self, prefix: str) -> List[Publication]:
        return [p for p in self.pubs if p.topic.startswith(prefix)]


def _curve_client(socket: zmq.Socket, curve: Optional[Tuple[bytes, bytes, bytes]]) -> None:
    if curve is None:
        return
    server_public, client_public, client_secret = curve
    socket.curve_serverkey = server_public
    socket.curve_publickey = client_public
    socket.curve_secretkey = client_secret
