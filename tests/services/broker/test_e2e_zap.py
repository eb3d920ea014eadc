"""End to end: ZAP and roles on a real CURVE broker over loopback (issue 10, Access control).

No key, an unknown key and a revoked key never get a connection (no answer, no publication); a read
key cannot order and a trade key cannot shut down (typed Forbidden naming the role needed); the
authorised clients go on being served during and after.
"""
from __future__ import annotations

import logging
import os

import pytest
import zmq

from koabus.common import keys
from koabus.common.errors import Forbidden, error_from_wire
from tests.services.broker.bus import BusClient
from tests.services.broker.conftest import start_stack

ACCOUNT = "8000000011"
ORDER = {"account": ACCOUNT, "side": "buy", "code": "005930", "qty": 1, "price": 0, "hoga": "03"}


def _curve(keys_dir, name):
    server, public, secret = keys.client_keys(str(keys_dir), name)
    return server.encode(), public.encode(), secret.encode()


@pytest.fixture
def zap_stack(qapp, tmp_path):
    keys_dir = tmp_path / "keys"
    for name, role in (("viewer", "read"), ("trader", "trade"), ("ops", "admin"), ("gone", "trade")):
        keys.generate(str(keys_dir), name, role)
    stack = start_stack(qapp, curve={"keys_dir": str(keys_dir)}, heartbeat_ms=200)
    clients = []

    def client(name, curve):
        c = BusClient(qapp, stack.broker.router_endpoint, stack.broker.pub_endpoint, name, curve=curve)
        clients.append(c)
        return c

    try:
        yield stack, keys_dir, client
    finally:
        for c in clients:
            c.close()
        stack.close()


def _refused(c) -> None:
    """`c` gets no answer and no publication: its handshake was refused."""
    c.subscribe_pub("sys.hb")
    c.dealer.setsockopt(zmq.SNDTIMEO, 500)  # no peer after a refused handshake: a send would block
    try:
        rid = c.send("status")
    except zmq.Again:
        rid = None
    c.pump(1.5)  # a heartbeat a second: an accepted subscriber would have one by now
    assert rid is None or not c.messages_for(rid), f"{c.name} was answered"
    assert not c.pubs_on("sys.hb"), f"{c.name} received publications"


def _error(c, op, args=None):
    final, _ = c.call(op, args or {}, timeout_s=5.0)
    assert final.TYPE == "ERROR", f"{op} was not refused: {final}"
    return error_from_wire({"kind": final.kind, "code": final.code, "message": final.message,
                            "details": final.details})


def test_unknown_revoked_and_keyless_clients_never_connect(zap_stack):
    stack, keys_dir, client = zap_stack
    trader = client("trader", _curve(keys_dir, "trader"))
    gone = client("gone", _curve(keys_dir, "gone"))
    assert gone.result("status", timeout_s=10.0)["connected"] is True  # allowed until revoked
    keys.revoke(str(keys_dir), "gone")

    other_public, other_secret = zmq.curve_keypair()
    server = keys.server_public(str(keys_dir)).encode()
    unknown = client("unknown", (server, other_public, other_secret))
    plain = client("plain", None)
    revoked = client("revoked", _curve(keys_dir, "gone"))  # a new connection with the revoked key
    for c in (unknown, plain, revoked):
        _refused(c)
        assert trader.result("status")["connected"] is True  # served all along
    # the revoked key's connection made before the revocation loses its role at its next request
    err = _error(gone, "status")
    assert isinstance(err, Forbidden) and err.details["role_needed"] == "read"
    counters = stack.broker.server.counters
    assert counters["zap_refused"] >= 2  # unknown and revoked keys went through ZAP and were refused
    final, parts = trader.call("order", {**ORDER, "client_order_id": "zap-after"}, timeout_s=8)
    assert final.TYPE == "END", final


