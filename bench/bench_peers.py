"""Peer benchmarks: koabus next to a KOAPY-style gRPC design and bare pyzmq, side by side in one run.

Three servers, each its own process on 127.0.0.1, one after the other so they never share the CPU:
- koabus: the broker (bench/_broker.py) on the simulated control;
- grpc: bench/peers/grpc_server.py, KOAPY's design (one server-streaming `Listen` per subscriber,
  string-typed ListenResponses, control calls marshalled to the Qt thread) on the same simulated
  control with the same options: the same synthetic 주식체결 payloads at the same offered rate;
- bare: bench/peers/bare.py, a PUB sending the broker's frames at that rate, and a ROUTER echo.

Fan-out (1 and 4 subscriber processes, bench/peers/subscribers.py, each decoding every message): once
the stream flows steadily at the offered rate (the simulator's first registration builds each code's day,
then releases the backlog in a burst) and `WARMUP_S` later, a `WINDOW_S` window in which every subscriber counts what arrives and its latency
(arrival minus the server's stamp when the event reached its handler: the broker's `recv_ns`, the peer's
extra long argument, the bare send time). CPU is read from /proc/<pid>/stat (utime + stime, all
threads) of the server and of every subscriber at both ends of the window: `events_per_cpu_s` = events
delivered to all subscribers in the window / CPU seconds of server + subscribers in it. The offered rate
is the same for every design; a design that cannot keep up shows it in `rate_per_subscriber_eps`, and
its latency is then backlog. Both servers host the simulated control, whose own cost is not the design's:
`source` measures it (the peer with the codes registered and no stream), and `events_per_net_cpu_s`
takes it out (its CPU per event times the events the control made in the window: the peer's count, the
broker's publications from `status.seq`).

Round trips (one client in this process, one request at a time, after a warm-up):
- cached metadata: koabus `meta {kind: fid, key: 20}` (answered by the broker's I/O thread) from a raw
  DEALER (msgpack in and out) and from the SDK (AsyncClient.meta); gRPC `Call("meta", "fid", 20)`
  (answered on the gRPC thread); the bare echo of the same request frames;
- simulated TR: koabus `tr opt10001` (one page: PART, END) from the raw DEALER and the SDK; gRPC
  `TransactionCall` (SetInputValue, CommRqData, OnReceiveTrData, GetCommData per field, one
  ListenResponse). TR pacing is opened wide on both sides (round trips, not Kiwoom's limits).
Ceiling: bench_broker's bare_run (a PUB in this process flat out to 4 SUB processes, the broker's body).

    python -m bench peers          # with the runner (bench/results/), then python -m bench.report
    python -m bench.bench_peers    # alone, prints JSON
"""

from __future__ import annotations

import asyncio
import json
import math
import multiprocessing as mp
import os
import select
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import msgpack
import zmq

from bench._broker import BenchBroker, free_port
from bench.bench_broker import CODES, _pct, _sample_body, bare_run
from bench.peers import subscribers
from bench.peers.grpc_server import OPEN_TR_WINDOWS, REALTYPE, SIM_START

NAME = "peers"
ROOT = Path(__file__).resolve().parent.parent
OFFERED_EPS = 5_000
SUBSCRIBER_COUNTS = (1, 4)
WARMUP_S = 2.0
WINDOW_S = 4.0
META_REQUESTS = 2000
TR_REQUESTS = 300
CEILING_COUNT = 40_000
TR_ARGS = {"code": "opt10001", "inputs": {"종목코드": "005930"}}
META_ARGS = {"kind": "fid", "key": 20}
TARGETS = {"grpc_events_per_cpu_ratio": 8.0, "meta_rtt_to_echo_ratio": 1.3, "client_overhead_fraction": 0.05}
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system, every thread) a live process has used, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime: fields 14 and 15


def register_fid() -> str:
    """The FID the broker registers for 주식체결 (its rarest one, core._fids_for), so that both controls
    do the same work."""
    from koabus.metadata import catalog

    cat = catalog()
    realtype = cat.realtype(REALTYPE)
    usage: Counter = Counter()
    for rt in cat.realtypes():
        usage.update(set(rt.fids))
    return str(min(realtype.fids, key=lambda f: (usage[f], realtype.fids.index(f))))


