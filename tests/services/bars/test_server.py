"""The bars ROUTER's protocol subset and the publisher's snapshot, on real frames (no sockets needed)."""
from __future__ import annotations

from datetime import datetime

import pandas as pd

from koabus.common.clock import KST
from koabus.common.protocol import (
    End,
    ErrorReply,
    Hello,
    Part,
    Ping,
    Pong,
    Publication,
    Reply,
    Request,
    Welcome,
    decode_broker,
    encode_client,
)
from koabus.services.bars import backfill
from koabus.services.bars.core import Bar
from koabus.services.bars.server import BarPublisher, RequestHandler


def at(hh, mm):
    return datetime(2026, 12, 2, hh, mm, tzinfo=KST)


def bar(code, start_mm, final, volume=1):
    return Bar(code, 60, at(9, start_mm), at(9, start_mm + 1), 10, 12, 9, 11, volume, 11 * volume, 1, final, False)


def setup():
    sent = []
    publisher = BarPublisher(lambda frames: sent.append(frames) or True, epoch=77)
    handler = RequestHandler(publisher, lambda: {"service": "bars"}, name="bars-test")
    return sent, publisher, handler


def answer(handler, msg):
    return [decode_broker(frames) for frames in handler.handle(encode_client(msg))]


def test_hello_ping_and_status_speak_the_brokers_protocol():
    _, publisher, handler = setup()
    (welcome,) = answer(handler, Hello(1, (1,), "me"))
    assert isinstance(welcome, Welcome) and welcome.epoch == 77 and welcome.broker == "bars-test"
    publisher.publish_bar(bar("A", 0, False))
    (pong,) = answer(handler, Ping(2))
    assert isinstance(pong, Pong) and (pong.epoch, pong.seq) == (77, 1)
    (reply,) = answer(handler, Request(3, "status"))
    assert isinstance(reply, Reply) and reply.result == {"service": "bars"}


def test_snapshot_holds_the_bars_in_progress_only():
    sent, publisher, handler = setup()
    publisher.publish_bar(bar("A", 0, False))
    publisher.publish_bar(bar("B", 0, False, volume=5))
    publisher.publish_bar(bar("A", 0, True))  # A's bar closed: no longer in progress
    publisher.publish_bar(bar("B", 0, False, volume=7))
    msgs = answer(handler, Request(4, "snapshot", {"prefix": "bar.1m."}))
    assert [type(m) for m in msgs] == [Part, End]
    item = Publication.from_dict(msgs[0].data)
    assert (item.topic, item.body["volume"], item.seq) == ("bar.1m.B", 7, 4)
    assert msgs[1].parts == 1 and msgs[1].result == {"epoch": 77, "seq": 4}
    assert [Publication.from_frames(f).topic for f in sent] == ["bar.1m.A", "bar.1m.B", "bar.1m.A", "bar.1m.B"]
    assert Publication.from_frames(sent[2]).event_ns == int(at(9, 1).timestamp()) * 10**9  # final: its end


def test_other_ops_and_garbage_are_refused_with_typed_errors():
    _, _, handler = setup()
    (error,) = answer(handler, Request(5, "order", {"code": "A"}))
    assert isinstance(error, ErrorReply) and error.kind == "InvalidRequest" and error.details["ops"]
    (bad,) = [decode_broker(f) for f in handler.handle([b"\x93", b"\x80"])]
    assert isinstance(bad, ErrorReply) and bad.kind == "ProtocolError"
    assert handler.refused == 2


def test_minute_tr_rows_become_bars_of_the_minute_before_their_label():
    frame = pd.DataFrame({"현재가": [-101, 102, 103], "거래량": [5, 6, 7], "시가": [100, 101, 102],
                          "고가": [-105, 106, 107], "저가": [99, 100, 101]},
                         index=pd.DatetimeIndex([pd.Timestamp("2026-12-01 15:30", tz="Asia/Seoul"),
                                                 pd.Timestamp("2026-12-02 09:01", tz="Asia/Seoul"),
                                                 pd.Timestamp("2026-12-02 09:02", tz="Asia/Seoul")], name="체결시간"))
    bars = backfill.minute_bars("A", frame, at(9, 0).date(), until=at(9, 1))
    assert bars == [Bar("A", 60, at(9, 0), at(9, 1), 101, 106, 100, 102, 6, 612, 0, True, False)]
    assert backfill.boundary(datetime(2026, 12, 2, 9, 0, 59, tzinfo=KST)) == at(9, 1)
