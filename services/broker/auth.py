"""Access control: who may connect (ZAP, RFC 27, over the allow-list) and which ops a key may run.

`AllowList` is the keys directory's allow.json as the broker sees it, re-read whenever the file
changes (checked at every ZAP request and a few times a second), so a revoked key is refused from
its next connection on and its open connections get `Forbidden` from their next request on.
`ZapHandler` answers ZAP requests on a REP socket the I/O thread owns (no socket crosses threads):
a CURVE key on the list is accepted with its name as the ZAP User-Id, which the ROUTER reads back
from every request's frames; any other key is refused and the connection never completes.
`Authority` turns a User-Id and an op into "allowed" or a `Forbidden` error, logged with the key's
name and rate-limited. No secret is ever logged: public keys are shown by their first 8 characters.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Dict, Optional, Tuple

import zmq
from zmq.utils import z85

from koabus.common import keys as keyfiles
from koabus.common.errors import Forbidden

from .config import CurveSettings, SettingsError
from .requests import ROLE_OF

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_VERSION = b"1.0"
#: one log line per key (or refused key) per this many seconds; the rest are counted
LOG_EVERY_S = 10.0
ADMIN = "admin"


def server_keys(curve: CurveSettings) -> Tuple[str, str]:
    """The broker's CURVE (public, secret): inline in the settings, else keys_dir/server.key_secret."""
    if curve.public_key and curve.secret_key:
        return curve.public_key, curve.secret_key
    try:
        return keyfiles.server_keypair(curve.keys_dir)
    except keyfiles.KeysError as exc:
        raise SettingsError(f"curve.keys_dir: {exc} (koabus keys generate NAME --role ... creates it)") from None


class AllowList:
    """Client public key -> (name, role), from `keys_dir/allow.json`; fails closed on a bad file."""

    def __init__(self, keys_dir: str):
        self.keys_dir = keys_dir
        self.path = keyfiles.allow_path(keys_dir)
        self._by_key: Dict[str, Tuple[str, str]] = {}
        self._role_of: Dict[str, str] = {}
        self._stamp: Optional[Tuple[int, int, int]] = (-1, -1, -1)
        self.loads = 0
        self.refresh()

    def refresh(self) -> bool:
        """Re-read the file if it changed since the last read; True when it was re-read."""
        try:
            st = os.stat(self.path)
            stamp: Optional[Tuple[int, int, int]] = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            entries = keyfiles.load_allow(self.keys_dir)
        except keyfiles.KeysError as exc:  # fail closed: nobody until the file is fixed
            log.error("allow-list unreadable, every client key refused until it is fixed: %s", exc)
            entries = {}
        allowed = [e for e in entries.values() if e.allowed]
        self._by_key = {e.public_key: (e.name, e.role) for e in allowed}
        self._role_of = {e.name: e.role for e in allowed}
        self.loads += 1
        log.info("allow-list %s: %d key(s) allowed, %d revoked", self.path, len(allowed),
                 len(entries) - len(allowed))
        return True

    def lookup(self, public_key: str) -> Optional[Tuple[str, str]]:
        return self._by_key.get(public_key)

    def role_of(self, name: str) -> Optional[str]:
        return self._role_of.get(name)

    def __len__(self) -> int:
        return len(self._by_key)


class _Quiet:
    """At most one log line per subject per LOG_EVERY_S; says how many were held back."""

    def __init__(self) -> None:
        self._last: Dict[str, Tuple[float, int]] = {}

    def should_log(self, subject: str, now: float) -> Optional[int]:
        last, held = self._last.get(subject, (float("-inf"), 0))
        if now - last >= LOG_EVERY_S:
            if len(self._last) > 10_000:
                self._last.clear()
            self._last[subject] = (now, 0)
            return held
        self._last[subject] = (last, held + 1)
        return None


class ZapHandler:
    """RFC 27 over a REP socket: CURVE keys on the allow-list in (User-Id = key name), others out."""

    def __init__(self, allow: AllowList, counters) -> None:
        self.allow = allow
        self.counters = counters
        self._quiet = _Quiet()

    def handle(self, socket: zmq.Socket, limit: int = 100) -> None:
        for _ in range(limit):
            try:
                request = socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                reply = self.decide(request)
            except Exception:  # a REP socket must answer; a bug here refuses, never crashes the loop
                log.exception("ZAP request failed")
                reply = [ZAP_VERSION, request[1] if len(request) > 1 else b"", b"500", b"internal error", b"", b""]
            socket.send_multipart(reply)

    def decide(self, request) -> list:
        """A ZAP reply for one ZAP request (pure but for the allow-list refresh and the log)."""
        if len(request) < 6 or request[0] != ZAP_VERSION:
            rid = request[1] if len(request) > 1 else b""
            return [ZAP_VERSION, rid, b"500", b"malformed ZAP request", b"", b""]
        rid, address, mechanism, credentials = request[1], request[3], request[5], request[6:]
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            return self._refuse(rid, address, "not a CURVE connection", "-")
        public = z85.encode(credentials[0]).decode("ascii")
        self.allow.refresh()
        found = self.allow.lookup(public)
        if found is None:
            return self._refuse(rid, address, "key not on the allow-list (unknown or revoked)", public[:8])
        name, role = found
        self.counters["zap_accepted"] += 1
        log.debug("CURVE key %r (%s) connected from %s", name, role, _text(address))
        return [ZAP_VERSION, rid, b"200", b"OK", name.encode("utf-8"), b""]

    def _refuse(self, rid: bytes, address: bytes, why: str, key_prefix: str) -> list:
        self.counters["zap_refused"] += 1
        held = self._quiet.should_log(f"{key_prefix}@{_text(address)}", time.monotonic())
        if held is not None:
            more = f" ({held} more refused since the last line)" if held else ""
            log.warning("connection from %s refused: %s (public key %s...)%s", _text(address), why, key_prefix, more)
        return [ZAP_VERSION, rid, b"400", why.encode("utf-8"), b"", b""]


class Authority:
    """The role a request's key holds and whether it may run an op; None keys (no CURVE) are admin."""

    def __init__(self, allow: Optional[AllowList]) -> None:
        self.allow = allow
        self._quiet = _Quiet()

    def role(self, user: Optional[str]) -> Optional[str]:
        if self.allow is None:
            return ADMIN
        return self.allow.role_of(user) if user else None

    def check(self, user: Optional[str], op: str) -> str:
        """The key's role if it may run `op`; Forbidden (logged with the key's name) if not."""
        role = self.role(user)
        needed = ROLE_OF.get(op)
        if needed is None or (role is not None and keyfiles.ROLE_RANK[role] >= keyfiles.ROLE_RANK[needed]):
            return role or ADMIN
        who = repr(user) if user else "without a name"
        held = self._quiet.should_log(f"{user}:{op}", time.monotonic())
        if held is not None:
            more = f" ({held} more since the last line)" if held else ""
            log.warning("forbidden: key %s (role %s) asked for %r, which needs role %r%s",
                        who, role or "none: revoked", op, needed, more)
        have = f"has role '{role}'" if role else "is no longer on the allow-list"
        raise Forbidden(f"op '{op}' needs role '{needed}'; this key ({user or '?'}) {have}",
                        details={"op": op, "role_needed": needed, "role": role, "key": user})


def _text(address: bytes) -> str:
    return address.decode("utf-8", "replace") or "?"
