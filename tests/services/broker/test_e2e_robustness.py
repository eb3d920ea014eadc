"""End to end: malformed, oversized, unknown and mistyped input, floods, and a hypothesis fuzz; the broker keeps serving."""
from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.services.broker.conftest import start_stack


def _pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def _error_for(client, frames, timeout_s=2.0):
    before = len(client.inbox)
    client.send_raw(frames)
    assert client.wait_for(lambda: len(client.inbox) > before, timeout_s), f"no answer to {frames!r}"
    return client.inbox[-1]


@pytest.mark.parametrize("frames, kind, rid", [
    ([b"garbage"], "ProtocolError", 0),
    ([b"\xc1", b"\x80"], "ProtocolError", 0),  # 0xc1 is never valid msgpack
    ([_pack([1, "REQUEST"]), _pack({})], "ProtocolError", 0),
    ([_pack([1, "REQUEST", 5]), _pack([1, 2])], "ProtocolError", 5),
    ([_pack([2, "REQUEST", 6]), _pack({"op": "status"})], "VersionMismatch", 6),
    ([_pack([1, "EXPLODE", 7]), _pack({})], "ProtocolError", 7),
    ([_pack([1, "REQUEST", 8]), _pack({"op": 42})], "ProtocolError", 8),
    ([_pack([1, "REQUEST", 9]), _pack({"op": "teleport", "args": {}})], "InvalidRequest", 9),
    ([_pack([1, "REQUEST", 10]), _pack({"op": "tr", "args": {"code": 10001}})], "InvalidRequest", 10),
    ([_pack([1, "REQUEST", 11]), _pack({"op": "subscribe", "args": {"codes": "005930"}})], "InvalidRequest", 11),
    ([_pack([1, "REQUEST", 12]), _pack({"op": "status", "args": {}}), b"extra"], "ProtocolError", 12),  # its own id: the envelope reads
    ([_pack([1, "REQUEST", 13]), b"\xd4\x01\x00"], "ProtocolError", 13),  # an ext type
    ([_pack([1, "REQUEST", 14]), _pack({"op": "status", "args": {"x": "y" * (2 << 20)}})], "MessageTooLarge", 14),
])
def test_bad_input_gets_typed_errors(stack, frames, kind, rid):
    c = stack.client()
    reply = _error_for(c, frames)
    assert reply.TYPE == "ERROR" and reply.kind == kind and reply.request_id == rid, reply
    status = c.result("status")
    assert status["counters"]["errors"] >= 1 and status["counters"][f"error.{kind}"] >= 1