class Child:
    """A peer process (`python -m module args`) on loopback: waits for its READY line; `stop()` closes
    its stdin (its signal to end) and waits, killing it if it does not."""

    def __init__(self, module: str, *args: str, timeout_s: float = 60.0):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=str(ROOT),
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(os.environ, QT_QPA_PLATFORM="offscreen"),
        )
        self.pid = self.proc.pid
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline().strip() if ready else ""
        if line != "READY":
            self.stop()
            raise RuntimeError(f"{module} did not start (said {line!r}, exit {self.proc.poll()})")

    def send(self, line: str) -> None:
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# ------------------------------------------------------------------------------------------ designs


class Design:
    """One server design: its processes, how its stream starts and stops, its subscriber process."""

    name = ""
    pids: List[int] = []
    rate_eps = 0.0

    def start_stream(self) -> None:
        raise NotImplementedError

    def stop_stream(self) -> None:
        raise NotImplementedError

    def subscriber(self) -> Any:
        """(target, args before ready/stop/window/out/max_s, kwargs) of a subscriber process."""
        raise NotImplementedError

    def flowing(self) -> int:
        """A counter that grows while the stream flows (None: cannot tell)."""
        return None

    def wait_steady(self, rate_eps: float, timeout_s: float = 30.0, step_s: float = 0.5) -> bool:
        """Until the stream flows at the offered rate (within 25%, two steps in a row): the simulator's
        first registration builds each code's day (seconds, the first time in a process) and then
        releases the backlog in a burst, which no measuring window may see. False if it never settles."""
        last = self.flowing()
        if last is None:
            return True
        settled = 0
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(step_s)
            now = self.flowing()
            settled = settled + 1 if abs((now - last) - rate_eps * step_s) <= 0.25 * rate_eps * step_s else 0
            last = now
            if settled >= 2:
                return True
        return False

    def close(self) -> None:
        raise NotImplementedError


class Koabus(Design):
    name = "koabus"

    def __init__(self, rate_eps: float, codes: List[str]):
        self.codes, self.rate_eps = codes, rate_eps
        self.broker = BenchBroker(
            {
                "sim": {
                    "speed": 1.0,
                    "start": SIM_START,
                    "config": {
                        "synthetic_rate_eps": rate_eps,
                        "events_per_tick": 20000,
                        "limits": {"tr_windows": OPEN_TR_WINDOWS},
                    },
                },
                "pacing": {"tr_windows": OPEN_TR_WINDOWS},
            },
            prefix="koabus-bench-peers-",
        )
        self.pids = [self.broker.proc.pid]
        self.client = None
        try:
            self.client = _blocking_client(self.broker.router, self.broker.pub)
        except BaseException:
            self.broker.stop()
            raise

    def start_stream(self) -> None:
        self.client.request("subscribe", {"codes": self.codes, "types": ["trade"]})

    def stop_stream(self) -> None:
        self.client.request("unsubscribe", {})

    def flowing(self) -> int:
        return self.client.request("status")["seq"]

    def subscriber(self) -> Any:
        return subscribers.zmq_subscriber, (self.broker.pub, b"rt.trade."), {}

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        self.broker.stop()


class KoabusBatched(Koabus):
    """The same broker, its subscribers opted in to batched realtime (docs/protocol.md §4.3)."""

    name = "koabus_batched"

    def subscriber(self) -> Any:
        return subscribers.zmq_batch_subscriber, (self.broker.pub, b"rtb.trade"), {}


class KoabusPositional(Koabus):
    """The same broker, its subscribers opted in to positional batches (docs/protocol.md §4.4)."""

    name = "koabus_positional"

    def subscriber(self) -> Any:
        return subscribers.zmq_batch_subscriber, (self.broker.pub, b"rtp.trade"), {}


