"""A failed bind as one line: the endpoint, the reason, and for a busy port the process that holds it."""
from __future__ import annotations

import errno
import os
import socket
import sys

import pytest
import zmq

from koabus.services.broker.ports import BindError, bind_error, holder_text, port_holders

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture
def listener():
    """A port this test process listens on."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]
    finally:
        s.close()


@linux_only
def test_the_holder_of_a_listening_port_is_found_through_proc(listener):
    holders = port_holders(listener)
    assert [pid for pid, _ in holders] == [os.getpid()]
    assert "python" in holders[0][1].lower() or "pytest" in holders[0][1].lower()
    assert holder_text(listener).startswith(f"by pid {os.getpid()} (")


def test_a_free_port_has_no_holder_and_a_missing_proc_is_said_plainly(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: nobody holds it for a listener
        port = s.getsockname()[1]
        assert port_holders(port) == []
    assert holder_text(port, proc=str(tmp_path / "none")) == "by another process"


def test_a_real_zeromq_bind_failure_becomes_a_bind_error(listener):
    ctx = zmq.Context.instance()
    router = ctx.socket(zmq.ROUTER)
    endpoint = f"tcp://127.0.0.1:{listener}"
    try:
        with pytest.raises(zmq.ZMQError) as info:
            router.bind(endpoint)
    finally:
        router.close(0)
    err = bind_error(info.value, endpoint, "tcp://127.0.0.1:1")
    assert isinstance(err, BindError) and err.errno == errno.EADDRINUSE and err.role == "router"
    assert str(err).startswith(f"cannot bind {endpoint} (router): port {listener} is already in use by ")
    assert "\n" not in str(err)


def test_other_failures_pass_through_unchanged():
    exc = RuntimeError("not a bind")
    assert bind_error(exc, "tcp://127.0.0.1:1", "tcp://127.0.0.1:2") is exc
