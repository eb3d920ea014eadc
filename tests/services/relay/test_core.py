"""The relay's routing table and status feed, without sockets."""
from __future__ import annotations

import itertools

import pytest

from koabus.common.errors import Overloaded, ProtocolError
from koabus.common.heartbeat import Identity
from koabus.common.protocol import Bye, Hello, Ping, Publication, Request, decode_broker, encode_client
from koabus.services.relay.core import ClientTable, StatusFeed, peek, random_routing_id, refusal_frames


def _ids():
    counter = itertools.count(1)
    return lambda: b"up-%d" % next(counter)


def test_every_downstream_client_gets_its_own_upstream_id():
    table = ClientTable(max_clients=10, idle_s=60.0, new_id=_ids())
    a, fresh_a = table.route_in(b"a", encode_client(Hello(1, (1,), "a", 1000)), 0.0)
    b, fresh_b = table.route_in(b"b", encode_client(Ping(1)), 0.0)
    again, fresh_again = table.route_in(b"a", encode_client(Ping(2)), 1.0)
    assert (fresh_a, fresh_b, fresh_again) == (True, True, False)
    assert a.upstream_id != b.upstream_id and again is a
    assert table.route_out(b.upstream_id, 2.0).identity == b"b"
    assert table.route_out(b"unknown", 2.0) is None


def test_random_routing_ids_are_long_and_never_start_with_zero():
    ids = {random_routing_id() for _ in range(200)}
    assert len(ids) == 200 and all(len(i) == 16 and i[0] != 0 for i in ids)


def test_the_table_is_bounded():
    table = ClientTable(max_clients=2, idle_s=60.0, new_id=_ids())
    table.route_in(b"a", encode_client(Ping(1)), 0.0)
    table.route_in(b"b", encode_client(Ping(1)), 0.0)
    with pytest.raises(Overloaded) as info:
        table.route_in(b"c", encode_client(Ping(1)), 0.0)
    assert info.value.details["max_clients"] == 2
    table.route_in(b"a", encode_client(Ping(2)), 0.0)  # known clients are still served


def test_silent_clients_expire_and_replies_count_as_activity():
    table = ClientTable(max_clients=10, idle_s=10.0, new_id=_ids())
    a, _ = table.route_in(b"a", encode_client(Ping(1)), 0.0)
    table.route_in(b"b", encode_client(Ping(1)), 0.0)
    table.route_out(a.upstream_id, 8.0)  # a long stream still answering a
    gone = table.expire(12.0)
    assert [r.identity for r in gone] == [b"b"]
    assert [r.identity for r in table.expire(18.0)] == [b"a"]
    assert len(table) == 0


def test_an_identity_that_said_bye_is_refused_once_forgotten():
    table = ClientTable(max_clients=10, idle_s=1.0, new_id=_ids())
    route, _ = table.route_in(b"a", encode_client(Bye(3)), 0.0)
    assert route.said_bye
    # while the route lives the broker answers (ProtocolError, §1.1); once forgotten, the relay does
    assert table.expire(5.0) == [route]
    with pytest.raises(ProtocolError):
        table.route_in(b"a", encode_client(Ping(4)), 6.0)


def test_peek_reads_type_and_request_id_and_survives_garbage():
    assert peek(encode_client(Request(7, "status", {}))) == ("REQUEST", 7)
    for frames in ([], [b"\xc1"], [b"\xa3abc", b""], [b"\xd4\x00\x00"], [b"\x93" + b"\xa0" * 600]):
        assert peek(frames) == (None, 0)
    assert peek([b"\x93\x01\xa3BYE\xff"]) == ("BYE", 0)  # a negative request id is not one


def test_refusals_are_typed_errors_with_the_request_id():
    frames = refusal_frames(b"id", encode_client(Request(9, "status", {})), Overloaded("full"))
    assert frames[0] == b"id"
    reply = decode_broker(frames[1:])
    assert (reply.TYPE, reply.request_id, reply.kind) == ("ERROR", 9, "Overloaded")


def test_status_feed_beats_in_its_own_epoch_with_service_fields():
    feed = StatusFeed("edge-1", 1000, Identity("relay", 42, "host-a", 100.0))
    first = [Publication.from_frames(f) for f in feed.tick("running", {"clients": 3}, now_s=110.0)]
    second = [Publication.from_frames(f) for f in feed.tick("running", {"clients": 3}, now_s=111.0)]
    assert [p.topic for p in first] == ["sys.hb.relay", "sys.status.relay"]
    assert [p.topic for p in second] == ["sys.hb.relay"]
    hb = first[0]
    assert (hb.type, hb.seq, hb.topic_seq, hb.epoch) == ("HB", 1, 1, feed.epoch)
    assert hb.body["service"] == "relay" and hb.body["name"] == "edge-1" and hb.body["pid"] == 42
    assert hb.body["uptime_s"] == 10.0 and hb.body["state"] == "running"
    assert first[1].body["clients"] == 3 and first[1].type == "SYS"
    assert (second[0].seq, second[0].topic_seq) == (3, 2)
