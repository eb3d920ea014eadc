"""The relay's publication path: ZeroMQ's own proxy between an XSUB (upstream) and an XPUB (downstream).

`zmq.proxy_steerable` copies publications down and subscriptions up in C, untouched: a consumer behind
the relay gets the broker's frames byte for byte (same epoch, seq, topic_seq), and a topic nobody
behind the relay subscribes to never leaves the broker for the relay. The XSUB keeps the set of
forwarded subscriptions and sends it again whenever its upstream connection is made anew (a broker
restart). The thread owns its three sockets; the request thread steers it over an inproc PAIR
(`STATISTICS`, `TERMINATE`).
"""
from __future__ import annotations

import logging
import struct
import threading
from typing import Dict, Optional

import zmq

from .config import RelaySettings

log = logging.getLogger(__name__)

#: the counters libzmq answers `STATISTICS` with, in its order (8 frames of uint64); libzmq counts
#: frames, not messages: a publication is 3 frames
STAT_NAMES = ("upstream_frames_in", "upstream_bytes_in", "upstream_frames_out", "upstream_bytes_out",
              "downstream_frames_in", "downstream_bytes_in", "downstream_frames_out", "downstream_bytes_out")


def apply_curve_server(socket: zmq.Socket, public_key: str, secret_key: str) -> None:
    if public_key:
        socket.curve_server = True
        socket.curve_secretkey = secret_key.encode("ascii")
        socket.curve_publickey = public_key.encode("ascii")


def apply_curve_client(socket: zmq.Socket, server_key: str, public_key: str, secret_key: str) -> None:
    if server_key:
        socket.curve_serverkey = server_key.encode("ascii")
        socket.curve_publickey = public_key.encode("ascii")
        socket.curve_secretkey = secret_key.encode("ascii")


class PubProxy(threading.Thread):
    """Run with `start()`; `ready` is set once the XPUB is bound (or `error` is set)."""

    def __init__(self, settings: RelaySettings, context: zmq.Context, control_endpoint: str):
        super().__init__(name="koabus-relay-pub", daemon=True)
        self.settings = settings
        self.context = context
        self.control_endpoint = control_endpoint
        self.ready = threading.Event()
        self.error: Optional[BaseException] = None
        self.pub_endpoint = ""

    def run(self) -> None:
        up, down = self.settings.upstream, self.settings.downstream
        sockets = []
        try:
            xsub = self.context.socket(zmq.XSUB)
            sockets.append(xsub)
            xpub = self.context.socket(zmq.XPUB)
            sockets.append(xpub)
            control = self.context.socket(zmq.PAIR)
            sockets.append(control)
            for s in sockets:
                s.setsockopt(zmq.LINGER, 0)
            xsub.setsockopt(zmq.RCVHWM, self.settings.pub_hwm)
            xpub.setsockopt(zmq.SNDHWM, self.settings.pub_hwm)  # a slow consumer drops and sees the gap
            apply_curve_client(xsub, up.server_key, up.public_key, up.secret_key)
            apply_curve_server(xpub, down.public_key, down.secret_key)
            control.bind(self.control_endpoint)
            xpub.bind(down.pub)
            xsub.connect(up.pub)
            self.pub_endpoint = xpub.getsockopt_string(zmq.LAST_ENDPOINT)
        except BaseException as exc:  # a bind failure: reported to the starter
            self.error = exc
            for s in sockets:
                s.close(0)
            self.ready.set()
            return
        self.ready.set()
        log.info("relaying publications %s -> %s", up.pub, self.pub_endpoint)
        try:
            zmq.proxy_steerable(xsub, xpub, None, control)
        except zmq.ZMQError as exc:  # the context was terminated under it
            log.info("publication proxy ended: %s", exc)
        finally:
            for s in sockets:
                s.close(0)


def ask_statistics(control: zmq.Socket, timeout_ms: int = 200) -> Optional[Dict[str, int]]:
    """The proxy's counters over its control PAIR, or None if it does not answer in time."""
    try:
        control.send(b"STATISTICS", zmq.NOBLOCK)
    except zmq.Again:
        return None
    if not control.poll(timeout_ms):
        return None
    frames = control.recv_multipart()
    if len(frames) != len(STAT_NAMES):
        return None
    return {name: struct.unpack("=Q", frame)[0] for name, frame in zip(STAT_NAMES, frames)}