class Grpc(Design):
    name = "grpc"

    def __init__(self, rate_eps: float, codes: List[str], check: bool = False):
        import grpc

        from bench.peers.messages import Stub

        self.port = free_port()
        args = ["--port", str(self.port), "--rate-eps", str(rate_eps)] + (["--check"] if check else [])
        self.child = Child("bench.peers.grpc_server", *args)
        self.pids = [self.child.pid]
        self.check = check
        self.channel = grpc.insecure_channel(self.target)
        self.stub = Stub(self.channel)
        self.fid = register_fid()
        self.codes, self.rate_eps = codes, rate_eps

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def call(self, name: str, *args: Any) -> Any:
        from bench.peers.messages import argument_value, call_request

        return argument_value(self.stub.Call(call_request(name, *args), timeout=30).return_value)

    def start_stream(self) -> None:
        ret = self.call("SetRealReg", "9001", ";".join(self.codes), self.fid, "0")
        if ret != 0:
            raise RuntimeError(f"SetRealReg returned {ret}")

    def stop_stream(self) -> None:
        self.call("SetRealRemove", "9001", "ALL")
        self.call("bench.stop")  # behind every event already queued on each stream

    def flowing(self) -> int:
        return self.stats()["fed"]

    def stats(self) -> Dict[str, int]:
        return json.loads(self.call("bench.stats"))

    def subscriber(self) -> Any:
        return subscribers.grpc_subscriber, (self.target,), {"check": self.check}

    def close(self) -> None:
        self.channel.close()
        self.child.stop()


class Bare(Design):
    name = "bare"

    def __init__(self, rate_eps: float, codes: List[str]):
        self.port = free_port()
        self.child = Child(
            "bench.peers.bare",
            "pub",
            "--port",
            str(self.port),
            "--rate-eps",
            str(rate_eps),
            "--codes",
            ",".join(codes),
        )
        self.pids = [self.child.pid]

    def start_stream(self) -> None:
        self.child.send("start")

    def stop_stream(self) -> None:
        self.child.send("stop")

    def subscriber(self) -> Any:
        return subscribers.zmq_subscriber, (f"tcp://127.0.0.1:{self.port}", b"rt.trade."), {}

    def close(self) -> None:
        self.child.stop()


def _blocking_client(router: str, pub: str, timeout_s: float = 60.0) -> Any:
    """The SDK's blocking Client once the broker answers and its control is logged in."""
    from koabus.common.client import Client, ClientOptions

    deadline = time.monotonic() + timeout_s
    while True:
        client = None
        try:
            client = Client(router, pub, options=ClientOptions(connect_timeout_s=2, timeout_s=30))
            if client.EnsureConnected() == 0:
                return client
        except Exception:
            if time.monotonic() > deadline:
                raise
        if client is not None:
            client.close()
        if time.monotonic() > deadline:
            raise RuntimeError("the broker did not log in")
        time.sleep(0.2)


# ------------------------------------------------------------------------------------------ fan-out


def source_cost(design: Grpc, window_s: float, warmup_s: float) -> Dict[str, Any]:
    """The simulated control's own CPU per event at the offered rate: the gRPC peer with the codes
    registered and no stream attached (its counting slot only). Both designs host this same source."""
    design.call("bench.reset")
    design.start_stream()
    try:
        design.wait_steady(design.rate_eps)
        time.sleep(warmup_s)
        fed0, cpu0 = design.flowing(), cpu_s(design.child.pid)
        time.sleep(window_s)
        fed1, cpu1 = design.flowing(), cpu_s(design.child.pid)
    finally:
        design.stop_stream()
    events = fed1 - fed0
    return {
        "events": events,
        "cpu_s": round(cpu1 - cpu0, 3),
        "cpu_per_event_us": round((cpu1 - cpu0) / events * 1e6, 2) if events else None,
    }


