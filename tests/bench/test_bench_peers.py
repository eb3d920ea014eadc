"""bench_peers in a tiny mode: the gRPC peer streams exactly what its control fed it, and the run returns
every figure the report reads, positive and finite (no timing asserts: speed is measured in bench/)."""

from __future__ import annotations

import json
import math

import pytest

from bench import bench_peers, report
from bench.peers import messages


@pytest.fixture(scope="module")
def tiny():
    """One whole run at a low rate with two subscribers per design and the gRPC peer keeping CRCs. The
    window holds enough events for the CPU figures to clear /proc's 10 ms resolution on a fast machine
    (at 400 events/s over 0.4 s the broker's net CPU could read 0, and its figure None)."""
    return bench_peers.run(
        offered_eps=2000,
        counts=(2,),
        window_s=1.0,
        warmup_s=0.2,
        meta_requests=20,
        tr_requests=3,
        ceiling_count=0,
        check=True,
        codes=["005930", "000660"],
    )


def test_grpc_peer_streams_every_fed_event_unchanged(tiny):
    grpc = tiny["fanout"]["grpc"]["2_sub"]
    assert grpc["fed"] > 0
    assert grpc["streams_ended"] is True  # each stream ended on the stop marker, behind every event
    assert grpc["received_per_subscriber"] == [grpc["fed"], grpc["fed"]]
    assert grpc["received_crc"] == [grpc["fed_crc"], grpc["fed_crc"]]


def test_zmq_designs_lose_nothing(tiny):
    for design in ("koabus", "koabus_batched", "bare"):
        f = tiny["fanout"][design]["2_sub"]
        assert f["gaps"] == 0
        assert f["received_per_subscriber"][0] == f["received_per_subscriber"][1] > 0


def _finite_positive(value):
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_batched_subscribers_got_several_events_per_message(tiny):
    f = tiny["fanout"]["koabus_batched"]["2_sub"]
    assert all(0 < b < n for b, n in zip(f["batches_per_subscriber"], f["received_per_subscriber"]))


def test_figures_are_present_and_sane(tiny):
    for design in ("koabus", "koabus_batched", "grpc", "bare"):
        f = tiny["fanout"][design]["2_sub"]
        keys = [
            "delivered_in_window",
            "rate_per_subscriber_eps",
            "events_per_cpu_s",
            "latency_p50_us",
            "latency_p99_us",
        ] + (["events_per_net_cpu_s"] if design != "bare" else [])
        for key in keys:
            assert _finite_positive(f[key]), (design, key, f[key])
        assert f["latency_p50_us"] <= f["latency_p99_us"] <= f["latency_max_us"]
    rtt = tiny["round_trip"]
    for figures in (
        rtt["bare_echo"]["meta"],
        rtt["koabus"]["meta_raw"],
        rtt["koabus"]["meta_sdk"],
        rtt["koabus"]["tr_raw"],
        rtt["koabus"]["tr_sdk"],
        rtt["grpc"]["meta"],
        rtt["grpc"]["tr"],
    ):
        assert _finite_positive(figures["p50_us"]) and figures["p50_us"] <= figures["p99_us"]
    summary = tiny["summary"]
    assert _finite_positive(tiny["source"]["cpu_per_event_us"])
    for key in (
        "koabus_to_grpc_events_per_cpu",
        "koabus_to_bare_events_per_cpu",
        "koabus_to_grpc_events_per_net_cpu",
        "batched_to_grpc_events_per_cpu",
        "batched_to_grpc_events_per_net_cpu",
    ):
        assert _finite_positive(summary["2_sub"][key])
    for key in ("koabus_meta_raw_to_echo", "grpc_meta_to_echo", "grpc_tr_to_koabus_tr_raw"):
        assert _finite_positive(summary["round_trip"][key])


def test_report_renders_the_run(tiny, tmp_path):
    results = tmp_path / "run.json"
    results.write_text(json.dumps({"benchmarks": {"bench_peers": tiny}}), encoding="utf-8")
    doc = report.write_report([results], tmp_path / "benchmarks.md")
    text = doc.read_text(encoding="utf-8")
    assert "## Machine" in text and "## Peers" in text
    ratio = tiny["summary"]["2_sub"]["koabus_to_grpc_events_per_cpu"]
    assert f"| 2 | single | {report._fmt(ratio)} |" in text
    batched = tiny["summary"]["2_sub"]["batched_to_grpc_events_per_cpu"]
    assert f"| 2 | batched | {report._fmt(batched)} |" in text and "koabus, batched (§4.3)" in text


def test_koapy_messages_round_trip():
    response = messages.ListenResponse(name="OnReceiveRealData")
    response.arguments.add().string_value = "005930"
    response.arguments.add().long_value = 2**62
    response.single_data.names.extend(["20", "10"])
    response.single_data.values.extend(["090001", "+70000"])
    response.multi_data.values.add().values.extend(["a", "b"])
    back = messages.ListenResponse.FromString(response.SerializeToString())
    assert back == response
    assert [messages.argument_value(a) for a in back.arguments] == ["005930", 2**62]
    request = messages.tr_request("rq", "opt10001", "0101", {"종목코드": "005930"})
    assert dict(messages.TransactionCallRequest.FromString(request.SerializeToString()).inputs) == {
        "종목코드": "005930"
    }
