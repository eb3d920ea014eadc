"""Open-burst benchmark: every tradable code's trades through one broker to 4 subscribers at rising rates.

Issue 16's moonshot, measured before any redesign. One broker and simulated control serve every step
(building ~340 trading days costs ~35 ms each on the Qt thread, once); each step gets 4 fresh SUB
processes (bench_broker's subscribers) and a bounded window at one offered rate:
- offered: `synthetic_rate_eps` of the simulator (swapped between steps with the virtual clock
  frozen) plus the codes' own trades; `control_rate_eps` is what the control actually emitted. The
  simulator makes no more than its Qt loop takes (a bounded queue, a bounded span per tick), so an
  offered rate beyond the broker shows as `stream_lag_growth_per_s` (market seconds the stream
  falls behind per second: 0 when carried) instead of millions of queued events whose memory and
  garbage-collector passes would be charged to the broker's interpreter.
- delivered: events/s per subscriber over the window (the slowest subscriber).
- loss: per subscriber and topic, what the broker numbered from the first event it saw to the
  end of the step less what it received (gaps plus a missing tail); `refused_before_publish`
  counts what the broker dropped before numbering. Must be 0.
- backlog: median latency of the window's first quarter vs its last (a queue that grows shows as a
  rising latency) and the stream's lag growth; `ok` when carried in full with neither.
- latency: the broker's `recv_ns` (stamped in the Qt-thread handler) to the subscriber's receive;
  the simulator releases events every 15 ms, so each tick's batch queues behind itself.
- ceiling: bare pyzmq (bench_broker.bare_run) sending the same 주식체결 body to 4 SUB processes
  flat out, before and after the steps (the machine's load moves); `ratio_to_bare` divides the
  broker's best delivered rate by their mean.
- CPU: the benchmark process is the broker, so per-thread CPU time over a window gives CPU µs per
  event for the Qt thread (control and simulator), the I/O thread and libzmq's I/O thread, and the
  subscriber processes' too: less sensitive to a shared machine than wall rates.
Codes: the simulated listing has ~336 real ones; the rest of the issue's 2,500 (`--codes N`) are the
simulator's synthetic stocks (`SimConfig.extra_listings`, docs/simulator.md); `codes` says how many ran.
`--profile` adds py-spy samples split by stage (docs/burst-profile.md).
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import resource
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from bench.bench_broker import (
    START_TOPIC,
    STOP_TOPIC,
    SUBSCRIBERS,
    Subscribers,
    _pct,
    _pump,
    _sample_body,
    _stack,
    _wait,
    bare_run,
)

TARGET_CODES = 2_500
FULL_RATES_EPS = (5_000, 10_000, 20_000, 30_000, 40_000, 50_000)
TOP_WINDOW_S = 60.0
STEP_WINDOW_S = 20.0
QUICK_WINDOW_S = 10.0
#: the same broker's subscribers opted in to positional batches (docs/protocol.md §4.4, the cheapest opt-in
#: wire for both ends), after the single-event steps
BATCHED_RATES_EPS = (5_000, 20_000, 50_000)
BATCH_PREFIX = b"rtp.trade"
SIM_QUEUE_MAX = 20_000
SIM_SPAN_S = 0.05


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu_s(path: str) -> float:
    """utime + stime of a /proc stat file (a process or one of its threads), in seconds; 0 if unreadable."""
    try:
        with open(path, encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu_s(names: Dict[int, str]) -> Dict[str, float]:
    """CPU seconds per thread of this process (Linux /proc): `names` for known native ids, else the
    kernel's name (ZMQbg/IO/0 is libzmq's I/O thread; other Python threads all read "python")."""
    out: Dict[str, float] = {}
    try:
        tids = os.listdir("/proc/self/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/self/task/{tid}/comm", encoding="utf-8") as f:
                comm = f.read().strip()
        except OSError:
            continue
        name = names.get(int(tid), comm)
        out[name] = out.get(name, 0.0) + _proc_cpu_s(f"/proc/self/task/{tid}/stat")
    return out


def _burst_stack(codes: int):
    """bench_broker's `_stack(0.0, tick_ms=15)` with the simulated listing extended by synthetic stocks
    up to `codes` tradable codes (none when the real listing holds enough). The simulator's paths and book
    cadences live in the broker's process here (~0.75 MB a code), so the broker's memory bound grows by
    1 MB a code beyond the real listing: at 2,500 codes the default 1,536 MB made it shed realtime."""
    from koabus.services.sim.market.listing import Listing

    extra = max(0, codes - len(Listing.default().codes()))
    limits = {"limits": {"max_rss_mb": 1536 + extra}} if extra else {}
    return _stack(0.0, tick_ms=15, sim={"extra_listings": extra}, **limits)


def burst_codes(control, limit: int = TARGET_CODES) -> List[str]:
    """Every code the simulated world trades (stocks and ETFs, no indices), at most `limit`."""
    listing = control.sim.world.listing
    return [i.code for i in listing.instruments() if not i.is_index][:limit]


def _set_sim(control, **changes: Any) -> None:
    """The simulator reads its (frozen) config on every step: swap in a copy with `changes`."""
    core = control._core
    core.config = dataclasses.replace(core.config, **changes)


def _set_rate(control, rate_eps: float) -> None:
    _set_sim(control, synthetic_rate_eps=float(rate_eps))


def _stream_lag_s(control) -> float:
    """How far the simulator's realtime stream is behind its clock: market time it has yet to make."""
    return control.sim.clock.time() - control.sim._rt_t


