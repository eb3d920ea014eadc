from __future__ import annotations

import time

import zmq

from koabus.common.heartbeat import Identity, ServiceBeat
from koabus.common.protocol import Publication
from koabus.services.skeleton.status import StatusPublisher
from tests.helpers import free_tcp_port


def test_publications_are_numbered_in_the_services_own_epoch():
    sent = []
    beat = ServiceBeat(Identity("demo", 7, "host-a", 100.0), 1000)
    publisher = StatusPublisher(lambda frames: sent.append(frames) or True, "demo", "demo-1", beat, epoch=5)
    publisher.publish("demo.a", "SYS", {"n": 1})
    publisher.publish("demo.b", "SYS", {"n": 2})
    hb = publisher.beat("running", 0.25, now_s=110.0, custom=3)
    pubs = [Publication.from_frames(f) for f in sent]
    assert [(p.topic, p.epoch, p.seq, p.topic_seq) for p in pubs] == [
        ("demo.a", 5, 1, 1), ("demo.b", 5, 2, 1), ("sys.hb.demo", 5, 3, 1)]
    assert pubs[2].body == hb.body
    assert hb.type == "HB" and hb.recv_ns == 110_000_000_000
    body = hb.body
    assert (body["service"], body["name"], body["epoch"], body["seq"]) == ("demo", "demo-1", 5, 3)
    assert (body["state"], body["uptime_s"], body["lag_s"], body["custom"]) == ("running", 10.0, 0.25, 3)


def test_a_refused_send_is_counted_and_numbering_goes_on():
    publisher = StatusPublisher(lambda frames: False, "demo", "demo-1")
    publisher.publish("demo.a", "SYS", {})
    second = publisher.publish("demo.a", "SYS", {})
    assert publisher.dropped == 2 and (second.seq, second.topic_seq) == (2, 2)


def test_without_send_it_only_numbers():
    publisher = StatusPublisher(None, "demo", "demo-1")
    assert publisher.beat("starting").seq == 1 and publisher.dropped == 0


def test_bind_publishes_on_a_real_pub_a_subscriber_hears():
    ctx = zmq.Context()
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    publisher = StatusPublisher.bind(ctx, endpoint, "demo", "demo-1", ServiceBeat(Identity.here("demo")))
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb.demo")
    sub.connect(endpoint)
    try:
        heard = None
        deadline = time.monotonic() + 5.0
        while heard is None and time.monotonic() < deadline:  # a SUB joins late: beat until one arrives
            publisher.beat("running")
            if sub.poll(50):
                heard = Publication.from_frames(sub.recv_multipart())
        assert heard is not None and heard.topic == "sys.hb.demo" and heard.body["name"] == "demo-1"
        assert heard.epoch == publisher.epoch and heard.body["seq"] == heard.seq
    finally:
        sub.close(0)
        publisher.close()
        ctx.term()