def fanout(
    design: Design, n: int, window_s: float, warmup_s: float, source_us: Optional[float] = None
) -> Dict[str, Any]:
    """`n` subscribers of `design` over one measuring window (module docstring). With `source_us` (the
    simulated control's CPU per event, `source_cost`), also the figures net of the events' source."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    stop = ctx.Event()
    window = ctx.RawArray("q", 2)
    window[0] = window[1] = 2**62  # nothing counts until the parent opens the window
    max_s = warmup_s + window_s + 60
    target, args, kwargs = design.subscriber()
    procs, events = [], []
    for _ in range(n):
        ready = ctx.Event()
        proc = ctx.Process(
            target=target, args=(*args, ready, stop, window, out, max_s), kwargs=kwargs, daemon=True
        )
        proc.start()
        procs.append(proc)
        events.append(ready)
    try:
        for ready in events:
            if not ready.wait(60):
                raise RuntimeError(f"a {design.name} subscriber did not start")
        time.sleep(0.3)  # subscriptions reach the publisher
        if isinstance(design, Grpc):
            design.call("bench.reset")
        design.start_stream()
        steady = design.wait_steady(design.rate_eps)
        time.sleep(warmup_s)
        pids = list(design.pids) + [p.pid for p in procs]
        emitted0 = design.flowing()
        cpu0 = [cpu_s(pid) for pid in pids]
        window[0] = time.time_ns()
        time.sleep(window_s)
        window[1] = time.time_ns()
        cpu1 = [cpu_s(pid) for pid in pids]
        emitted1 = design.flowing()
        elapsed_s = (window[1] - window[0]) / 1e9
        design.stop_stream()
        stop.set()
        reports = [out.get(timeout=max_s + 30) for _ in procs]
    finally:
        stop.set()
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
    used = [b - a for a, b in zip(cpu0, cpu1)]
    servers = len(design.pids)
    server_cpu, subs_cpu = sum(used[:servers]), sum(used[servers:])
    delivered = sum(r["in_window"] for r in reports)
    lat = sorted(x for r in reports for x in r["latencies_us"])
    result = {
        "subscribers": n,
        "steady_before_window": steady,
        "window_s": round(elapsed_s, 3),
        "delivered_in_window": delivered,
        "rate_per_subscriber_eps": round(min(r["in_window"] for r in reports) / elapsed_s, 1),
        "server_cpu_s": round(server_cpu, 3),
        "subscribers_cpu_s": round(subs_cpu, 3),
        "events_per_cpu_s": round(delivered / (server_cpu + subs_cpu), 1)
        if server_cpu + subs_cpu > 0
        else None,
        "server_cpu_per_event_us": round(server_cpu / delivered * 1e6, 2) if delivered else None,
        "latency_samples": len(lat),
        "latency_p50_us": round(_pct(lat, 50), 1) if lat else None,
        "latency_p99_us": round(_pct(lat, 99), 1) if lat else None,
        "latency_max_us": round(lat[-1], 1) if lat else None,
        "received_per_subscriber": [r["received"] for r in reports],
    }
    if source_us is not None and emitted0 is not None:
        # what the control itself spent making the window's events (publications, for the broker)
        result["source_events"] = emitted1 - emitted0
        result["source_cpu_s"] = round(source_us * (emitted1 - emitted0) / 1e6, 3)
        net = server_cpu - result["source_cpu_s"] + subs_cpu
        result["events_per_net_cpu_s"] = round(delivered / net, 1) if net > 0 else None
    if "gaps" in reports[0]:
        result["gaps"] = sum(r["gaps"] for r in reports)
    if "batches" in reports[0]:
        result["batches_per_subscriber"] = [r["batches"] for r in reports]
    if isinstance(design, Grpc):
        stats = design.stats()
        result["fed"] = stats["fed"]
        result["streams_ended"] = all(r["ended"] for r in reports)
        if design.check:
            result["fed_crc"] = stats["crc"]
            result["received_crc"] = [r["crc"] for r in reports]
    return result


# ------------------------------------------------------------------------------------------ round trips


def _timed(fn: Callable[[int], Any], requests: int, warmup: int) -> Dict[str, Any]:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(requests):
        t = time.perf_counter()
        fn(warmup + i)
        times.append((time.perf_counter() - t) * 1e6)
    return _round_trip_figures(times)


def _round_trip_figures(times_us: List[float]) -> Dict[str, Any]:
    """Count, p50, p99 and mean of round trips measured in microseconds."""
    times_us = sorted(times_us)
    return {
        "requests": len(times_us),
        "p50_us": round(_pct(times_us, 50), 1),
        "p99_us": round(_pct(times_us, 99), 1),
        "mean_us": round(sum(times_us) / len(times_us), 1),
    }


class RawDealer:
    """A DEALER speaking the protocol with plain msgpack (what the bare echo's client does too)."""

    def __init__(self, endpoint: str, hello: bool):
        from koabus.common.protocol import Hello, encode_client

        self.encode = encode_client
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.ROUTING_ID, os.urandom(16).replace(b"\x00", b"\x01"))
        self.sock.connect(endpoint)
        if hello:
            self.sock.send_multipart(encode_client(Hello(1 << 40, client="bench-peers")))
            env, _ = self.recv()
            if env[1] != "WELCOME":
                raise RuntimeError(f"no WELCOME: {env}")

    def recv(self, timeout_ms: int = 30_000) -> Any:
        if not self.sock.poll(timeout_ms):
            raise TimeoutError("no answer")
        env, body = self.sock.recv_multipart()
        return msgpack.unpackb(env), msgpack.unpackb(body)

    def request(self, rid: int, op: str, args: Dict[str, Any], final: str = "REPLY") -> Any:
        from koabus.common.protocol import Request

        self.sock.send_multipart(self.encode(Request(rid + 1, op, args)))
        while True:
            env, body = self.recv()
            if env[1] == "ERROR":
                raise RuntimeError(f"{op}: {body}")
            if env[1] == final:
                return body

    def echo(self, rid: int) -> Any:
        from koabus.common.protocol import Request

        self.sock.send_multipart(self.encode(Request(rid + 1, "meta", META_ARGS)))
        return self.recv()

    def close(self) -> None:
        self.sock.close(0)


