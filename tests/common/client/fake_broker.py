"""A tiny broker speaking protocol v1 on real loopback sockets, for unit tests of the SDK core.

It runs its ROUTER and PUB in one background thread. Scripted ops: echo, fail, silent, pages (with
`lose`: a PART number never sent, `claim`: a false END.parts), subscribe/unsubscribe (records calls),
snapshot (from its last-value cache), condition_search/condition_watch/condition_stop, and order (the
client_order_id's prefix picks the outcome, see `_order`). The test publishes with `publish()`, skips
sequence numbers with `skip()`, kills it with `stop()` and brings it back on the same ports with a new
epoch with `start()`.
"""
from __future__ import annotations

import collections
import random
import threading
import time
from typing import Any, Deque, Dict, List, Optional, Tuple

import zmq

from koabus.common.errors import DuplicateOrder, InvalidRequest, KiwoomError, RiskRejected
from koabus.common.protocol import (
    Cancel,
    End,
    ErrorReply,
    Hello,
    Part,
    Ping,
    Pong,
    Publication,
    Reply,
    Request,
    Welcome,
    decode_client,
    encode_broker,
)


class FakeBroker:
    def __init__(self, router_port: int, pub_port: int, heartbeat_ms: int = 100,
                 curve_secret: Optional[bytes] = None):
        self.router = f"tcp://127.0.0.1:{router_port}"
        self.pub = f"tcp://127.0.0.1:{pub_port}"
        self.heartbeat_ms = heartbeat_ms
        self.curve_secret = curve_secret
        self.calls: List[Tuple[str, Dict[str, Any]]] = []
        #: topic prefixes subscribed at the PUB (an XPUB, as the broker's), in arrival order
        self.subscriptions: List[str] = []
        #: request ids the client cancelled
        self.cancels: List[int] = []
        #: the topic a condition_watch reply names (the SDK must follow it, not guess)
        self.condition_topic = "cond.{index}"
        self.hellos = 0
        self.cache: Dict[str, Publication] = {}
        self._commands: Deque[Tuple[str, Any]] = collections.deque()
        self._thread: Optional[threading.Thread] = None
        self._running = threading.Event()
        self.epoch = 0

    # ---- control from the test thread ------------------------------------------------------

    def start(self) -> FakeBroker:
        self.epoch = random.getrandbits(62) + 1
        self._seq = 0
        self._topic_seq: Dict[str, int] = {}
        self.cache.clear()
        ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(5), "fake broker did not start"
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(5)
            self._thread = None

    def publish(self, topic: str, body: Dict[str, Any], kind: str = "RT") -> None:
        self._commands.append(("pub", (topic, body, kind)))

    def skip(self, topic: str, count: int = 1) -> None:
        """Consume sequence numbers without sending: the subscriber sees a gap."""
        self._commands.append(("skip", (topic, count)))

    def calls_of(self, op: str) -> List[Dict[str, Any]]:
        return [args for name, args in list(self.calls) if name == op]

    # ---- broker thread ---------------------------------------------------------------------

    def _main(self, ready: threading.Event) -> None:
        ctx = zmq.Context.instance()
        router = ctx.socket(zmq.ROUTER)
        pub = ctx.socket(zmq.XPUB)
        for sock in (router, pub):
            sock.setsockopt(zmq.LINGER, 0)
            if self.curve_secret is not None:
                sock.setsockopt(zmq.CURVE_SERVER, 1)
                sock.setsockopt(zmq.CURVE_SECRETKEY, self.curve_secret)
        for _ in range(100):  # the previous run's port may take a moment to free
            try:
                router.bind(self.router)
                pub.bind(self.pub)
                break
            except zmq.ZMQError:
                time.sleep(0.02)
        ready.set()
        poller = zmq.Poller()
        poller.register(router, zmq.POLLIN)
        poller.register(pub, zmq.POLLIN)
        next_hb = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_hb:
                    self._publish(pub, "sys.hb", {"epoch": self.epoch, "seq": self._seq, "time_ns": time.time_ns(),
                                                  "state": "connected"}, "HB")
                    next_hb = now + self.heartbeat_ms / 1000
                while self._commands:
                    what, data = self._commands.popleft()
                    if what == "pub":
                        self._publish(pub, *data)
                    else:
                        topic, count = data
                        self._seq += count
                        self._topic_seq[topic] = self._topic_seq.get(topic, 0) + count
                for _ in range(100):
                    ready_socks = dict(poller.poll(0 if _ else 5))
                    if not ready_socks:
                        break
                    if pub in ready_socks:
                        self._subscription(pub.recv())
                    if router in ready_socks:
                        frames = router.recv_multipart()
                        self._handle(router, frames[0], frames[1:])
        finally:
            router.close(0)
            pub.close(0)

    def _subscription(self, frame: bytes) -> None:
        if frame[:1] == b"\x01":
            self.subscriptions.append(frame[1:].decode("utf-8", "replace"))

    def _publish(self, pub: zmq.Socket, topic: str, body: Dict[str, Any], kind: str) -> None:
        self._seq += 1
        self._topic_seq[topic] = self._topic_seq.get(topic, 0) + 1
        msg = Publication(topic, kind, self.epoch, self._seq, self._topic_seq[topic], None, time.time_ns(), body)
        if kind != "HB":
            self.cache[topic] = msg
        pub.send_multipart(msg.to_frames())

    def _send(self, router: zmq.Socket, ident: bytes, msg: Any) -> None:
        router.send_multipart([ident] + encode_broker(msg))

    def _handle(self, router: zmq.Socket, ident: bytes, frames: List[bytes]) -> None:
        msg = decode_client(frames)
        if isinstance(msg, Hello):
            self.hellos += 1
            self._send(router, ident, Welcome(msg.request_id, 1, self.epoch, "fake", {"backend": "fake"},
                                              self.heartbeat_ms))
            return
        if isinstance(msg, Ping):
            self._send(router, ident, Pong(msg.request_id, self.epoch, self._seq))
            return
        if isinstance(msg, Cancel):
            self.cancels.append(msg.request_id)
            return
        if not isinstance(msg, Request):
            return
        self.calls.append((msg.op, msg.args))
        rid, args = msg.request_id, msg.args
        if msg.op == "echo":
            self._send(router, ident, Reply(rid, {"args": args, "deadline_ms": msg.deadline_ms}))
        elif msg.op == "fail":
            self._send(router, ident, ErrorReply.from_exception(rid, KiwoomError(-200, "시세조회 과부하")))
        elif msg.op == "pages":
            count = int(args.get("n", 3))
            for n in range(count):
                if n != args.get("lose"):
                    self._send(router, ident, Part(rid, n, {"page": n, "prev_next": "2", "single": {},
                                                            "multi": [{"x": n}]}))
            self._send(router, ident, End(rid, int(args.get("claim", count)), {"done": True}))
        elif msg.op in ("condition_search", "condition_watch"):
            result = {"codes": ["005930", "000660"], "deadline_ms": msg.deadline_ms}
            if msg.op == "condition_watch":
                result["topic"] = self.condition_topic.format(index=args.get("index"))
            self._send(router, ident, Reply(rid, result))
        elif msg.op == "condition_stop":
            self._send(router, ident, Reply(rid, {"stopped": True}))
        elif msg.op == "order":
            self._order(router, ident, rid, args)
        elif msg.op in ("subscribe", "unsubscribe"):
            topics = [f"rt.{t}.{c}" for t in args.get("types", []) for c in args.get("codes", [])]
            self._send(router, ident, Reply(rid, {"topics": topics}))
        elif msg.op == "snapshot":
            prefix = args.get("prefix", "")
            items = [p for t, p in self.cache.items() if t.startswith(prefix)]
            for n, item in enumerate(items):
                self._send(router, ident, Part(rid, n, item.to_dict()))
            self._send(router, ident, End(rid, len(items), {"epoch": self.epoch, "seq": self._seq}))
        # "silent": never answer

    def _order(self, router: zmq.Socket, ident: bytes, rid: int, args: Dict[str, Any]) -> None:
        """The outcome follows the client_order_id's prefix: risk-, dup-, busy-, overload- are refused
        with an ERROR (RiskRejected, DuplicateOrder, InvalidRequest, KiwoomError -308); reject- ends
        rejected with the control's return code -302, rc4027- rejected by the server (a message, no
        code); anything else fills."""
        cid = str(args.get("client_order_id", ""))
        summary = {"client_order_id": cid, "order_no": "", "code": args.get("code"), "qty": args.get("qty"),
                   "filled_qty": 0, "remaining_qty": args.get("qty"), "message": "", "error_code": None,
                   "done": False, "state": "queued"}
        refusals = {"risk-": RiskRejected("quantity 10 exceeds the limit 5", details={"max_qty": 5}),
                    "dup-": DuplicateOrder(f"client_order_id {cid!r} was already used for a different order"),
                    "busy-": InvalidRequest("a request with this idem_key is still in progress"),
                    "overload-": KiwoomError(-308, "주문전송 과부하")}
        for prefix, exc in refusals.items():
            if cid.startswith(prefix):
                self._send(router, ident, ErrorReply.from_exception(rid, exc))
                return
        if cid.startswith("reject-"):
            events = [{"event": "rejected", **summary, "state": "failed", "code": -302,
                       "message": "someone else's account used", "error_code": -302}]
            final = {**summary, "state": "failed", "error_code": -302, "message": "someone else's account used"}
        elif cid.startswith("rc4027-"):
            sent = {**summary, "state": "sent"}
            message = "[RC4027] 모의투자 상/하한가 오류입니다."
            events = [{"event": "sent", **sent}, {"event": "message", **sent, "message": message},
                      {"event": "rejected", **sent, "state": "rejected", "message": message}]
            final = {**summary, "state": "rejected", "message": message}
        else:
            filled = {**summary, "order_no": "0000001", "filled_qty": args.get("qty"), "remaining_qty": 0,
                      "state": "filled", "avg_fill_price": 70000}
            events = [{"event": "sent", **summary, "state": "sent"}, {"event": "fill", **filled}]
            final = filled
        final = {**final, "done": True}
        events.append({"event": "done", **final})
        for n, event in enumerate(events):
            self._send(router, ident, Part(rid, n, event))
        self._send(router, ident, End(rid, len(events), final))
