"""The Node.js client (clients/node) decodes every conformance vector and, against a REAL broker on the
simulated control, receives what the broker published: the Node side's snapshot, replay and live
trades are compared with what a Python SUB on the same PUB received, message by message; its TR query
pages and its order is cancelled by client order id (checked through the Python SDK).

Needs `node` and `npm` (deploy/install-test-tools.sh installs them); without them the tests FAIL.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import zmq

from bench._node import NODE_DIR, NodeUnavailable, node_with_packages
from koabus.common.client import Client, ClientOptions
from koabus.common.protocol import Publication
from tests.common.client.live import BrokerProcess

REPO = Path(__file__).resolve().parents[2]
SAFE = 2 ** 53 - 1
CODES = ("005930", "000660")
TOPICS = tuple(f"rt.trade.{code}" for code in CODES)


@pytest.fixture(scope="module")
def node() -> str:
    """`node`, with clients/node/node_modules installed by `npm ci` (again only when the lockfile changed)."""
    try:
        return node_with_packages()
    except NodeUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


def _run_node_test(node: str, test_file: str, env: Dict[str, str], timeout_s: float) -> str:
    done = subprocess.run([node, "--test", test_file], cwd=str(NODE_DIR), env=dict(os.environ, **env),
                          capture_output=True, text=True, timeout=timeout_s)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output


def _json(value: Any) -> Any:
    """A decoded msgpack value in the JSON form the Node side reports (tests/vectors/README.md)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -SAFE <= value <= SAFE else {"$int": str(value)}
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    raise TypeError(type(value))


def _count(output: str, what: str) -> int:
    match = re.search(rf"^# {what} (\d+)$", output, re.MULTILINE)
    assert match, output[-3000:]
    return int(match.group(1))


def test_node_decodes_every_vector(node):
    vectors = list((REPO / "tests" / "vectors").rglob("*.json"))
    assert vectors, "no conformance vectors under tests/vectors"
    output = _run_node_test(node, "test/vectors.test.js", {}, 60)
    # one test per vector plus "the vectors are there"
    assert _count(output, "fail") == 0 and _count(output, "pass") >= len(vectors) + 1, output[-3000:]


def test_node_library_gaps_epochs_clone_replay_silence_streams_and_typed_errors(node):
    output = _run_node_test(node, "test/library.test.js", {}, 60)
    assert "# pass 4" in output and "# fail 0" in output, output[-3000:]


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("node-broker") / "broker.log").start()
    try:
        yield process
    finally:
        process.stop()
        process.remove_state()


