"""The realtime hot path: table decoders, the publication encoder, the Outbox's flow control, and
end to end that the I/O thread publishes what the control sent (same values, same bytes)."""
from __future__ import annotations

import json
import operator
import random
import threading
import time
import uuid

import pytest
import zmq

from koabus.common.errors import ProtocolError
from koabus.common.protocol import Publication
from koabus.common.protocol.publication import PublicationEncoder
from koabus.metadata import catalog
from koabus.services.broker import decoding
from koabus.services.broker.channels import Outbox
from koabus.services.broker.decoding import FieldTable, make_decoder
from koabus.services.broker.publisher import Sequencer

# raw texts per metadata value kind, as the OCX sends them (signs, padding, blanks, zero times)
_SAMPLES = {
    "price": ["-77100", "+77600", "77000", " 0", "000123"],
    "signed": ["-400", "+3", "0", "-70033816000", " 12"],
    "int": ["7884712", "0", "201", "000042"],
    "float": ["-0.52", "+61.12", "0.00", "100"],
    "time": ["142942", "090003", "000000", "235959"],
    "maybe_time": ["000000", "133453", "090000"],
    "date": ["20240105", "20220118"],
    "code": ["A005930", "005930"],
    "str": [" 2", "x", "", "주식"],
}
# texts a strict parser refuses: the decoder must fall back field by field, as before
_JUNK = ["", "  ", "abc", "12:34", "99999x"]


def _kinds(table: FieldTable):
    cat = catalog()
    return [cat.fid(f).kind if cat.has_fid(f) else "str" for f in table.fids]


def _tables():
    cat = catalog()
    for realtype in cat.realtypes():
        yield realtype.name, FieldTable(realtype.fids, cat)


def _reference(table: FieldTable, raws):
    """Field by field with the per-kind parsers: what the broker published before compiling."""
    return table._decode_guarded(raws)


def test_table_decoders_match_per_field_parsing_for_every_realtime_type():
    rng = random.Random(7)
    checked = 0
    for name, table in _tables():
        kinds = _kinds(table)
        for _ in range(40):
            raws = [rng.choice(_SAMPLES.get(kind, [""])) for kind in kinds]
            if rng.random() < 0.3:  # some rows with unreadable or blank fields
                raws[rng.randrange(len(raws))] = rng.choice(_JUNK)
            got = table.decode(raws)
            assert got == _reference(table, raws), (name, raws)
            assert list(got[0]) == list(table.names)  # key order kept: metadata order
            checked += 1
    assert checked == 40 * len(list(catalog().realtypes()))


def test_recorded_payloads_decode_as_before(shared_reference):
    path = shared_reference / "recorded-traces" / "mock-server-2022-01-18.json"
    events = json.loads(path.read_text(encoding="utf-8"))["traces"]["realtime_005930"]
    cat = catalog()
    seen = set()
    for event in events:
        code, type_name, payload = event["args"]
        table = FieldTable(cat.realtype(type_name).fids, cat)
        raws = payload.split("\t")
        assert table.size - 1 <= len(raws) <= table.size  # the mock server may omit the newest FID
        raws += [""] * (table.size - len(raws))  # as reading a missing FID gives
        values, bad = table.decode(raws)
        assert (values, bad) == _reference(table, raws) and bad == 0
        seen.add(type_name)
    assert seen == {"주식체결", "주식우선호가"}


def test_time_memo_keeps_zero_times_apart():
    """'000000' is midnight for a time field but None for a maybe-time field, memo or not."""
    table = FieldTable([20, 567], catalog())  # trade_time (time), upper_limit_time (maybe_time)
    for _ in range(3):
        values, bad = table.decode(["000000", "000000"])
        assert values == {"trade_time": "00:00:00", "upper_limit_time": None} and bad == 0
    values, _ = table.decode(["090003", "133453"])
    assert values == {"trade_time": "09:00:03", "upper_limit_time": "13:34:53"}


def test_decoder_takes_names_as_plain_keys():
    names = ["a'b", 'q"uote', "back\\slash", "line\nbreak", "__import__('os').getcwd()"]
    decode = make_decoder(names, [str.strip] * len(names))
    assert decode([" 1", "2 ", "3", "4", "5"]) == dict(zip(names, ["1", "2", "3", "4", "5"]))
    with pytest.raises(IndexError):
        decode(["only one"])