def test_roles_refuse_with_forbidden_and_others_are_served(zap_stack, caplog):
    stack, keys_dir, client = zap_stack
    viewer = client("viewer", _curve(keys_dir, "viewer"))
    trader = client("trader", _curve(keys_dir, "trader"))
    ops = client("ops", _curve(keys_dir, "ops"))
    assert viewer.dealer.getsockopt(zmq.MECHANISM) == zmq.CURVE
    viewer.subscribe_pub("sys.status")

    with caplog.at_level(logging.WARNING, logger="koabus.services.broker.auth"):
        err = _error(viewer, "order", {**ORDER, "client_order_id": "zap-read"})
        assert isinstance(err, Forbidden)
        assert err.details["role_needed"] == "trade" and "'trade'" in err.message
        err = _error(trader, "shutdown")
        assert isinstance(err, Forbidden) and err.details["role_needed"] == "admin"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "'viewer'" in logged and "'trader'" in logged and "shutdown" in logged
    secret = keys.read_key_file(keys.secret_path(str(keys_dir), "viewer"), secret=True)[1]
    assert secret not in logged

    # read: data, metadata and the status summary; trade: orders; admin: status details
    assert viewer.result("meta", {"kind": "fid", "key": 10})["name"]
    summary = viewer.result("status")
    assert summary["connected"] is True and "clients" not in summary and "counters" not in summary
    assert summary["security"]["curve"] is True and summary["security"]["insecure"] is None
    # the accounts and the default one are discoverable without the admin-only login op
    assert summary["accounts"] == ["8000000011", "8000000031"] and "default" in summary["account"]
    assert viewer.wait_for(lambda: viewer.pubs_on("sys.status"), 10.0), "no sys.status for a read key"
    published = viewer.pubs_on("sys.status")[-1].body
    assert published["connected"] is True and "clients" not in published and "counters" not in published
    final, parts = trader.call("order", {**ORDER, "client_order_id": "zap-trade"}, timeout_s=8)
    assert final.TYPE == "END", final
    details = ops.result("status")
    assert len(details["clients"]) >= 3 and "memory" in details
    assert details["counters"]["refused_forbidden"] == 2
    assert stack.broker.running  # the trade key's shutdown did nothing
    for c in (viewer, trader, ops):
        assert c.result("status")["connected"] is True
    assert secret not in repr(details)


def test_insecure_bind_warns_at_start_and_in_status(qapp, caplog):
    with caplog.at_level(logging.WARNING, logger="koabus.services.broker.app"):
        stack = start_stack(qapp, router="tcp://0.0.0.0:*", insecure=True)
    try:
        assert any("INSECURE" in r.getMessage() for r in caplog.records), "no warning at start"
        status = stack.client("plain").result("status")  # no CURVE: every client is admin, as before
        assert "INSECURE" in status["security"]["insecure"] and status["security"]["curve"] is False
        assert "counters" in status
    finally:
        stack.close()


def test_sdk_and_cli_connect_with_a_key(zap_stack, capsys):
    import asyncio
    import json

    from koabus.common.cli.main import main
    from koabus.common.client import AsyncClient, ClientOptions, CurveKeys

    stack, keys_dir, _ = zap_stack
    router, pub = stack.broker.router_endpoint, stack.broker.pub_endpoint
    options = ClientOptions(connect_timeout_s=10.0, timeout_s=5.0)

    async def session():
        viewer = CurveKeys.from_keys_dir(str(keys_dir), "viewer")
        async with AsyncClient(router, pub, options=options, curve=viewer) as client:
            assert (await client.meta("fid", 10))["name"]
            assert "counters" not in await client.status()  # read: the summary
            with pytest.raises(Forbidden, match="'trade'"):
                await client.request("order", {**ORDER, "client_order_id": "sdk-read"})
        async with AsyncClient(router, pub, options=options,
                               curve=CurveKeys.from_keys_dir(str(keys_dir), "trader")) as client:
            with pytest.raises(Forbidden, match="'admin'"):
                await client.request("shutdown")

    asyncio.run(session())
    assert main(["status", "--router", router, "--key", "ops", "--keys-dir", str(keys_dir), "--json",
                 "--timeout", "10"]) == 0
    assert "counters" in json.loads(capsys.readouterr().out)  # admin: the details
    assert main(["status", "--router", router, "--timeout", "1"]) == 1  # no key: no answer
    assert stack.broker.running


def test_koabus_ps_needs_a_key_to_see_a_curve_broker(zap_stack, tmp_path, capsys):
    import json

    from koabus.common.cli.main import main

    stack, keys_dir, _ = zap_stack
    common = ["ps", "--config", str(tmp_path / "no-supervisor.conf"), "--pub", stack.broker.pub_endpoint,
              "--listen", "2.5", "--json"]
    assert main([*common, "--key", "viewer", "--keys-dir", str(keys_dir)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["pid"], r["healthy"]) for r in rows] == [("broker", os.getpid(), True)]
    assert main(common) == 1  # no key: the handshake is refused, no heartbeat is heard
    assert json.loads(capsys.readouterr().out) == []