def koabus_round_trips(design: Koabus, meta_n: int, tr_n: int) -> Dict[str, Any]:
    dealer = RawDealer(design.broker.router, hello=True)
    try:
        raw_meta = _timed(lambda i: dealer.request(i, "meta", META_ARGS), meta_n, 100)
        paced: List[float] = []
        raw_tr = _timed(
            lambda i: paced.append(
                dealer.request(10**6 + i, "tr", TR_ARGS, final="END")["result"].get("paced_wait_s") or 0.0
            ),
            tr_n,
            10,
        )
    finally:
        dealer.close()
    sdk = asyncio.run(_sdk_round_trips(design.broker.router, design.broker.pub, meta_n, tr_n))
    return {
        "meta_raw": raw_meta,
        "meta_sdk": sdk["meta"],
        "tr_raw": raw_tr,
        "tr_sdk": sdk["tr"],
        "tr_paced_wait_s": round(sum(paced), 4),
    }


async def _sdk_round_trips(router: str, pub: str, meta_n: int, tr_n: int) -> Dict[str, Any]:
    from koabus.common.client import AsyncClient, ClientOptions

    async with AsyncClient(router, pub, options=ClientOptions(timeout_s=30)) as client:

        async def timed(fn: Callable[[], Any], n: int, warmup: int) -> Dict[str, Any]:
            for _ in range(warmup):
                await fn()
            times = []
            for _ in range(n):
                t = time.perf_counter()
                await fn()
                times.append((time.perf_counter() - t) * 1e6)
            return _round_trip_figures(times)

        meta = await timed(lambda: client.meta("fid", 20), meta_n, 100)
        tr = await timed(lambda: client.tr(TR_ARGS["code"], TR_ARGS["inputs"]).collect(), tr_n, 10)
    return {"meta": meta, "tr": tr}


