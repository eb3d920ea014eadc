"""Fixtures for notifier tests: a real HTTP server and a real SMTP server (aiosmtpd) on loopback,
each scripted and recorded, each stopped by the fixture that started it."""
from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Deque, Dict, List, Optional

import pytest

from koabus.services.alerting.alert import Alert

HANG_LIMIT_S = 10.0  # a "hang" response never holds a request longer than this


def make_alert(**overrides: Any) -> Alert:
    fields: Dict[str, Any] = dict(
        rule="samsung-above-75k", kind="price", severity="warning", title="Samsung Electronics above 75,000",
        text="Samsung Electronics 005930 at 75,100 (>= 75,000)", code="005930",
        time_ns=1_764_723_600_000_000_000, dedup_key="samsung-above-75k:005930",
        values={"current_price": 75100, "above": 75000}, notify=("hook",))
    fields.update(overrides)
    return Alert(**fields)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: Dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the request until `release()` (or HANG_LIMIT_S), then answer


@dataclass
class Received:
    path: str
    headers: Dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class RecordingServer(ThreadingHTTPServer):
    """Answers POSTs from a script (then `default`), records every request in arrival order."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: Deque[Reply] = collections.deque()
        self.default = Reply()
        self.received: List[Received] = []
        self.cond = threading.Condition()
        self.released = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def release(self) -> None:
        self.released.set()

    def wait_for(self, count: int, timeout_s: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.received) >= count, timeout_s)

    def record(self, request: Received) -> Reply:
        with self.cond:
            self.received.append(request)
            self.cond.notify_all()
            return self.script.popleft() if self.script else self.default


class _Handler(BaseHTTPRequestHandler):
    server: RecordingServer

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        reply = self.server.record(Received(self.path, dict(self.headers.items()), body))
        if reply.hang:
            self.server.released.wait(HANG_LIMIT_S)
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:  # the client gave up (its timeout)
            pass

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server():
    servers: List[RecordingServer] = []

    def start() -> RecordingServer:
        server = RecordingServer()
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release()
        server.shutdown()
        server.server_close()


class _Mailbox:
    def __init__(self):
        self.messages: List[Any] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        with self.cond:
            self.messages.append(envelope)
            self.cond.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout_s: float = 5.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.messages) >= count, timeout_s)


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: _Mailbox
    logins: List[Any]


@pytest.fixture(scope="session")
def self_signed_cert(tmp_path_factory):
    """(cert.pem, key.pem) for 127.0.0.1, made by the openssl command (skipped without it)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return str(cert), str(key)


@pytest.fixture
def smtp_server():
    """aiosmtpd on 127.0.0.1 accepting AUTH LOGIN/PLAIN for user `alerts` with password `s3cret`
    (plain connection allowed: loopback only)."""
    yield from _smtp_server()


@pytest.fixture
def starttls_smtp_server(self_signed_cert):
    """Like smtp_server, but STARTTLS is required before MAIL and AUTH."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*self_signed_cert)
    yield from _smtp_server(tls_context=context, require_starttls=True, auth_require_tls=True)


def _smtp_server(**options: Any):
    pytest.importorskip("aiosmtpd")
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.helpers import free_tcp_port

    options.setdefault("auth_require_tls", False)
    mailbox = _Mailbox()
    logins: List[Any] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> Optional[AuthResult]:
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"alerts"
              and auth_data.password == b"s3cret")
        logins.append((mechanism, auth_data.login if isinstance(auth_data, LoginPassword) else None, ok))
        return AuthResult(success=ok, handled=False)

    controller = Controller(mailbox, hostname="127.0.0.1", port=free_tcp_port(), authenticator=authenticator,
                            ready_timeout=5.0, **options)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", controller.port, mailbox, logins)
    finally:
        controller.stop()
