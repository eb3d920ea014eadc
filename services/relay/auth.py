"""Who may connect to the relay's downstream sockets: a ZAP handler (RFC 27) over a list of client keys.

pyzmq's own authenticator runs in its thread on the relay's context (a ZAP handler serves one context:
the relay never shares the broker's). A key not on the list never completes its CURVE handshake: no
request reaches the broker and no publication leaves the relay for it.
"""
from __future__ import annotations

import logging
from typing import FrozenSet, Iterable

import zmq
from zmq.auth.thread import ThreadAuthenticator

log = logging.getLogger(__name__)


class _AllowedKeys:
    """pyzmq's credentials provider: `callback(domain, z85_key)` says yes for listed keys only."""

    def __init__(self, keys: Iterable[str]):
        self.keys: FrozenSet[bytes] = frozenset(k.encode("ascii") for k in keys)

    def callback(self, domain: str, key: bytes) -> bool:
        allowed = key in self.keys
        if not allowed:  # the public key's first characters only: enough to find it, nothing secret
            log.warning("relay refused a connection with an unknown client key %s...", key[:8].decode("ascii", "replace"))
        return allowed


class KeyGate:
    """Started on creation; `stop()` ends the authenticator thread."""

    def __init__(self, context: zmq.Context, client_keys: Iterable[str]):
        self._auth = ThreadAuthenticator(context, log=logging.getLogger(__name__ + ".zap"))
        self._auth.start()
        self._auth.configure_curve_callback(domain="*", credentials_provider=_AllowedKeys(client_keys))

    def stop(self) -> None:
        self._auth.stop()