def _quarter_median_us(subs: List[Dict[str, Any]], first: bool) -> float:
    """Median latency of each subscriber's first (or last) quarter of the window, pooled."""
    pooled: List[float] = []
    for s in subs:
        lat = s["latencies_us"]
        q = max(1, len(lat) // 4)
        pooled += lat[:q] if first else lat[-q:]
    pooled.sort()
    return round(_pct(pooled, 50), 1) if pooled else 0.0


def _loss(s: Dict[str, Any], final: Dict[str, int]) -> int:
    """Publications this subscriber should have had from its first event per topic to the end, less
    what it got (it joined mid-stream, so what came before its first event is not its loss)."""
    owed = sum(final.get(topic, 0) - first + 1 for topic, first in s["first"].items())
    return owed - s["count"]


def _settled_counts(broker, sequencer, timeout_s: float) -> Dict[str, int]:
    """Per-topic counts once the I/O thread has emptied the Outbox, without running the Qt loop."""
    deadline = time.monotonic() + timeout_s
    seen = -1
    while time.monotonic() < deadline:  # empty, and the batch taken off it numbered too
        if not len(broker.outbox) and sequencer.seq == seen:
            break
        seen = sequencer.seq
        time.sleep(0.1)
    return sequencer.topic_counts("rt.")


def burst_step(app, control, broker, rate_eps: float, window_s: float, warmup_s: float = 1.0,
               on_window: Optional[Callable[[float], Any]] = None, batched: bool = False) -> Dict[str, Any]:
    """One offered rate for `window_s` to 4 fresh subscriber processes; see the module docstring.
    `on_window(window_s)` is called as the window opens (a profiler attaching, say). `batched`: the
    subscribers take positional batches (`rtp.trade`, docs/protocol.md §4.4), so the broker sends no single
    event and encodes no keyed body."""
    clock = control.sim.clock
    core = broker.core
    sequencer = broker.server.sequencer
    clock.set_speed(0.0)  # nothing new is made while the subscribers join
    control.sim.sync()  # nor any market time the stream is still behind on (the days' build)
    _set_rate(control, rate_eps)
    subs = Subscribers(broker.pub_endpoint, prefix=BATCH_PREFIX if batched else b"rt.",
                       max_s=window_s + warmup_s + 120)
    try:
        _pump(app, 0.5)  # subscriptions reach the PUB socket
        pauses0, dropped0 = broker.outbox.pauses, broker.outbox.dropped
        status0 = broker.server.status()
        counters0 = dict(status0["counters"])
        # what the broker sends: single events, keyed batches, positional batches (its subscribers' opt-ins)
        wire = {k: status0["publications"].get(k) for k in ("realtime", "batching", "positional")}
        clock.set_speed(1.0)
        _pump(app, warmup_s)
        load0 = os.getloadavg()[0]
        core.publish(START_TOPIC.decode(), "SYS", {}, None)
        stats = control.sim.stats
        pids = [p.pid for p in subs.procs]
        sub_cpu0 = [_proc_cpu_s(f"/proc/{pid}/stat") for pid in pids]
        names = {os.getpid(): "qt_thread", broker.server.native_id: "io_thread"}
        threads0 = _thread_cpu_s(names)
        lag0 = _stream_lag_s(control)
        events0, cpu0, t0 = stats.realtime_events, _cpu_s(), time.monotonic()
        if on_window is not None:
            on_window(window_s)
        _pump(app, window_s)
        elapsed, cpu = time.monotonic() - t0, _cpu_s() - cpu0
        threads = {k: v - threads0.get(k, 0.0) for k, v in _thread_cpu_s(names).items()}
        sub_cpu = [_proc_cpu_s(f"/proc/{pid}/stat") - c for pid, c in zip(pids, sub_cpu0)]
        emitted = stats.realtime_events - events0
        clock.set_speed(0.0)
        lag_growth_s = _stream_lag_s(control) - lag0
        backlog = len(control._queue)
        control._queue.clear()  # made but never delivered: never numbered, so not the broker's loss
        control.sim.sync()  # and what it has yet to make is forgotten: the next step starts level
        _set_rate(control, 0.0)
        core.publish(STOP_TOPIC.decode(), "SYS", {}, None)  # behind every event of the window
        # the I/O thread numbers the rest while the Qt loop does not run: a tick catching a frozen clock up
        # would add events behind the marker, which the subscribers (gone at the marker) cannot count
        final = _settled_counts(broker, sequencer, 60.0)
        _pump(app, 0.3)
        results = subs.results(timeout_s=120)
    finally:  # on any failure too: no subscriber process outlives its step
        for proc in subs.procs:
            if proc.is_alive():
                proc.terminate()
    counters = broker.server.status()["counters"]
    refused = (broker.outbox.dropped - dropped0) + sum(
        counters.get(k, 0) - counters0.get(k, 0) for k in ("handler_errors", "encode_errors", "outbox_errors"))
    rates = []
    for s in results:
        span = (s["last_ns"] - s["start_ns"]) / 1e9
        rates.append(s["measured"] / span if span > 0 else 0.0)
    lat = sorted(x for s in results for x in s["latencies_us"])
    windows = {s["window_published"] for s in results}
    in_window = windows.pop() if len(windows) == 1 else None
    losses = [_loss(s, final) for s in results]
    q1, q4 = _quarter_median_us(results, True), _quarter_median_us(results, False)
    return {
        "batched": batched, "wire": wire, "offered_synthetic_eps": rate_eps, "window_s": round(elapsed, 2),
        "control_rate_eps": round(emitted / elapsed, 1),
        "rate_per_subscriber_eps": round(min(rates), 1) if rates else 0.0,
        "rates_per_subscriber_eps": [round(r, 1) for r in rates],
        "published_in_window": in_window,
        "broker_events_per_cpu_s": round(in_window / cpu, 1) if in_window and cpu > 0 else None,
        "broker_cpu_share": round(cpu / elapsed, 2),
        # CPU µs per published event: the broker's threads (the Qt one runs the simulator too; the
        # I/O thread decodes, encodes and sends; ZMQbg/IO fans out) and each subscriber process
        "cpu_us_per_event": {k: round(v / in_window * 1e6, 1) for k, v in sorted(threads.items())
                             if in_window and v > 0.005},
        "subscriber_cpu_us_per_event": [round(c / in_window * 1e6, 1) for c in sub_cpu] if in_window else None,
        "loss_per_subscriber": losses, "gaps": sum(s["gaps"] for s in results),
        "lost": sum(losses) + refused, "refused_before_publish": refused,
        "topics_unseen": sum(len(final) - len(s["first"]) for s in results),
        "outbox_pauses": broker.outbox.pauses - pauses0,
        "sim_backlog_events": backlog,
        # market seconds the stream fell behind per window second: 0 when carried, toward 1 - carried/offered
        "stream_lag_growth_per_s": round(lag_growth_s / elapsed, 3),
        "latency_samples": len(lat),
        "latency_p50_us": round(_pct(lat, 50), 1) if lat else None,
        "latency_p99_us": round(_pct(lat, 99), 1) if lat else None,
        "latency_max_us": round(lat[-1], 1) if lat else None,
        "latency_q1_p50_us": q1, "latency_q4_p50_us": q4,
        "latency_growth": round(q4 / q1, 2) if q1 else None,
        "loadavg_1m_before": round(load0, 2),
        # carried in full: no loss, every offered event delivered, no growing queue
        "ok": (sum(losses) + refused == 0 and min(rates, default=0) >= 0.97 * emitted / elapsed
               and emitted / elapsed >= 0.97 * rate_eps and lag_growth_s < 0.01 * elapsed
               and q4 < max(2 * q1, 5_000)),
    }


def burst_run(app, rates_eps: Sequence[float], windows_s: Sequence[float],
              codes_limit: int = TARGET_CODES, on_window: Optional[Callable[[float], Any]] = None,
              batched_steps: Sequence[Tuple[float, float]] = ()) -> Dict[str, Any]:
    """Register every code for 주식체결 once, build their days with no synthetic load, then step: the
    (rate, window) steps to single-event subscribers, then `batched_steps` to batch subscribers."""
    control, broker = _burst_stack(codes_limit)
    try:
        # the simulator makes no more than the Qt loop takes (at most SIM_QUEUE_MAX events wait, at
        # most SIM_SPAN_S of market per tick): an offered rate beyond the broker shows as a stream
        # that falls behind its clock, not as millions of queued events (whose memory and garbage
        # collector passes would be charged to the broker's interpreter)
        _set_sim(control, max_pending_events=SIM_QUEUE_MAX, max_realtime_span_s=SIM_SPAN_S)
        assert _wait(app, lambda: broker.core.connected, 10), "no login"
        codes = burst_codes(control, codes_limit)
        core = broker.core
        core.registry.subscribe(b"bench", codes, ["주식체결"])
        core._apply_real(core.registry.restore_actions())
        t0 = time.monotonic()
        built = _wait(app, lambda: len(control._realtime._days) >= len(codes), max(120.0, 0.12 * len(codes)))
        _pump(app, 1.0)
        build_s = time.monotonic() - t0
        steps = [burst_step(app, control, broker, rate, window, on_window=on_window)
                 for rate, window in zip(rates_eps, windows_s)]
        steps += [burst_step(app, control, broker, rate, window, batched=True) for rate, window in batched_steps]
        return {"codes": len(codes), "codes_target": TARGET_CODES, "days_built": built,
                "build_s": round(build_s, 1), "screens": len(core.registry.restore_actions()), "steps": steps}
    finally:
        broker.stop()
        control.deleteLater()


def _bare(count: int) -> Dict[str, Any]:
    """bench_broker's bare ceiling, with the process's CPU over the call: the whole call, sorting the
    latencies too, so `events_per_cpu_s_at_least` bounds the sender's events per CPU-second from below."""
    cpu0 = _cpu_s()
    bare = bare_run(count, _sample_body())
    bare["events_per_cpu_s_at_least"] = round(bare["published"] / (_cpu_s() - cpu0), 1)
    return bare


def _positional_summary(steps: List[Dict[str, Any]], bare_eps: float) -> Dict[str, Any]:
    """The same figures for the steps whose subscribers took positional batches (docs/protocol.md §4.4)."""
    if not steps:
        return {}
    best = max(steps, key=lambda s: s["rate_per_subscriber_eps"])
    top = steps[-1]
    return {
        "best_delivered_eps": best["rate_per_subscriber_eps"],
        "sustained_eps": max((s["control_rate_eps"] for s in steps if s["ok"]), default=0.0),
        "ratio_to_bare": round(best["rate_per_subscriber_eps"] / bare_eps, 3) if bare_eps else None,
        "top_offered_eps": top["offered_synthetic_eps"], "top_window_s": top["window_s"],
        "top_lost": top["lost"], "top_latency_p99_us": top["latency_p99_us"],
        "loss_all_steps": sum(s["lost"] for s in steps),
        "top_cpu_us_per_event": top["cpu_us_per_event"],
        "top_subscriber_cpu_us_per_event": top["subscriber_cpu_us_per_event"],
        "p99_us_at_5k": next((s["latency_p99_us"] for s in steps if s["offered_synthetic_eps"] == 5_000), None),
    }


def run(quick: bool = False, codes: int = TARGET_CODES) -> Dict[str, Any]:
    """The stepped burst and the bare ceiling; `quick` gives every step a 10 s window."""
    from PyQt5.QtCore import QCoreApplication

    app = QCoreApplication.instance() or QCoreApplication(["koabus-bench"])
    windows = [QUICK_WINDOW_S if quick else STEP_WINDOW_S] * len(FULL_RATES_EPS)
    if not quick:
        windows[-1] = TOP_WINDOW_S
    count = 100_000 if quick else 200_000
    bare_before = _bare(count)
    batched_steps = [(rate, windows[-1] if rate == FULL_RATES_EPS[-1] else windows[0]) for rate in BATCHED_RATES_EPS]
    burst = burst_run(app, FULL_RATES_EPS, windows, codes_limit=codes, batched_steps=batched_steps)
    bare_after = _bare(count)
    batched = [s for s in burst["steps"] if s["batched"]]
    steps = [s for s in burst["steps"] if not s["batched"]]
    best = max(steps, key=lambda s: s["rate_per_subscriber_eps"])
    carried = [s["control_rate_eps"] for s in steps if s["ok"]]
    top = steps[-1]
    # the machine's load moves between the two: the mean is the ceiling, both are reported
    bare_eps = round((bare_before["rate_per_subscriber_eps"] + bare_after["rate_per_subscriber_eps"]) / 2, 1)
    return {
        "burst": burst, "bare_pyzmq_before": bare_before, "bare_pyzmq_after": bare_after,
        "summary": {
            "codes": burst["codes"], "subscribers": SUBSCRIBERS,
            "best_delivered_eps": best["rate_per_subscriber_eps"],
            "sustained_eps": max(carried, default=0.0),
            "bare_eps_to_4_subscribers": bare_eps,
            "ratio_to_bare": round(best["rate_per_subscriber_eps"] / bare_eps, 3) if bare_eps else None,
            "top_offered_eps": top["offered_synthetic_eps"], "top_window_s": top["window_s"],
            "top_lost": top["lost"], "top_latency_p99_us": top["latency_p99_us"],
            "top_latency_growth": top["latency_growth"],
            "loss_all_steps": sum(s["lost"] for s in steps),
            "top_cpu_us_per_event": top["cpu_us_per_event"],
            "top_subscriber_cpu_us_per_event": top["subscriber_cpu_us_per_event"],
            "bare_eps_before_after": [bare_before["rate_per_subscriber_eps"], bare_after["rate_per_subscriber_eps"]],
            "bare_events_per_cpu_s_at_least": min(bare_before["events_per_cpu_s_at_least"],
                                                  bare_after["events_per_cpu_s_at_least"]),
            "p99_us_at_5k": next((st["latency_p99_us"] for st in steps if st["offered_synthetic_eps"] == 5_000), None),
            "positional": _positional_summary(batched, bare_eps),
            "shared_machine_loadavg_1m": os.getloadavg()[0],
            "targets": {"eps": 50_000, "window_s": 60, "codes": TARGET_CODES, "lost": 0, "p99_us": 5_000,
                        "p99_us_at_5k": 2_000, "ratio_to_bare": 0.6},
        },
    }


# ------------------------------------------------------------------------------------------ profile

#: (frame name prefix, stage): a py-spy sample goes to the stage of its innermost matching frame
STAGES = (
    ("Outbox._pause", "Outbox pause"),
    ("Outbox.put", "Outbox.put (lock, doorbell)"),
    ("BrokerCore._on_real_data", "broker handler (stamp, filter, route)"),
    ("_guard.<locals>.guarded", "broker handler (stamp, filter, route)"),
    ("SimulatedControl._deliver", "control emulation (deliver, signal emit)"),
    ("EventQueue._drain", "control emulation (deliver, signal emit)"),
    ("EventQueue.post", "sim event queueing"),
    ("SimCore.post", "sim event queueing"),
    ("RealtimeService._synthetic_events", "sim synthetic trades"),
    ("RealtimeService.step", "sim market stream and sort"),
    ("SimHarness", "sim tick"),
    ("_pump", "Qt event loop"),
    ("FieldTable.decode", "decode FIDs"),
    ("_template_decoder", "decode FIDs"),
    ("RealtimeDecoder.event_ns", "exchange time"),
    ("PublicationEncoder.body", "msgpack body"),
    ("PublicationEncoder.envelope", "envelope and topic"),
    ("PublicationEncoder.topic", "envelope and topic"),
    ("Sequencer.frames", "numbering and last-value cache"),
    ("IoServer._realtime_frames", "split and body dict"),
    ("Socket.send", "Socket.send (I/O: PUB, 3 frames; Qt: Outbox doorbell)"),
    ("IoServer._flush_outbox", "drain loop"),
    ("Outbox.drain", "drain loop"),
    ("IoServer._loop", "poll loop, heartbeats"),
)


def stage_costs(raw_path: str, cpu_us_per_event: Dict[str, float]) -> Dict[str, float]:
    """py-spy raw samples (`--threads --gil`) -> CPU µs per event by stage: each stage's share of
    its thread's samples times that thread's measured CPU per event."""
    samples: Dict[Tuple[str, str], int] = {}
    per_thread: Dict[str, int] = {}
    with open(raw_path, encoding="utf-8") as f:
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            thread = "io_thread" if "koabus-io" in frames[0] else "qt_thread" if "MainThread" in frames[0] else "?"
            stage = "other"
            for frame in reversed(frames[1:]):
                name = frame.split(" (")[0]
                stage = next((st for prefix, st in STAGES if name.startswith(prefix)), "")
                if stage:
                    break
            key = (thread, stage or "other")
            samples[key] = samples.get(key, 0) + int(count)
            per_thread[thread] = per_thread.get(thread, 0) + int(count)
    out = {f"{t}: {st}": round(n / per_thread[t] * cpu_us_per_event.get(t, 0.0), 2)
           for (t, st), n in sorted(samples.items(), key=lambda kv: -kv[1])}
    for thread, us in cpu_us_per_event.items():
        if thread not in per_thread:  # libzmq's own threads: no Python frames, the whole thread
            out[thread] = us
    return out


#: a 주식체결 payload as the control sends it (bench_broker._sample_body decodes the same texts)
SAMPLE_RAWS = ("142942", "-77100", "-400", "-0.52", "-77100", "-76900", "+3", "7884712", "608869", "+77600",
               "+77800", "-76600", "5", "-900410", "-70033816000", "-89.75", "0.13", "201", "61.12", "4602702",
               "2", "0", "-89.68", "000000", "000000", "11814", "090003", "100015", "133453", "4817707",
               "2944634", "-37.93", "30338", "31739", "+231", " 0", "+3", "+3", "30840", "24672", "77222", "411",
               "0")


def _best_us(fn: Callable[[int], Any], n: int, reps: int = 5) -> float:
    """CPU µs per call of `fn(n)` / n on this thread, best of `reps` (a shared machine inflates the rest)."""
    best = float("inf")
    for _ in range(reps):
        t0 = time.thread_time()
        fn(n)
        best = min(best, time.thread_time() - t0)
    return best / n * 1e6


def _repeat(call: Callable[[], Any]) -> Callable[[int], None]:
    """`call` k times, keeping no result (a list of them would time the allocator and the collector)."""
    def loop(k: int) -> None:
        for _ in range(k):
            call()
    return loop


def isolated_stages(n: int = 20_000) -> Dict[str, float]:
    """CPU µs per 주식체결 event of the I/O thread's stages run alone on one thread, with the same
    payload bench_broker uses, and what the design options in docs/burst-profile.md would cost
    instead (positional values, raw text, several events per frame)."""
    import msgpack
    import zmq

    from koabus.common.clock import VirtualClock
    from koabus.common.protocol.publication import PublicationEncoder
    from koabus.metadata import catalog
    from koabus.services.broker.decoding import RealtimeDecoder
    from koabus.services.broker.publisher import Sequencer

    decoder = RealtimeDecoder(catalog(), VirtualClock(speed=0))
    slug, table = decoder.table("주식체결")
    raw = "\t".join(SAMPLE_RAWS[:table.size])
    row = raw.split("\t")
    values, bad = table.decode(row)
    assert not bad, "the sample payload must take the strict (hot) decode path"
    body = {"type": "주식체결", "code": "005930", "values": values}
    cycle = itertools.cycle([f"rt.{slug}.{i:06d}" for i in range(336)])  # a fresh body replaces each topic's
    encoder, sequencer = PublicationEncoder(), Sequencer()
    pack = msgpack.Packer(use_bin_type=True).pack
    positional = list(values.values())
    out: Dict[str, float] = {"fields": float(table.size), "body_bytes": float(len(encoder.body(body))),
                             "positional_body_bytes": float(len(pack(["주식체결", "005930", positional])))}
    out["split payload"] = _best_us(_repeat(lambda: raw.split("\t")), n)
    out["decode FIDs (table.decode)"] = _best_us(_repeat(lambda: table.decode(row)), n)
    out["exchange time"] = _best_us(_repeat(lambda: decoder.event_ns(values, 1.7e9)), n)
    out["msgpack body (keyed values)"] = _best_us(_repeat(lambda: encoder.body(body)), n)
    out["envelope"] = _best_us(_repeat(lambda: encoder.envelope("RT", 1, 7, 7, 1, 2)), n)
    out["Sequencer.frames (number, encode, cache)"] = _best_us(
        _repeat(lambda: sequencer.frames(next(cycle), "RT", {**body, "values": table.decode(row)[0]}, 1, 2)), n)
    out["Sequencer.frames (number, encode, cache)"] -= out["decode FIDs (table.decode)"]
    out["ALT msgpack body positional values"] = _best_us(_repeat(lambda: pack(["주식체결", "005930", positional])), n)
    out["ALT msgpack body raw text"] = _best_us(_repeat(lambda: pack(["주식체결", "005930", raw])), n)
    ctx = zmq.Context()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    try:
        for sock, opt in ((pub, zmq.SNDHWM), (sub, zmq.RCVHWM)):
            sock.setsockopt(opt, 0)
            sock.setsockopt(zmq.LINGER, 0)
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.setsockopt(zmq.SUBSCRIBE, b"rt.")
        time.sleep(0.3)
        envelope, body_frame = encoder.envelope("RT", 1, 1, 1, 1, 2), encoder.body(body)

        def send3(k: int) -> None:
            for _ in range(k):
                pub.send(b"rt.trade.005930", zmq.SNDMORE)
                pub.send(envelope, zmq.SNDMORE)
                pub.send(body_frame)

        def receive(k: int) -> None:  # bench_broker's subscriber loop: 3 frames and the envelope
            got = 0
            while got < k and sub.poll(2000):
                msgpack.unpackb(sub.recv_multipart()[1])
                got += 1

        batch = pack([[envelope, body_frame]] * 50)

        def send_batched(k: int) -> None:
            for _ in range(k // 50):
                pub.send(b"rt.batch.trade", zmq.SNDMORE)
                pub.send(batch)

        out["PUB send 3 frames (caller's thread)"] = _best_us(send3, n, 3)
        send3(n)
        out["SUB recv_multipart + envelope (a subscriber)"] = _best_us(receive, n, 1)
        while sub.poll(200):
            sub.recv_multipart()
        out["ALT PUB send, 50 events per frame"] = _best_us(send_batched, n, 3)
        while sub.poll(200):
            sub.recv_multipart()
    finally:
        pub.close(0)
        sub.close(0)
        ctx.term()
    return {k: round(v, 2) for k, v in out.items()}


def profile(py_spy: str, rate_eps: float, window_s: float, raw_path: str) -> Dict[str, Any]:
    """One burst step with py-spy (a binary installed outside the project, given by path) sampling
    this process's threads while they hold the GIL; the step's figures and the cost by stage."""
    from PyQt5.QtCore import QCoreApplication

    app = QCoreApplication.instance() or QCoreApplication(["koabus-bench"])
    spies: List[subprocess.Popen] = []

    def attach(seconds: float) -> None:
        spies.append(subprocess.Popen(
            [py_spy, "record", "--nonblocking", "--gil", "--threads", "-r", "250", "-d", str(int(seconds)),
             "-f", "raw", "-o", raw_path, "-p", str(os.getpid())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    try:
        step = burst_run(app, [rate_eps], [window_s], on_window=attach)["steps"][0]
    finally:
        for spy in spies:
            spy.wait(window_s + 30)
    return {"step": step, "stages_cpu_us_per_event": stage_costs(raw_path, step["cpu_us_per_event"])}


if __name__ == "__main__":
    # python -m bench.bench_burst [--quick] [--codes N]
    # python -m bench.bench_burst --profile PY_SPY RATE_EPS WINDOW_S RAW_OUT
    # python -m bench.bench_burst --stages
    import json
    import logging

    logging.basicConfig(level=logging.WARNING)
    args = sys.argv[1:]
    if args[:1] == ["--stages"]:
        figures = isolated_stages()
    elif args[:1] == ["--profile"]:
        figures = profile(args[1], float(args[2]), float(args[3]), args[4])
    else:
        codes = int(args[args.index("--codes") + 1]) if "--codes" in args else TARGET_CODES
        figures = run(quick="--quick" in args, codes=codes)
    print(json.dumps(figures, indent=2, ensure_ascii=False))