def grpc_round_trips(design: Grpc, meta_n: int, tr_n: int) -> Dict[str, Any]:
    from bench.peers.messages import call_request, tr_request

    meta_request = call_request("meta", META_ARGS["kind"], META_ARGS["key"])
    tr = tr_request("bench-tr", TR_ARGS["code"], "0101", TR_ARGS["inputs"])

    def one_tr(_: int) -> None:
        pages = list(design.stub.TransactionCall(tr, timeout=30))
        if not pages or pages[0].name != "OnReceiveTrData":
            raise RuntimeError(f"TransactionCall answered {pages[:1]}")

    return {
        "meta": _timed(lambda _: design.stub.Call(meta_request, timeout=30), meta_n, 100),
        "tr": _timed(one_tr, tr_n, 10),
    }


def echo_round_trip(meta_n: int) -> Dict[str, Any]:
    port = free_port()
    child = Child("bench.peers.bare", "echo", "--port", str(port))
    dealer = RawDealer(f"tcp://127.0.0.1:{port}", hello=False)
    try:
        return _timed(dealer.echo, meta_n, 100)
    finally:
        dealer.close()
        child.stop()


# ------------------------------------------------------------------------------------------ run


def _ratio(a: Optional[float], b: Optional[float], digits: int = 2) -> Optional[float]:
    return round(a / b, digits) if a is not None and b and math.isfinite(a / b) else None


