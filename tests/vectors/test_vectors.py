"""The conformance vectors against the code: the files are what the codec produces, the Python codec
decodes and re-encodes every valid vector exactly, refuses every invalid one with the stated error,
and a real broker answers every invalid request with the stated typed error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from koabus.common.errors import KoabusError
from koabus.common.protocol.codec import unpack
from koabus.common.protocol.constants import PROTOCOL_VERSION
from koabus.common.protocol.messages import (
    Request,
    decode_broker,
    decode_client,
    encode_broker,
    encode_client,
)
from koabus.common.protocol.publication import Publication, PublicationEncoder
from tests.vectors import generate
from tests.vectors.generate import CATEGORIES, files_on_disk, to_json

REPO = Path(__file__).resolve().parents[2]
VECTORS: List[Dict[str, Any]] = [json.loads(text) for text in files_on_disk().values()]
VALID = [v for v in VECTORS if v["valid"]]
INVALID = [v for v in VECTORS if not v["valid"]]
BROKER_BOUND = [v for v in INVALID if v["channel"] == "router" and v["direction"] == "to_broker"]


def _ids(vectors: List[Dict[str, Any]]) -> List[str]:
    return [v["name"] for v in vectors]


def _same(got: Any, want: Any) -> bool:
    """Equal as the vectors mean it: JSON text compared, so 0 and 0.0 (int and float) differ."""
    return json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def _frames(vector: Dict[str, Any]) -> List[bytes]:
    return [bytes.fromhex(h) for h in vector["frames_hex"]]


# -- (1) the files are what the code produces ---------------------------------------------------------

def test_files_equal_what_the_generator_produces():
    assert generate.differences() == [], "run: python -m tests.vectors.generate"


def test_check_mode_exits_nonzero_when_a_file_drifts(tmp_path):
    generate.write(tmp_path)
    assert generate.differences(tmp_path) == []
    victim = tmp_path / "request" / "request-status.json"
    victim.write_text(victim.read_text(encoding="utf-8").replace('"status"', '"statuz"'), encoding="utf-8")
    (tmp_path / "pub" / "pub-left-over.json").write_text("{}\n", encoding="utf-8")
    assert generate.differences(tmp_path) == ["stale: pub/pub-left-over.json", "differs: request/request-status.json"]


def test_check_command_passes_on_the_checked_in_files():
    done = subprocess.run([sys.executable, "-m", "tests.vectors.generate", "--check"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_category_has_vectors_and_names_are_unique():
    assert {v["category"] for v in VECTORS} == set(CATEGORIES)
    assert len(set(_ids(VECTORS))) == len(VECTORS)
    for path, text in files_on_disk().items():
        vector = json.loads(text)
        assert path == f"{vector['category']}/{vector['name']}.json"
        assert vector["valid"] is (vector["category"] != "invalid") and (vector["error"] is None) is vector["valid"]
    named = {name for names in generate.REFUSED_AT.values() for name in names}
    assert named <= set(_ids(INVALID)), named - set(_ids(INVALID))


# -- (2) valid vectors decode to "decoded" and re-encode to the same bytes -------------------------------

@pytest.mark.parametrize("vector", VALID, ids=_ids(VALID))
def test_valid_vector_decodes_and_reencodes_exactly(vector):
    frames = _frames(vector)
    if vector["channel"] == "router":
        to_broker = vector["direction"] == "to_broker"
        msg = (decode_client if to_broker else decode_broker)(frames)
        typed = {"envelope": [PROTOCOL_VERSION, msg.TYPE, to_json(msg.request_id)], "body": to_json(msg.body())}
        plain = {"envelope": to_json(unpack(frames[0], 1 << 30)), "body": to_json(unpack(frames[1], 1 << 30))}
        assert _same(plain, vector["decoded"])
        ignored = vector.get("ignored_keys", [])
        known = {k: v for k, v in vector["decoded"]["body"].items() if k not in ignored}
        assert _same(typed, {**vector["decoded"], "body": known})
        encoded = (encode_client if to_broker else encode_broker)(msg)
        assert encoded == frames if not ignored else encoded[0] == frames[0]
    else:
        p = Publication.from_frames(frames)
        typed = {"topic": p.topic, "body": to_json(p.body),
                 "envelope": to_json([PROTOCOL_VERSION, p.type, p.epoch, p.seq, p.topic_seq, p.event_ns, p.recv_ns])}
        assert _same(typed, vector["decoded"])
        assert p.to_frames() == frames
        assert PublicationEncoder().frames(p.topic, p.type, p.epoch, p.seq, p.topic_seq, p.event_ns, p.recv_ns,
                                           p.body) == frames


@pytest.mark.parametrize("vector", [v for v in VALID if v["category"] == "snapshot" and
                                    v["decoded"]["envelope"][1] == "PART"],
                         ids=_ids([v for v in VALID if v["category"] == "snapshot" and
                                   v["decoded"]["envelope"][1] == "PART"]))
def test_snapshot_part_items_are_publications(vector):
    item = decode_broker(_frames(vector)).data
    p = Publication.from_dict(item)
    assert p.to_dict() == item


# -- (3) invalid vectors are refused by the decoder with the stated error --------------------------------

def _decoder_case(vector):
    reason = vector.get("known_decoder_deviation")
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(vector, id=vector["name"], marks=marks)


@pytest.mark.parametrize("vector", [_decoder_case(v) for v in INVALID])
def test_invalid_vector_is_refused_by_the_decoder(vector):
    frames = _frames(vector)
    with pytest.raises(KoabusError) as refused:
        if vector["channel"] == "pub":
            Publication.from_frames(frames)
        elif vector["direction"] == "to_broker":
            decode_client(frames)
        else:
            decode_broker(frames)
    error = vector["error"]
    assert (refused.value.kind, refused.value.details.get("request_id")) == (error["kind"], error["request_id"])


# -- (4) a real broker answers the invalid requests with the stated typed error --------------------------

@pytest.fixture(scope="module")
def broker_stack(qapp):
    from tests.services.broker.conftest import start_stack

    stack = start_stack(qapp, heartbeat_ms=100)  # heartbeats run on the wall clock
    try:
        yield stack
    finally:
        stack.close()


def _broker_case(vector):
    reason = vector.get("known_broker_deviation")
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(vector, id=vector["name"], marks=marks)


@pytest.mark.parametrize("vector", [_broker_case(v) for v in BROKER_BOUND])
def test_broker_answers_invalid_request_with_the_stated_error(broker_stack, vector):
    client = broker_stack.client(vector["name"], pub=False)
    client.send_raw(_frames(vector))
    assert client.wait_for(lambda: len(client.inbox) >= 1, 5.0), "the broker did not answer"
    reply = client.inbox[0]
    want_id = vector["error"]["request_id"] or 0
    assert (reply.TYPE, reply.kind, reply.request_id) == ("ERROR", vector["error"]["kind"], want_id), reply
    probe = Request(1 << 40, "status", {})  # an id no vector uses: the answer cannot be mistaken
    client.send_raw(encode_client(probe))
    final = client.wait_final(probe.request_id)[-1]
    assert final.TYPE == "REPLY" and final.result["connected"] is True  # it keeps serving that client


# -- (5) a real broker understands every valid request and answers with the vectors' shapes --------------

#: requests left out: they end the session or the broker, or place orders on the simulated account
NOT_SENT = {"bye", "cancel", "request-shutdown", "request-order", "request-cancel-order", "request-modify-order"}
TO_BROKER = [v for v in VALID if v["direction"] == "to_broker" and v["name"] not in NOT_SENT]
FRAME_ERRORS = {"ProtocolError", "MessageTooLarge", "VersionMismatch"}


#: request vector -> the vector of the answer the simulated broker gives it
ANSWERS = {"hello": "welcome", "hello-future-version": "error-no-common-version", "ping": "pong", "request-login": "reply-login", "request-call": "reply-call",
           "request-meta-fid": "reply-meta-fid", "request-subscribe": "reply-subscribe",
           "request-unsubscribe": "reply-unsubscribe", "request-condition-load": "reply-condition-load",
           "request-condition-list": "reply-condition-list", "request-condition-search": "reply-condition-search",
           "request-condition-watch": "reply-condition-watch", "request-condition-stop": "reply-condition-stop",
           "request-kwfid": "end-kwfid", "request-tr-opt10081": "end-tr-opt10081", "snapshot-request": "snapshot-end"}

FIRST_PARTS = {"request-kwfid": "part-kwfid-chunk0", "request-tr-opt10081": "part-tr-opt10081-page0"}


def _shape(value: Any, depth: int = 3) -> Any:
    """The field names and value kinds of an answer, not its values (`depth` levels of maps)."""
    if isinstance(value, dict) and "$int" in value:
        return "int"
    if isinstance(value, dict):
        return {k: _shape(v, depth - 1) for k, v in value.items()} if depth > 0 else "dict"
    if isinstance(value, list):
        return "list"  # items vary (empty message lists, rows of any width)
    return "null" if value is None else type(value).__name__


def _same_shape(got: Any, want: Any) -> bool:
    """Shapes equal, where nil on either side stands for any kind (an optional value not known yet)."""
    if "null" in (got, want):
        return True
    if isinstance(got, dict) and isinstance(want, dict):
        return sorted(got) == sorted(want) and all(_same_shape(got[k], want[k]) for k in got)
    return got == want


def _vector(name: str) -> Dict[str, Any]:
    return next(v for v in VECTORS if v["name"] == name)


@pytest.mark.parametrize("vector", TO_BROKER, ids=_ids(TO_BROKER))
def test_broker_understands_valid_request(broker_stack, vector):
    client = broker_stack.client(vector["name"], pub=False)
    client.send_raw(_frames(vector))
    rid = decode_client(_frames(vector)).request_id
    final_types = ("WELCOME", "PONG", "REPLY", "END", "ERROR")
    done = lambda: any(m.TYPE in final_types for m in client.messages_for(rid))  # noqa: E731
    for _ in range(200):  # TR and condition pacing run on the simulator's virtual clock
        if done():
            break
        broker_stack.advance(0.5, pump_s=0.01)
    assert done(), f"no final answer to {vector['name']}"
    final = next(m for m in client.messages_for(rid) if m.TYPE in final_types)
    if vector["name"] != "hello-future-version":
        assert not (final.TYPE == "ERROR" and final.kind in FRAME_ERRORS), final
    answer = ANSWERS.get(vector["name"])
    if answer:  # the broker's real answer has the type and the fields of the vector's
        want = _vector(answer)["decoded"]
        assert final.TYPE == want["envelope"][1] and sorted(final.body()) == sorted(want["body"])
        assert _same_shape(_shape(to_json(final.body())), _shape(want["body"])), final
        if final.TYPE == "ERROR":
            assert (final.kind, final.details) == (want["body"]["kind"], want["body"]["details"])
    first_part = FIRST_PARTS.get(vector["name"])
    if first_part:
        part = next(m for m in client.messages_for(rid) if m.TYPE == "PART")
        assert _same_shape(_shape(to_json(part.body())), _shape(_vector(first_part)["decoded"]["body"])), part


def test_broker_heartbeat_has_the_vector_shape(broker_stack):
    client = broker_stack.client("hb", pub=True)
    client.subscribe_pub("sys.hb")
    assert client.wait_for(lambda: client.pubs_on("sys.hb"), 5.0), "no sys.hb heard"
    beat = client.pubs_on("sys.hb")[0]
    want = _vector("pub-hb")["decoded"]
    assert (beat.topic, beat.type) == (want["topic"], want["envelope"][1])
    assert sorted(beat.body) == sorted(want["body"]) and beat.body["epoch"] == beat.epoch
    assert beat.body["seq"] == beat.seq - 1  # the last publication before the beat, as in the vector
    assert want["body"]["seq"] == want["envelope"][3] - 1


def test_broker_snapshot_parts_have_the_vector_shape(broker_stack):
    client = broker_stack.client("snapshot", pub=True)
    client.subscribe_pub("rt.trade.005930")
    assert client.result("subscribe", {"codes": ["005930"], "types": ["trade"]})["registered"] is True
    for _ in range(200):  # trades come from the simulator's virtual market
        if client.pubs_on("rt.trade.005930"):
            break
        broker_stack.advance(0.5, pump_s=0.01)
    live = client.pubs_on("rt.trade.005930")
    assert live, "no trade published"
    vector = _vector("snapshot-request")
    client.send_raw(_frames(vector))
    answers = client.wait_final(decode_client(_frames(vector)).request_id)
    parts = [m for m in answers if m.TYPE == "PART"]
    assert parts and answers[-1].TYPE == "END"
    want = _vector("snapshot-part-0")["decoded"]["body"]
    assert _same_shape(_shape(to_json(parts[0].body()), depth=4), _shape(want, depth=4))
    assert sorted(live[0].body["values"]) == sorted(want["data"]["body"]["values"])  # every 주식체결 FID


def test_broker_order_events_have_the_vector_shape(broker_stack):
    """The order vectors' events, in the order the simulated broker sends them, with the same fields."""
    client = broker_stack.client("order", pub=True)
    client.subscribe_pub("ch.")
    vector = _vector("request-order")
    rid = decode_client(_frames(vector)).request_id
    client.send_raw(_frames(vector))
    events = lambda: [m.data["event"] for m in client.messages_for(rid) if m.TYPE == "PART"]  # noqa: E731
    for _ in range(200):  # the simulated exchange accepts the order on its virtual clock
        if "accepted" in events() or any(m.TYPE in ("END", "ERROR") for m in client.messages_for(rid)):
            break
        broker_stack.advance(0.5, pump_s=0.01)
    parts = [m for m in client.messages_for(rid) if m.TYPE == "PART"]
    assert [p.data["event"] for p in parts] == ["sent", "message", "order_no", "accepted"]
    for part in parts:
        want = _vector(f"part-order-{part.data['event'].replace('_', '-')}")["decoded"]["body"]
        assert part.n == want["n"] and _same_shape(_shape(to_json(part.data)), _shape(want["data"])), part
    assert client.wait_for(lambda: any(p.topic.endswith(".order") for p in client.pubs), 5.0), "no chejan heard"
    chejan = [p for p in client.pubs if p.topic.endswith(".order")]
    want = _vector("pub-chejan-order")["decoded"]
    assert chejan and (chejan[0].topic, chejan[0].type) == (want["topic"], want["envelope"][1])
    assert _same_shape(_shape(to_json(chejan[0].body)), _shape(want["body"]))
    assert sorted(chejan[0].body["values"]) == sorted(want["body"]["values"])
    status = client.result("order_status", {"client_order_id": parts[0].data["client_order_id"]})
    assert _same_shape(_shape(to_json(status)), _shape(_vector("reply-order-status")["decoded"]["body"]["result"])), \
        status