@pytest.mark.parametrize("shape", ["template", "comprehension"])
def test_both_decoder_shapes_match_per_field_parsing(shape):
    """The template shape (wide tables, Python 3.11+) and the comprehension decode alike."""
    rng = random.Random(11)
    call = getattr(operator, "call", None) or (lambda f, x: f(x))
    decoded = 0
    for name, table in _tables():
        hot = tuple(decoding._hot_parser(p) for p in table._strict)
        decode = (decoding._template_decoder(table.names, hot, call) if shape == "template"
                  else decoding._comprehension_decoder(table.names, hot))
        kinds = _kinds(table)
        for _ in range(10):
            raws = [rng.choice(_SAMPLES.get(kind, [""])) for kind in kinds]
            try:
                got = decode(raws)
            except (ValueError, TypeError, AttributeError):
                continue  # a blank number: the guarded path's business
            assert got == _reference(table, raws)[0] and list(got) == list(table.names), (name, raws)
            decoded += 1
        with pytest.raises(IndexError):
            decode(raws[:-1])
    assert decoded > 5 * len(list(catalog().realtypes()))


# ------------------------------------------------------------------------------------------ encoding

def _bodies():
    _, table = next(t for t in _tables() if t[0] == "주식체결")
    raws = [_SAMPLES.get(k, [""])[0] for k in _kinds(table)]
    return [
        {"type": "주식체결", "code": "005930", "values": table.decode(raws)[0]},
        {},
        {"nested": [1, -2, 2 ** 40, None, True, 1.5, "텍스트", b"\x00\xff"], "big": 2 ** 63 - 1},
    ]


def test_encoder_frames_are_byte_identical_to_publication_frames():
    encoder = PublicationEncoder()
    for n, body in enumerate(_bodies(), 1):
        for event_ns in (None, 1_700_000_000_123_456_789):
            args = ("rt.trade.005930", "RT", 2 ** 62 + 5, 1000 + n, n, event_ns, 1_700_000_000_000_000_001)
            expected = Publication(*args, body).to_frames()
            assert encoder.frames(*args, body) == expected
            assert Publication.from_frames(encoder.frames(*args, body)) == Publication(*args, body)


def test_sequencer_frames_match_published_messages_and_keep_numbers():
    fast, reference = Sequencer(epoch=42), Sequencer(epoch=42)
    for n, body in enumerate(_bodies() * 3):
        topic = f"rt.trade.{n % 2}"
        frames = fast.frames(topic, "RT", body, n, recv_ns=10 ** 18 + n)
        assert frames == reference.publish(topic, "RT", body, n, recv_ns=10 ** 18 + n).to_frames()
    assert fast.seq == reference.seq == 9 and fast.topic_counts("rt.") == {"rt.trade.0": 5, "rt.trade.1": 4}
    snapshot, seq = fast.snapshot("rt.")
    assert seq == 9 and [p.seq for p in snapshot] == [8, 9]
    assert snapshot == reference.snapshot("rt.")[0]


def test_unencodable_body_uses_no_sequence_number():
    seq = Sequencer(epoch=1)
    seq.frames("rt.a", "RT", {"x": 1}, None)
    with pytest.raises(ProtocolError):
        seq.frames("rt.a", "RT", {"x": object()}, None)
    with pytest.raises(UnicodeEncodeError):
        seq.frames("rt.한", "RT", {"x": 1}, None)
    env = Publication.from_frames(seq.frames("rt.a", "RT", {"x": 2}, None))
    assert (env.seq, env.topic_seq) == (2, 2)  # no gap for subscribers


# ------------------------------------------------------------------------------------------ flow control

@pytest.fixture
def outbox():
    ctx = zmq.Context.instance()
    endpoint = f"inproc://test-outbox-{uuid.uuid4().hex}"
    bell = ctx.socket(zmq.PULL)
    bell.setsockopt(zmq.LINGER, 0)
    bell.bind(endpoint)
    box = Outbox(ctx, endpoint, max_items=50, pause_above=10, pause_max_s=5.0, batch=4)
    box.open()
    yield box
    box.close()
    bell.close(0)


