"""The service heartbeat spec: topics `ps` can tell apart, and a body with identity, uptime and last error."""
from __future__ import annotations

import os
import socket

import pytest

from koabus.common.heartbeat import Identity, ServiceBeat, service_of, topic


def test_broker_keeps_sys_hb_and_other_services_get_their_own_topic():
    assert topic("broker") == "sys.hb" and service_of("sys.hb") == "broker"
    assert topic("recorder") == "sys.hb.recorder" and service_of("sys.hb.recorder") == "recorder"
    assert service_of("sys.hb.") is None and service_of("sys.status") is None and service_of("rt.trade.x") is None


def test_body_carries_identity_uptime_and_the_last_error_on_one_line():
    beat = ServiceBeat(Identity("recorder", 42, "box", 1000.0), interval_ms=500)
    beat.error("disk full\n  while writing\tbatch " + "x" * 500)
    body = beat.body("running", lag_s=0.25, now_s=1010.5, rows=7)
    assert body["service"] == "recorder" and body["pid"] == 42 and body["host"] == "box"
    assert body["uptime_s"] == 10.5 and body["interval_ms"] == 500 and body["lag_s"] == 0.25
    assert body["last_error"].startswith("disk full while writing batch x") and len(body["last_error"]) == 200
    assert body["time_ns"] == 1010500000000 and body["rows"] == 7 and body["state"] == "running"


def test_identity_here_is_this_process():
    ident = Identity.here("broker")
    assert ident.pid == os.getpid() and ident.host == socket.gethostname()
    with pytest.raises(ValueError):
        ServiceBeat(ident, interval_ms=0)