def test_flood_is_refused_with_overloaded_and_service_continues(qapp):
    stack = start_stack(qapp, max_inflight_per_client=20)
    try:
        c = stack.client()
        rids = [c.send("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}}) for _ in range(60)]
        for _ in range(20):  # the accepted ones are paced on the frozen virtual clock: step it
            stack.advance(0.5)
            if all(any(m.TYPE in ("END", "ERROR") for m in c.messages_for(r)) for r in rids):
                break
        kinds = [[m for m in c.messages_for(r) if m.TYPE in ("END", "ERROR")][0] for r in rids]
        overloaded = [m for m in kinds if m.TYPE == "ERROR" and m.kind == "Overloaded"]
        assert overloaded, "requests beyond the in-flight quota are refused"
        assert len(overloaded) < 60
        assert c.result("status")["connected"]
        other = stack.client("other")
        rid = other.send("tr", {"code": "opt10001", "inputs": {"종목코드": "000660"}})
        stack.advance(1.1)
        assert other.wait_final(rid, 5)[-1].TYPE == "END"
    finally:
        stack.close()


def test_pacing_fifty_queued_trs_never_hit_the_limit(qapp):
    stack = start_stack(qapp, pacing={"tr_backoff_s": 2.0})
    try:
        a, b = stack.client("a"), stack.client("b")
        a.subscribe_pub("sys.throttle")
        a.pump(0.2)
        rids = [(a if i % 2 else b, (a if i % 2 else b).send(
            "tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}})) for i in range(50)]
        for _ in range(40):
            stack.advance(0.5)
            if all(any(m.TYPE == "END" for m in cl.messages_for(r)) for cl, r in rids):
                break
        finals = [[m for m in cl.messages_for(r) if m.TYPE in ("END", "ERROR")] for cl, r in rids]
        assert all(f and f[0].TYPE == "END" for f in finals), finals
        assert stack.sim.stats.tr_rejected == 0
        assert not [k for k in stack.broker.core.counters if k.startswith("overload.")]
        states = [p.body["state"] for p in a.pubs_on("sys.throttle")]
        assert states[:1] == ["start"] and states[-1] == "end"
        # if the server says -200 anyway, the broker backs off and retries the same call
        stack.sim.overflow_next(1)
        rid = a.send("tr", {"code": "opt10001", "inputs": {"종목코드": "000660"}})
        for _ in range(10):
            stack.advance(0.5)
        msgs = a.wait_final(rid, 3.0)
        assert msgs[-1].TYPE == "END"
        assert stack.broker.core.counters["overload.-200"] == 1
    finally:
        stack.close()


_int64 = st.integers(-(1 << 63), (1 << 63) - 1)
_frame = st.one_of(
    st.binary(max_size=64),
    st.builds(_pack, st.lists(st.one_of(st.integers(-3, 3), st.sampled_from(["REQUEST", "PING", "HELLO", "X"]),
                                        st.none()), max_size=4)),
    st.builds(_pack, st.dictionaries(st.sampled_from(["op", "args", "deadline_ms", "idem_key", "versions"]),
                                     st.one_of(_int64, st.text(max_size=8), st.none(),
                                               st.lists(_int64, max_size=3),
                                               st.dictionaries(st.text(max_size=4), _int64, max_size=3)),
                                     max_size=4)),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames=st.lists(_frame, min_size=1, max_size=4))
def test_fuzz_random_frames(fuzz_stack, frames):
    c = fuzz_stack.clients[1]
    c.send_raw(frames)
    c.pump(0.002)


@pytest.fixture(scope="module")
def fuzz_stack(qapp):
    stack = start_stack(qapp)
    stack.client("fuzzer")
    try:
        yield stack
    finally:
        # after the fuzz, a fresh client is served correctly
        checker = stack.client("checker")
        checker.hello()
        status = checker.result("status")
        assert status["connected"] and status["counters"]["errors"] > 0
        final, parts = checker.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}}, timeout_s=5)
        assert final.TYPE == "END" and parts[0].data["single"]["종목코드"] == "005930"
        stack.close()


# -- fuzz over the real ops: right names, random and wrongly typed arguments ---------------------
from koabus.services.broker.requests import OPS  # noqa: E402

_FUZZ_OPS = sorted(op for op in OPS if op != "shutdown")  # shutdown would end the test's broker
_value = st.recursive(
    st.one_of(st.none(), st.booleans(), _int64, st.floats(allow_nan=True), st.text(max_size=12),
              st.binary(max_size=8), st.sampled_from(["005930", "opt10001", "trade", "buy", "03", "", "_"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=8,
)


@st.composite
def _op_request(draw):
    op = draw(st.sampled_from(_FUZZ_OPS))
    names = sorted(OPS[op]) + ["extra", "codes", "method"]
    args = draw(st.dictionaries(st.sampled_from(names), _value, max_size=len(names)))
    return op, args


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=_op_request())
def test_fuzz_real_ops_with_random_arguments(op_fuzz_stack, request):
    op, args = request
    c = op_fuzz_stack.clients[1]
    rid = c.next_id()
    try:
        frames = [_pack([1, "REQUEST", rid]), _pack({"op": op, "args": args})]
    except (TypeError, ValueError, OverflowError):
        return  # not representable in msgpack: nothing to send
    c.send_raw(frames)
    c.pump(0.003)
    op_fuzz_stack.sent.append(rid)


@pytest.fixture(scope="module")
def op_fuzz_stack(qapp):
    stack = start_stack(qapp)
    stack.client("op-fuzzer")
    stack.sent = []
    try:
        yield stack
    finally:
        try:
            fuzzer = stack.clients[1]
            fuzzer.pump(0.5)
            errors = [m for m in fuzzer.inbox if m.TYPE == "ERROR"]
            assert not [e for e in errors if e.kind == "KoabusError"], "an internal error escaped"
            checker = stack.client("checker")
            status = checker.result("status")
            assert status["connected"] and status["state"] == "connected"
            # every ERROR the fuzzer got is counted, by kind
            assert errors and status["counters"]["errors"] >= len(errors)
            for kind in {e.kind for e in errors}:
                assert status["counters"][f"error.{kind}"] >= 1, kind
            assert status["counters"].get("error.InvalidRequest", 0) >= 1
            assert stack.broker.core.counters.get("handler_errors", 0) == 0
            final, parts = checker.call("tr", {"code": "opt10001", "inputs": {"종목코드": "005930"}}, timeout_s=5)
            assert final.TYPE == "END" and parts[0].data["single"]["종목코드"] == "005930"
        finally:
            stack.close()
