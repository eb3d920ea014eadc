"""The relay process: the publication proxy thread and the request thread, started and stopped in order."""
from __future__ import annotations

import logging
import secrets
import signal
import threading
from typing import Any, Dict, Optional

import zmq

from .auth import KeyGate
from .config import RelaySettings, SettingsError
from .proxy import PubProxy
from .server import RelayServer

log = logging.getLogger(__name__)


class Relay:
    """A running relay: `start()` binds everything or raises, `stop()` closes everything."""

    def __init__(self, settings: RelaySettings, context: Optional[zmq.Context] = None):
        self.settings = settings
        # its own context by default: a ZAP handler is per context, and a broker in the same process
        # (tests, one-box setups) has its own on the global one
        self._owns_context = context is None
        self.context = context or zmq.Context()
        self.auth: Optional[KeyGate] = None
        tag = secrets.token_hex(6)
        self.proxy = PubProxy(settings, self.context, f"inproc://koabus-relay-{tag}.proxy")
        self.server = RelayServer(settings, self.context, self.proxy.control_endpoint,
                                  f"inproc://koabus-relay-{tag}.stop")

    @property
    def router_endpoint(self) -> str:
        return self.server.router_endpoint

    @property
    def pub_endpoint(self) -> str:
        return self.proxy.pub_endpoint

    @property
    def status_endpoint(self) -> str:
        return self.server.status_endpoint

    def start(self, timeout_s: float = 10.0) -> None:
        """Bind and connect; a bind failure stops what started and raises SettingsError (one line)."""
        down = self.settings.downstream
        if down.curve:
            if down.client_keys:
                self.auth = KeyGate(self.context, down.client_keys)
            else:
                log.warning("relay %s: CURVE on but downstream.client_keys is empty: ANY client key pair "
                            "is accepted; list the consumers' public keys", self.settings.name)
        self.proxy.start()
        self.proxy.ready.wait(timeout_s)
        if self.proxy.error is not None:
            self._close_context()
            raise SettingsError(f"cannot bind downstream.pub {self.settings.downstream.pub}: {self.proxy.error}")
        self.server.pub_endpoint = self.proxy.pub_endpoint
        self.server.start()
        self.server.ready.wait(timeout_s)
        if self.server.error is not None:
            error = self.server.error
            if not self._owns_context:
                self._terminate_proxy()
            self._close_context()
            raise SettingsError(f"cannot bind downstream.router/status: {error}")
        log.info("relay %s up: requests %s, publications %s, status %s", self.settings.name,
                 self.router_endpoint, self.pub_endpoint, self.status_endpoint)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop intake and close every socket (the request thread terminates the proxy on its way out)."""
        if self.server.is_alive():
            self.server.stop(timeout_s)
        self.proxy.join(0.5)
        if self.proxy.is_alive() and not self._owns_context:
            self._terminate_proxy()
        self._close_context(timeout_s)

    def _close_context(self, timeout_s: float = 5.0) -> None:
        """Stop the authenticator and end the relay's own context. Terminating the context also ends a
        proxy that missed its TERMINATE (libzmq 4.3's steerable proxy sometimes does): it returns with
        ETERM and closes its sockets. Bounded: a context that will not end is left to the process exit."""
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
        if not self._owns_context or self.server.is_alive():
            return
        ender = threading.Thread(target=self.context.term, name="koabus-relay-term", daemon=True)
        ender.start()
        ender.join(timeout_s)
        self.proxy.join(timeout_s)
        if self.proxy.is_alive() or ender.is_alive():
            log.warning("the relay's publication proxy did not stop within %.1f s", timeout_s)

    def status(self) -> Dict[str, Any]:
        return self.server.status()

    def _terminate_proxy(self) -> None:
        """End the proxy when the request thread could not: a few bounded tries over a new PAIR."""
        for _ in range(5):
            self.proxy.join(0.5)
            if not self.proxy.is_alive():
                return
            control = self.context.socket(zmq.PAIR)
            control.setsockopt(zmq.LINGER, 0)
            try:
                control.connect(self.proxy.control_endpoint)
                control.send(b"TERMINATE", zmq.NOBLOCK)
                self.proxy.join(0.5)
            except zmq.ZMQError:
                pass
            finally:
                control.close(0)
        log.warning("the publication proxy did not stop")


def run(settings: RelaySettings) -> int:
    """Run until SIGINT or SIGTERM; returns the exit code."""
    relay = Relay(settings)
    relay.start()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            if not relay.server.is_alive():
                log.error("the relay's I/O thread ended: %s", relay.server.error)
                return 1
    finally:
        relay.stop()
    return 0
