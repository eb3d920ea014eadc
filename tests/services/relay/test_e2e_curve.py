"""End to end with CURVE on both sides of a relay: the broker authenticates the relay's key (ZAP),
the relay authenticates its consumers' keys; a wrong key on either side gets nothing."""
from __future__ import annotations

import zmq

from koabus.common import keys
from tests.services.broker.bus import BusClient
from tests.services.broker.conftest import start_stack


def _refused(client: BusClient) -> None:
    """Nothing at all comes back: no answer to a request, no publication."""
    client.subscribe_pub("sys.")
    client.dealer.setsockopt(zmq.SNDTIMEO, 500)  # after a failed handshake a send may find no peer
    try:
        rid = client.send("status")
    except zmq.Again:
        rid = None
    client.pump(1.0)
    assert rid is None or not client.messages_for(rid), "answered despite a wrong key"
    assert not client.pubs, "published to a connection with a wrong key"


def test_curve_on_both_sides_and_wrong_keys_refused(qapp, tmp_path, relays):
    keys_dir = str(tmp_path / "broker-keys")
    keys.generate(keys_dir, "relay", "read")  # the relay's key at the broker, on its allow-list
    broker_public, broker_secret = keys.server_keypair(keys_dir)
    _, relay_up_public, relay_up_secret = keys.client_keys(keys_dir, "relay")
    stack = start_stack(qapp, curve={"public_key": broker_public, "secret_key": broker_secret,
                                     "keys_dir": keys_dir})
    relay_public, relay_secret = (k.decode() for k in zmq.curve_keypair())
    consumer_public, consumer_secret = zmq.curve_keypair()
    stranger_public, stranger_secret = zmq.curve_keypair()
    upstream = {"server_key": broker_public, "public_key": relay_up_public, "secret_key": relay_up_secret}
    downstream = {"public_key": relay_public, "secret_key": relay_secret,
                  "client_keys": [consumer_public.decode()]}
    try:
        relay = relays(stack.broker.router_endpoint, stack.broker.pub_endpoint,
                       upstream=upstream, downstream=downstream)

        def client(name, curve, via=relay):
            c = BusClient(qapp, via.router_endpoint, via.pub_endpoint, name, curve=curve)
            stack.clients.append(c)
            return c

        good = client("good", (relay_public.encode(), consumer_public, consumer_secret))
        assert good.dealer.getsockopt(zmq.MECHANISM) == zmq.CURVE
        good.subscribe_pub("sys.hb")
        assert good.result("status", timeout_s=10.0)["connected"] is True
        assert good.wait_for(lambda: good.pubs_on("sys.hb"), 10.0), "the broker's heartbeat through the relay"
        assert {p.epoch for p in good.pubs} == {stack.broker.epoch}

        # downstream: the relay's server key wrong, no CURVE at all, a key not on the relay's list
        _refused(client("wrong-server", (zmq.curve_keypair()[0], consumer_public, consumer_secret)))
        _refused(client("plain", None))
        _refused(client("stranger", (relay_public.encode(), stranger_public, stranger_secret)))

        # upstream: a relay whose key is not on the broker's allow-list serves its consumers nothing
        outsider_public, outsider_secret = (k.decode() for k in zmq.curve_keypair())
        rogue = relays(stack.broker.router_endpoint, stack.broker.pub_endpoint,
                       upstream={**upstream, "public_key": outsider_public, "secret_key": outsider_secret})
        _refused(client("behind-rogue", None, via=rogue))

        # the authorised consumer is served throughout
        assert good.result("status")["connected"] is True
    finally:
        stack.close()