def run(
    offered_eps: float = OFFERED_EPS,
    counts=SUBSCRIBER_COUNTS,
    window_s: float = WINDOW_S,
    warmup_s: float = WARMUP_S,
    meta_requests: int = META_REQUESTS,
    tr_requests: int = TR_REQUESTS,
    ceiling_count: int = CEILING_COUNT,
    check: bool = False,
    codes: List[str] = CODES,
) -> Dict[str, Any]:
    """Every design's fan-out and round trips, the bare ceiling (skipped when `ceiling_count` is 0), and
    the ratios (module docstring). `check` makes the gRPC peer and its subscribers keep CRCs."""
    fan: Dict[str, Dict[str, Any]] = {}
    rtt: Dict[str, Any] = {}
    loadavg_start = os.getloadavg()
    source: Dict[str, Any] = {}
    # the gRPC peer first: its process also measures the control's own cost, which both designs host
    for make in (
        lambda: Grpc(offered_eps, codes, check),
        lambda: Koabus(offered_eps, codes),
        lambda: KoabusBatched(offered_eps, codes),
        lambda: KoabusPositional(offered_eps, codes),
        lambda: Bare(offered_eps, codes),
    ):
        design = make()
        try:
            if isinstance(design, Grpc):
                source = source_cost(design, window_s, warmup_s)
            fan[design.name] = {
                f"{n}_sub": fanout(design, n, window_s, warmup_s, source.get("cpu_per_event_us"))
                for n in counts
            }
            if type(design) is Koabus:
                rtt["koabus"] = koabus_round_trips(design, meta_requests, tr_requests)
            elif isinstance(design, Grpc):
                rtt["grpc"] = grpc_round_trips(design, meta_requests, tr_requests)
        finally:
            design.close()
    rtt["bare_echo"] = {"meta": echo_round_trip(meta_requests)}
    ceiling = None
    if ceiling_count:
        measured = bare_run(ceiling_count, _sample_body())
        ceiling = {
            k: measured[k]
            for k in (
                "published",
                "rate_per_subscriber_eps",
                "send_rate_eps",
                "lost",
                "latency_p50_us",
                "latency_p99_us",
            )
        }
    summary: Dict[str, Any] = {}
    for key in (f"{n}_sub" for n in counts):
        k, g, b = fan["koabus"][key], fan["grpc"][key], fan["bare"][key]
        summary[key] = {
            "koabus_events_per_cpu_s": k["events_per_cpu_s"],
            "grpc_events_per_cpu_s": g["events_per_cpu_s"],
            "bare_events_per_cpu_s": b["events_per_cpu_s"],
            "koabus_to_grpc_events_per_cpu": _ratio(k["events_per_cpu_s"], g["events_per_cpu_s"]),
            "koabus_to_bare_events_per_cpu": _ratio(k["events_per_cpu_s"], b["events_per_cpu_s"]),
            "koabus_events_per_net_cpu_s": k.get("events_per_net_cpu_s"),
            "grpc_events_per_net_cpu_s": g.get("events_per_net_cpu_s"),
            "koabus_to_grpc_events_per_net_cpu": _ratio(
                k.get("events_per_net_cpu_s"), g.get("events_per_net_cpu_s")
            ),
            "koabus_rate_per_subscriber_eps": k["rate_per_subscriber_eps"],
            "grpc_rate_per_subscriber_eps": g["rate_per_subscriber_eps"],
            "koabus_p50_us": k["latency_p50_us"],
            "koabus_p99_us": k["latency_p99_us"],
            "grpc_p50_us": g["latency_p50_us"],
            "grpc_p99_us": g["latency_p99_us"],
            "bare_p50_us": b["latency_p50_us"],
            "bare_p99_us": b["latency_p99_us"],
            "grpc_to_koabus_p99": _ratio(g["latency_p99_us"], k["latency_p99_us"]),
        }
        for design, label in (("koabus_batched", "batched"), ("koabus_positional", "positional")):
            kb = fan.get(design, {}).get(key)
            if kb:
                summary[key].update({
                    f"{label}_events_per_cpu_s": kb["events_per_cpu_s"],
                    f"{label}_to_grpc_events_per_cpu": _ratio(kb["events_per_cpu_s"], g["events_per_cpu_s"]),
                    f"{label}_to_grpc_events_per_net_cpu": _ratio(
                        kb.get("events_per_net_cpu_s"), g.get("events_per_net_cpu_s")
                    ),
                    f"{label}_to_bare_events_per_cpu": _ratio(kb["events_per_cpu_s"], b["events_per_cpu_s"]),
                    f"{label}_rate_per_subscriber_eps": kb["rate_per_subscriber_eps"],
                    f"{label}_p50_us": kb["latency_p50_us"],
                    f"{label}_p99_us": kb["latency_p99_us"],
                })
    echo = rtt["bare_echo"]["meta"]["p50_us"]
    summary["round_trip"] = {
        "echo_p50_us": echo,
        "koabus_meta_raw_p50_us": rtt["koabus"]["meta_raw"]["p50_us"],
        "koabus_meta_sdk_p50_us": rtt["koabus"]["meta_sdk"]["p50_us"],
        "grpc_meta_p50_us": rtt["grpc"]["meta"]["p50_us"],
        "koabus_meta_raw_to_echo": _ratio(rtt["koabus"]["meta_raw"]["p50_us"], echo),
        "koabus_meta_sdk_to_echo": _ratio(rtt["koabus"]["meta_sdk"]["p50_us"], echo),
        "grpc_meta_to_echo": _ratio(rtt["grpc"]["meta"]["p50_us"], echo),
        "koabus_tr_raw_p50_us": rtt["koabus"]["tr_raw"]["p50_us"],
        "koabus_tr_sdk_p50_us": rtt["koabus"]["tr_sdk"]["p50_us"],
        "grpc_tr_p50_us": rtt["grpc"]["tr"]["p50_us"],
        "grpc_tr_to_koabus_tr_raw": _ratio(rtt["grpc"]["tr"]["p50_us"], rtt["koabus"]["tr_raw"]["p50_us"]),
        "grpc_meta_to_koabus_meta_raw": _ratio(
            rtt["grpc"]["meta"]["p50_us"], rtt["koabus"]["meta_raw"]["p50_us"]
        ),
    }
    summary["ceiling"] = {
        "bare_flat_out_eps_to_4_subscribers": ceiling and ceiling["rate_per_subscriber_eps"]
    }
    summary["targets"] = dict(TARGETS)
    machine = {
        "cpus": os.cpu_count(),
        "loadavg_start": [round(x, 2) for x in loadavg_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
    }
    return {
        "benchmark": NAME,
        "offered_eps": offered_eps,
        "codes": len(codes),
        "window_s": window_s,
        "warmup_s": warmup_s,
        "sim_start": SIM_START,
        "machine": machine,
        "source": source,
        "fanout": fan,
        "round_trip": rtt,
        "bare_ceiling": ceiling,
        "summary": summary,
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, ensure_ascii=False))
