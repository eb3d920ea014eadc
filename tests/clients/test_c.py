"""The C client (clients/c/) built with its Makefile: it decodes every conformance vector exactly as the
JSON says (or refuses the invalid ones with the same error), and against a REAL broker on the simulated
control it receives the same ticks a Python SUB receives and reads the broker's epoch with a request.

A missing compiler, pkg-config, libzmq or msgpack-c headers FAILS (never skips) and names the script that
installs them.
"""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import msgpack
import pytest
import zmq

from koabus.common.client import Client, ClientOptions
from koabus.common.protocol.publication import Publication
from tests.common.client.live import BrokerProcess

REPO = Path(__file__).resolve().parents[2]
C_DIR = REPO / "clients" / "c"
VECTORS = REPO / "tests" / "vectors"
INSTALL = "deploy/install-test-tools.sh"
CODE = "005930"
TICKS = 12
TICK_LINE = re.compile(r"tick topic=(\S+) epoch=(\d+) seq=(\d+) topic_seq=(\d+) current_price=(\S+) gap=(\d+)")


@pytest.fixture(scope="module")
def c_build(tmp_path_factory) -> Path:
    missing = [tool for tool in ("cc", "make", "pkg-config") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the C client needs {', '.join(missing)}: run {INSTALL} (build-essential, pkg-config)")
    libs = subprocess.run(["pkg-config", "--exists", "--print-errors", "libzmq", "msgpack"],
                          capture_output=True, text=True)
    if libs.returncode != 0:
        pytest.fail(f"the C client needs libzmq and msgpack-c headers: run {INSTALL} "
                    f"(libzmq3-dev, libmsgpack-dev)\n{libs.stderr}")
    build = tmp_path_factory.mktemp("c-build")
    made = subprocess.run(["make", "-C", str(C_DIR), f"BUILD_DIR={build}"], capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0, f"make failed (deps: {INSTALL}):\n{made.stdout}\n{made.stderr}"
    return build


# ---- vectors --------------------------------------------------------------------------------

def _vectors() -> List[Dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(VECTORS.glob("*/*.json"))]


def _as_lines(vectors: List[Dict[str, Any]]) -> str:
    """The plain-text form the C decoder reads (so C needs no JSON parser)."""
    lines = []
    for v in vectors:
        lines.append(f"V {v['name']} {v['channel']} {v['direction']}")
        lines.extend(f"F {frame or '-'}" for frame in v["frames_hex"])
        lines.append("E")
    return "\n".join(lines) + "\n"


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal JSON types: unlike ==, 1 is not 1.0 and true is not 1."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


def _pub_hex(epoch: int, seq: int, topic_seq: int, body: bytes = b"\x80", topic: str = "rt.trade.005930"):
    envelope = msgpack.packb([1, "RT", epoch, seq, topic_seq, None, 9])
    return [topic.encode("ascii").hex(), envelope.hex(), body.hex()]


def _run_vectors(c_build: Path, vectors: List[Dict[str, Any]], *flags: str) -> Dict[str, str]:
    run = subprocess.run([str(c_build / "koabus_vectors"), *flags], input=_as_lines(vectors), capture_output=True,
                         text=True, timeout=30)
    assert run.returncode == 0, run.stderr
    return dict(line.split("\t", 1) for line in run.stdout.splitlines())


def test_c_decodes_every_vector(c_build):
    vectors = _vectors()
    channels = {v["channel"] for v in vectors}
    assert {"pub", "router"} <= channels, f"tests/vectors should hold pub and router vectors, has {channels}"
    results = _run_vectors(c_build, vectors)
    assert sorted(results) == sorted(v["name"] for v in vectors)
    wrong = []
    for v in vectors:
        verdict, _, detail = results[v["name"]].partition("\t")
        if v["valid"]:
            if verdict != "OK" or not _same(json.loads(detail), v["decoded"]):
                wrong.append(f"{v['name']}: {verdict} {detail[:300]}")
        else:
            kind, request_id, _ = (detail.split(" ", 2) + ["", ""])[:3]
            expected = v["error"] or {}
            want_id = "null" if expected.get("request_id") is None else str(expected["request_id"])
            if verdict != "REFUSED" or kind != expected.get("kind") or request_id != want_id:
                wrong.append(f"{v['name']}: {verdict} {detail[:300]} (expected {expected})")
    assert not wrong, "the C decoder disagrees with the vectors:\n" + "\n".join(wrong)


def test_c_refuses_handmade_bad_frames(c_build):
    """Refusals the vectors may not cover: trailing bytes, an extension type, a missing body, a bool id."""
    def vector(name, channel, frames_hex):
        return {"name": name, "channel": channel, "direction": "to_broker", "frames_hex": frames_hex}

    vectors = [
        vector("trailing", "pub", _pub_hex(5, 1, 1, b"\x80\xc0")),
        vector("ext", "pub", _pub_hex(5, 1, 1, msgpack.packb({"t": msgpack.ExtType(1, b"x")}))),
        vector("one-frame", "router", [msgpack.packb([1, "PING", 3]).hex()]),
        vector("bool-id", "router", [msgpack.packb([1, "PING", True]).hex(), "80"]),
        vector("good", "router", [msgpack.packb([1, "PING", 3]).hex(), "80"]),
    ]
    verdicts = {name: rest.split("\t")[0] for name, rest in _run_vectors(c_build, vectors).items()}
    assert verdicts == {"trailing": "REFUSED", "ext": "REFUSED", "one-frame": "REFUSED", "bool-id": "REFUSED",
                        "good": "OK"}


def test_c_gap_detection_per_topic(c_build):
    """(epoch, topic_seq) per topic (docs/protocol.md §6): a jump is a gap of jump - 1, a repeat is stale,
    a new epoch starts over, and another topic has its own count."""
    sequence = [("a", 5, 10, 1), ("b", 5, 11, 2), ("c", 5, 14, 5), ("d", 5, 15, 5), ("e", 9, 1, 1)]
    vectors = [{"name": name, "channel": "pub", "direction": "from_broker", "frames_hex": _pub_hex(epoch, seq, ts)}
               for name, epoch, seq, ts in sequence]
    vectors.append({"name": "other-topic", "channel": "pub", "direction": "from_broker",
                    "frames_hex": _pub_hex(9, 2, 7, topic="rt.trade.000660")})
    assert _run_vectors(c_build, vectors, "--gaps") == {
        "a": "first", "b": "next", "c": "gap 2", "d": "stale", "e": "new_epoch", "other-topic": "first"}


# ---- end to end against the simulated broker ------------------------------------------------

@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield process
    process.stop()


class PythonSub:
    """A plain Python SUB on the same topic, read on a thread: what the broker published."""

    def __init__(self, endpoint: str, topic: str):
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.SUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.sock.setsockopt(zmq.SUBSCRIBE, b"sys.hb")
        self.sock.connect(endpoint)
        self.topic = topic
        self.ticks: Dict[int, Publication] = {}
        self.heartbeats = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self.sock.poll(50):
                continue
            pub = Publication.from_frames(self.sock.recv_multipart())
            if pub.topic == self.topic:
                self.ticks[pub.seq] = pub
            elif pub.topic == "sys.hb":
                self.heartbeats += 1

    def wait(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not predicate():
            time.sleep(0.02)
        return predicate()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def test_c_ticks_match_what_a_python_sub_received(c_build, broker):
    topic = f"rt.trade.{CODE}"
    python_sub = PythonSub(broker.pub, topic)
    try:
        # a heartbeat proves the SUB is connected, so it hears everything the C client will
        assert python_sub.wait(lambda: python_sub.heartbeats > 0, 10.0), "no sys.hb on the Python SUB"
        run = subprocess.run([str(c_build / "koabus_ticks"), broker.router, broker.pub, CODE, str(TICKS), "15"],
                             capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, f"koabus_ticks failed:\n{run.stdout}\n{run.stderr}"
        ticks = [TICK_LINE.fullmatch(line).groups() for line in run.stdout.splitlines() if line.startswith("tick")]
        assert len(ticks) == TICKS and run.stdout.splitlines()[-1] == f"done received={TICKS} gaps=0 missed=0"
        last_seq = int(ticks[-1][2])
        assert python_sub.wait(lambda: max(python_sub.ticks, default=0) >= last_seq, 5.0)
    finally:
        python_sub.close()
    seqs = [int(t[2]) for t in ticks]
    topic_seqs = [int(t[3]) for t in ticks]
    assert topic_seqs == list(range(topic_seqs[0], topic_seqs[0] + TICKS)), "the C client saw a gap"
    # the same messages: the Python SUB got exactly these seqs between the first and last C tick
    assert sorted(s for s in python_sub.ticks if seqs[0] <= s <= seqs[-1]) == seqs
    for c_topic, epoch, seq, topic_seq, price, gap in ticks:
        py = python_sub.ticks[int(seq)]
        assert (c_topic, int(epoch), int(topic_seq), gap) == (py.topic, py.epoch, py.topic_seq, "0")
        assert price == str(py.body["values"]["current_price"])


def test_c_status_request_reads_the_brokers_epoch(c_build, broker):
    run = subprocess.run([str(c_build / "koabus_status"), broker.router], capture_output=True, text=True,
                         timeout=30)
    assert run.returncode == 0, f"koabus_status failed:\n{run.stdout}\n{run.stderr}"
    found = re.fullmatch(r"epoch=(\d+) seq=(\d+)\n", run.stdout)
    assert found, run.stdout
    with Client(broker.router, broker.pub, options=ClientOptions(timeout_s=10, connect_timeout_s=10)) as client:
        status = client.status()
    assert int(found.group(1)) == status["epoch"]
    assert 0 <= int(found.group(2)) <= status["seq"]