def _wait_heartbeat(sub: zmq.Socket, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if sub.poll(200) and sub.recv_multipart()[0] == b"sys.hb":
            return
    raise AssertionError("the Python SUB heard no heartbeat")


def _collect_trades(sub: zmq.Socket, into: List[Publication], done, max_s: float) -> None:
    """Append rt.trade publications to `into` until `done(into)` holds (bounded by `max_s`)."""
    deadline = time.monotonic() + max_s
    while not done(into) and time.monotonic() < deadline:
        if sub.poll(100):
            frames = sub.recv_multipart()
            if frames[0].startswith(b"rt.trade."):
                into.append(Publication.from_frames(frames))
    assert done(into), f"the Python SUB got {len(into)} trades only"


def test_node_e2e_matches_what_the_broker_published(node, broker, tmp_path):
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.RCVHWM, 0)  # keep everything while Node runs; read afterwards
    sub.setsockopt(zmq.SUBSCRIBE, b"rt.trade.")
    sub.setsockopt(zmq.SUBSCRIBE, b"sys.hb")
    sub.connect(broker.pub)
    out = tmp_path / "node-e2e.json"
    published: List[Publication] = []
    options = ClientOptions(timeout_s=10, connect_timeout_s=5)
    try:
        _wait_heartbeat(sub, 10)  # live before any trade of these codes is published
        with Client(broker.router, broker.pub, options=options) as client:
            # trades flow before Node joins, so its snapshot has something in every topic
            client.request("subscribe", {"codes": list(CODES), "types": ["trade"]})
            _collect_trades(sub, published, lambda got: {p.topic for p in got} == set(TOPICS), 20)
            _run_node_test(node, "test/e2e.test.js", {
                "KOABUS_ROUTER": broker.router, "KOABUS_PUB": broker.pub, "KOABUS_E2E_OUT": str(out),
                "KOABUS_E2E_CODES": ",".join(CODES), "KOABUS_E2E_MIN_LIVE": "20"}, 90)
            last_seq = json.loads(out.read_text())["live"][-1]["seq"]
            _collect_trades(sub, published, lambda got: got[-1].seq > last_seq, 20)
            status = client.order_status(client_order_id=json.loads(out.read_text())["order"]["client_order_id"])
    finally:
        sub.close(0)
    report = json.loads(out.read_text())
    by_seq = {p.seq: p for p in published}
    assert len(by_seq) == len(published)

    # the snapshot is the last trade of each topic up to the snapshot's seq
    snap_seq = report["snapshot_end"]["seq"]
    assert {r["topic"] for r in report["snapshot"]} == set(TOPICS)
    for rec in report["snapshot"]:
        latest = max((p for p in published if p.topic == rec["topic"] and p.seq <= snap_seq), key=lambda p: p.seq)
        assert (rec["seq"], rec["topic_seq"]) == (latest.seq, latest.topic_seq)
        assert rec["body"] == _json(latest.body)

    # after it, replay + live: exactly what was published, same order, nothing lost or doubled
    live = report["live"]
    assert len(live) >= 20 and report["gaps"] == 0 and all(r["gap"] == 0 for r in live)
    last_seq = live[-1]["seq"]
    expected = [p for p in published if snap_seq < p.seq <= last_seq]
    assert [(r["topic"], r["seq"], r["topic_seq"]) for r in live] == [(p.topic, p.seq, p.topic_seq) for p in expected]
    for rec, pub in zip(live, expected):
        assert rec["body"]["values"]["current_price"] == pub.body["values"]["current_price"] > 0
        assert rec["body"] == _json(pub.body)
        assert rec["epoch"] == _json(pub.epoch)
    assert {r["topic"] for r in live} <= set(report["topics"]) == set(TOPICS)
    for topic in report["topics"]:  # topic_seq continuous per topic across snapshot and live
        seqs = [r["topic_seq"] for r in report["snapshot"] + live if r["topic"] == topic]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    # the epoch (beyond 2^53 as a rule) came through as a BigInt
    assert report["welcome"]["epoch"] == _json(published[0].epoch) == report["snapshot_end"]["epoch"]

    # TR paging: pages 0, 1, 2 of 600 rows, newest first
    tr = report["tr"]
    assert tr["pages"] == [0, 1, 2] and tr["rows"] == [600, 600, 600]
    assert tr["end"]["pages"] == 3 and tr["end"]["rows"] == 1800
    firsts = [row["일자"] for row in tr["first_rows"]]
    assert firsts == sorted(firsts, reverse=True) and firsts[0] <= "2024-03-05"
    assert report["typed_error"] == {"kind": "NotFound", "is_not_found": True}

    # the order: watched until accepted, cancelled by its client order id; the broker agrees
    order = report["order"]
    assert order["events"][:1] == ["sent"] and "accepted" in order["events"]
    assert order["events"][-2:] == ["cancelled", "done"] and order["end"]["state"] == "cancelled"
    assert "confirmed" in order["cancel_events"] and order["cancel_end"]["state"] == "confirmed"
    assert status["state"] == "cancelled" and status["filled_qty"] == 0
    assert status["order_no"] == order["end"]["order_no"]


def test_node_examples_page_a_tr_and_cancel_an_order(node, broker):
    env = dict(os.environ, KOABUS_ROUTER=broker.router, KOABUS_PUB=broker.pub)
    outputs = {}
    for example in ("tr_paging.js", "order_cancel.js"):
        done = subprocess.run([node, f"examples/{example}", "005930"], cwd=str(NODE_DIR), env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[example] = done.stdout.splitlines()
    assert [line.split(":")[0] for line in outputs["tr_paging.js"][:3]] == ["page 0", "page 1", "page 2"]
    assert outputs["tr_paging.js"][3].startswith("done: 3 pages, 1800 rows")
    order_lines = outputs["order_cancel.js"]
    assert "cancel confirmed" in order_lines and order_lines[-1] == "final: cancelled"