def test_producer_pauses_above_the_mark_until_the_consumer_works_it_down(outbox):
    outbox.consuming = True
    for i in range(10):
        assert outbox.put(i, droppable=True)
    assert outbox.pauses == 0
    done = threading.Event()

    def produce():
        outbox.put(10, droppable=True)
        done.set()

    producer = threading.Thread(target=produce, daemon=True)
    started = time.monotonic()
    producer.start()
    deadline = time.monotonic() + 5.0
    while outbox.pauses == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert outbox.pauses == 1 and not done.is_set()
    taken = []
    while not done.is_set() and time.monotonic() < deadline:  # the consumer drains in batches of 4
        taken += outbox.drain()
        time.sleep(0.001)
    producer.join(5.0)
    taken += outbox.drain()
    assert done.is_set() and time.monotonic() - started < 4.0  # released, not timed out
    assert taken == list(range(11)) and outbox.dropped == 0


def test_pause_is_bounded_and_only_with_a_running_consumer(outbox):
    for i in range(12):  # no consumer: never waits
        outbox.put(i, droppable=True)
    assert outbox.pauses == 0
    outbox.consuming, outbox.pause_max_s = True, 0.05
    started = time.monotonic()
    assert outbox.put(12, droppable=True)  # nobody drains: waits its bound, then queues
    assert 0.04 <= time.monotonic() - started < 2.0 and outbox.pauses == 1
    outbox.put("reply", droppable=False)  # replies never wait
    assert outbox.pauses == 1 and len(outbox) == 14


def test_full_outbox_refuses_realtime(outbox):
    outbox.pause_above = outbox.max_items
    for i in range(outbox.max_items):
        outbox.put(i, droppable=True)
    assert not outbox.put("one more", droppable=True) and outbox.dropped == 1
    assert outbox.put("a reply", droppable=False) and len(outbox) == outbox.max_items + 1


# ------------------------------------------------------------------------------------------ end to end

def test_published_values_are_the_controls_payload_decoded(stack):
    """Spy on the control's signal: every publication is that exact payload, decoded and numbered."""
    sent = []
    stack.control.OnReceiveRealData.connect(lambda code, kind, payload: sent.append((code, kind, payload)))
    c = stack.client()
    c.subscribe_pub("rt.trade.005930")
    c.pump(0.2)
    c.result("subscribe", {"codes": ["005930"], "types": ["trade"]})
    stack.advance(120.0)
    trades = [s for s in sent if s[:2] == ("005930", "주식체결")]
    assert trades
    assert c.wait_for(lambda: len(c.pubs_on("rt.trade.005930")) >= len(trades), 3.0)
    pubs = c.pubs_on("rt.trade.005930")
    table = FieldTable(catalog().realtype("주식체결").fids, catalog())
    for (code, kind, payload), pub in zip(trades, pubs):
        assert pub.body == {"type": kind, "code": code, "values": _reference(table, payload.split("\t"))[0]}
    assert [p.topic_seq for p in pubs] == list(range(1, len(pubs) + 1))
    last = pubs[-1].body["values"]["current_price"]
    assert stack.broker.core.price_hint("005930") == last
    status = c.result("status", {})
    assert status["counters"]["realtime_parse_failures"] == 0


def test_payload_off_layout_is_read_fid_by_fid_inside_the_event(stack):
    c = stack.client()
    c.subscribe_pub("rt.trade.000660")
    c.pump(0.2)
    c.result("subscribe", {"codes": ["000660"], "types": ["trade"]})
    calls = stack.broker.core.adapter.calls
    before = calls["GetCommRealData"]
    table = FieldTable(catalog().realtype("주식체결").fids, catalog())
    stack.control.OnReceiveRealData.emit("000660", "주식체결", "not\tthe\tlayout")
    assert calls["GetCommRealData"] - before == table.size  # read while the event was current
    assert c.wait_for(lambda: c.pubs_on("rt.trade.000660"), 3.0)
    pub = c.pubs_on("rt.trade.000660")[-1]
    assert pub.body["code"] == "000660" and list(pub.body["values"]) == list(table.names)
