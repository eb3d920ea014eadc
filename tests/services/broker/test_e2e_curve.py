"""End to end: the real broker with CURVE keys; the right server key works, a wrong one gets no answer."""
from __future__ import annotations

import zmq

from koabus.common import keys
from tests.services.broker.bus import BusClient
from tests.services.broker.conftest import start_stack


def test_curve_broker_serves_only_clients_with_its_key(qapp, tmp_path):
    server_public, server_secret = zmq.curve_keypair()
    keys_dir = str(tmp_path / "keys")
    keys.generate(keys_dir, "good", "admin")  # on the allow-list (test_e2e_zap.py: the other cases)
    _, client_public, client_secret = (k.encode() for k in keys.client_keys(keys_dir, "good"))
    other_public, _ = zmq.curve_keypair()
    stack = start_stack(qapp, curve={"public_key": server_public.decode(), "secret_key": server_secret.decode(),
                                     "keys_dir": keys_dir})
    clients = []

    def client(name, curve):
        c = BusClient(qapp, stack.broker.router_endpoint, stack.broker.pub_endpoint, name, curve=curve)
        clients.append(c)
        return c

    try:
        good = client("good", (server_public, client_public, client_secret))
        assert good.dealer.getsockopt(zmq.MECHANISM) == zmq.CURVE
        good.subscribe_pub("sys.hb")
        status = good.result("status", timeout_s=10.0)
        assert status["connected"] is True
        assert good.wait_for(lambda: good.pubs_on("sys.hb"), 10.0), "heartbeats reach a CURVE subscriber"
        assert good.result("call", {"method": "GetMasterCodeName", "args": ["005930"]}) == "삼성전자"

        wrong = client("wrong", (other_public, client_public, client_secret))  # not the broker's key
        plain = client("plain", None)
        for c in (wrong, plain):
            c.subscribe_pub("sys.hb")
            # once the handshake has failed the DEALER has no peer and a send would block: bound it
            c.dealer.setsockopt(zmq.SNDTIMEO, 500)
            try:
                rid = c.send("status")
            except zmq.Again:
                rid = None  # no peer to send to: certainly no answer
            if rid is not None:
                assert not c.wait_for(lambda c=c, rid=rid: c.messages_for(rid), 1.0), "answered without CURVE"
            else:
                c.pump(1.0)
            assert not c.inbox, "answered without CURVE"
            assert not c.pubs_on("sys.hb"), "a publication reached a client without the server key"
        # the broker still serves the right client afterwards
        assert good.result("status")["connected"] is True
    finally:
        for c in clients:
            c.close()
        stack.close()
