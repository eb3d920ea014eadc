"""Connection supervision (Qt thread): login, loss detection, re-login with backoff, restore.

A loss is noticed three ways: OnEventConnect with a negative code after login (-106), an idle probe
(GetConnectState() == 0) and, optionally, silence (no event at all for `silence_s` while realtime is
registered). Then the supervisor publishes `sys.conn` disconnected, lets the core fail pending work
(queries fail with Unavailable; orders are never retried), re-logs in with backoff, asks the core to
restore realtime registrations and conditions, and publishes `restored`.
"""
from __future__ import annotations

import logging
import time
from typing import Any, List

from koabus.common.errors import KiwoomError
from koabus.common.protocol import PubType

from .config import SupervisionSettings

log = logging.getLogger(__name__)

DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"

LOGIN_MESSAGES = {
    -100: "user-info exchange failed", -101: "server connection failed", -102: "version processing failed",
    -103: "personal firewall failure", -104: "memory protection failure", -105: "bad function input",
    -106: "connection closed", -107: "security module error", -108: "certificate login required",
}


class Supervisor:
    """Owns the connection state; `core` supplies the adapter, timers, publishing and the restore hooks."""

    def __init__(self, core, settings: SupervisionSettings):
        self.core = core
        self.settings = settings
        self.state = DISCONNECTED
        self.server = ""
        self.accounts: List[str] = []
        self.user_id = ""
        self.attempt = 0
        self.losses = 0
        self.logins = 0
        self.last_event_monotonic = time.monotonic()
        self._ever_connected = False
        self._login_timer = None
        self._retry_timer = None
        self._probe_timer = None
        self._waiters: List[Any] = []
        self._stopped = False
        self._login_pending = False

    @property
    def connected(self) -> bool:
        return self.state == CONNECTED

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        self._schedule_probe()
        if self.settings.login_at_start:
            self.login()

    def stop(self) -> None:
        self._stopped = True
        for timer in (self._login_timer, self._retry_timer, self._probe_timer):
            if timer is not None:
                timer.cancel()

    def wait_login(self, stream) -> None:
        """`login` op: reply once connected (logging in now if nobody has)."""
        if self.connected:
            stream.reply(self.info())
            return
        self._waiters.append(stream)
        self.login()

    def info(self) -> dict:
        return {"connected": self.connected, "state": self.state, "server": self.server,
                "accounts": list(self.accounts), "user_id": self.user_id}

    # -- login -----------------------------------------------------------------------------------
    def login(self) -> None:
        """Call CommConnect unless connected or a login is already under way."""
        if self._stopped or self.connected or self._login_pending:
            return
        if not self._ever_connected:
            self.state = CONNECTING
        self._login_pending = True
        self.core.state_changed()
        ret = self.core.adapter.comm_connect()
        if ret != 0:
            self._login_failed(ret, "CommConnect refused")
            return
        self._login_timer = self.core.wall_timer(self.settings.login_timeout_s, self._login_timed_out)

    def _login_timed_out(self) -> None:
        self._login_timer = None
        if self._login_pending:
            self._login_failed(-101, "no OnEventConnect within the login timeout")

    def on_event_connect(self, code: int) -> None:
        self.touch()
        if self._login_timer is not None:
            self._login_timer.cancel()
            self._login_timer = None
        self._login_pending = False
        if code == 0:
            if not self.connected:
                self._connected()
        elif self.connected:
            self.lost(code, LOGIN_MESSAGES.get(code, "connection lost"))
        else:
            self._login_failed(code, LOGIN_MESSAGES.get(code, "login failed"))

    def _connected(self) -> None:
        restoring = self._ever_connected
        self.state = CONNECTED
        self._ever_connected = True
        self.attempt = 0
        self.logins += 1
        adapter = self.core.adapter
        gubun = adapter.get_login_info("GetServerGubun").strip()
        self.server = "mock" if gubun == "1" else "real"
        self.accounts = [a.strip() for a in adapter.get_login_info("ACCNO").split(";") if a.strip()]
        self.user_id = adapter.get_login_info("USER_ID").strip()
        log.info("logged in (%s server, %d accounts)%s", self.server, len(self.accounts),
                 "; restoring" if restoring else "")
        self.core.publish("sys.conn", PubType.SYSTEM,
                          {"state": "connected", "code": 0, "message": f"logged in ({self.server})"}, None)
        restored = self.core.on_connected(restoring)
        if restoring:
            self.core.publish("sys.conn", PubType.SYSTEM,
                              {"state": "restored", "code": 0, "message": "registrations restored",
                               "restored": restored}, None)
        self.core.state_changed()
        waiters, self._waiters = self._waiters, []
        for stream in waiters:
            stream.reply(self.info())

    def _login_failed(self, code: int, message: str) -> None:
        log.warning("login failed: %s (%s)", code, message)
        self._login_pending = False
        self.core.publish("sys.conn", PubType.SYSTEM, {"state": "login_failed", "code": code, "message": message},
                          None)
        self.core.state_changed()
        waiters, self._waiters = self._waiters, []
        for stream in waiters:
            stream.fail(KiwoomError(code, f"login failed: {message}; the broker keeps retrying"))
        self._schedule_retry()

    # -- loss ------------------------------------------------------------------------------------
    def lost(self, code: int, message: str) -> None:
        """The link is gone: announce, fail pending work, re-login after a backoff."""
        if self.state != CONNECTED:
            return
        self.losses += 1
        log.warning("connection lost: %s (%s)", code, message)
        self.state = RECONNECTING
        self.core.publish("sys.conn", PubType.SYSTEM, {"state": "disconnected", "code": code, "message": message},
                          None)
        self.core.on_lost(KiwoomError(code, f"connection lost: {message}"))
        self.core.state_changed()
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        if self._stopped:
            return
        steps = self.settings.relogin_backoff_s
        delay = steps[min(self.attempt, len(steps) - 1)]
        self.attempt += 1
        self.core.publish("sys.conn", PubType.SYSTEM,
                          {"state": "reconnecting", "code": 0, "message": f"re-login in {delay:g} s",
                           "attempt": self.attempt}, None)
        if self._retry_timer is not None:
            self._retry_timer.cancel()
        self._retry_timer = self.core.clock_timer(delay, self._retry)

    def _retry(self) -> None:
        self._retry_timer = None
        self.login()

    # -- probes ----------------------------------------------------------------------------------
    def touch(self) -> None:
        self.last_event_monotonic = time.monotonic()

    def _schedule_probe(self) -> None:
        if self._stopped or self.settings.probe_interval_s <= 0:
            return
        self._probe_timer = self.core.wall_timer(self.settings.probe_interval_s, self._probe)

    def _probe(self) -> None:
        self._probe_timer = None
        try:
            if self.connected:
                if self.core.adapter.get_connect_state() != 1:
                    self.lost(-106, "idle probe: GetConnectState() is 0")
                elif (self.settings.silence_s > 0 and self.core.has_realtime()
                      and time.monotonic() - self.last_event_monotonic > self.settings.silence_s):
                    self.lost(-106, f"no event for {self.settings.silence_s:g} s")
        finally:
            self._schedule_probe()

