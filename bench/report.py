"""Regenerate docs/benchmarks.md from the stored results: method, machine, figures, and ratios vs targets.

    python -m bench.report                 # from bench/results/ (newest figures of each benchmark)
    python -m bench.report RESULTS.json    # from these files only (later files win per benchmark)

Each benchmark's figures come from the newest results file holding them without an error (latest.json
holds a complete run; a partial run such as `python -m bench peers` writes only its timestamped file), so
one page can show figures of different runs: the source file of each section is named. Nothing here is
measured; every ratio is computed from figures measured in one run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DOC = HERE.parent / "docs" / "benchmarks.md"


def result_files(results: Path = RESULTS) -> List[Path]:
    """The stored runs, oldest first (latest.json only when no timestamped file is left: it is a copy)."""
    paths = sorted(p for p in results.glob("*.json") if p.name != "latest.json")
    latest = results / "latest.json"
    return paths or ([latest] if latest.exists() else [])


def runs_of(paths: List[Path]) -> List[Tuple[str, Dict[str, Any]]]:
    """(file name, run) of every readable results file, in the given order."""
    runs = []
    for path in paths:
        try:
            runs.append((path.name, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return runs


def collect(paths: Optional[List[Path]] = None) -> Dict[str, Tuple[Dict[str, Any], Dict[str, Any], str]]:
    """benchmark name -> (figures, the run's header, source file name): the newest error-free figures."""
    found: Dict[str, Tuple[Dict[str, Any], Dict[str, Any], str]] = {}
    for name, run in runs_of(result_files() if paths is None else paths):
        header = {k: v for k, v in run.items() if k != "benchmarks"}
        for bench, figures in (run.get("benchmarks") or {}).items():
            if isinstance(figures, dict) and "error" not in figures:
                found[bench] = (figures, header, name)
    return found


def peers_history(paths: Optional[List[Path]] = None) -> List[str]:
    """One row per stored bench_peers run: how much the ratios move with the machine's load."""
    rows = []
    for name, run in runs_of(result_files() if paths is None else paths):
        f = (run.get("benchmarks") or {}).get("bench_peers")
        if not isinstance(f, dict) or "error" in f or "summary" not in f:
            continue
        s = f["summary"]
        load = (f.get("machine") or {}).get("loadavg_start") or [None]
        row = [name, load[0]]
        for key in ("1_sub", "4_sub"):
            sub = s.get(key) or {}
            row += [
                sub.get("koabus_to_grpc_events_per_cpu"),
                sub.get("batched_to_grpc_events_per_cpu"),
                sub.get("positional_to_grpc_events_per_cpu"),
                sub.get("koabus_to_grpc_events_per_net_cpu"),
                sub.get("koabus_p99_us"),
                sub.get("grpc_p99_us"),
            ]
        row.append((s.get("round_trip") or {}).get("koabus_meta_raw_to_echo"))
        rows.append(row)
    if len(rows) < 2:
        return []
    header = [
        "run",
        "load (1 min)",
        "1 sub: ratio",
        "batched",
        "positional",
        "net",
        "koabus p99 µs",
        "gRPC p99 µs",
        "4 subs: ratio",
        "batched",
        "positional",
        "net",
        "koabus p99 µs",
        "gRPC p99 µs",
        "meta / echo",
    ]
    return [
        "### Every stored run",
        "",
        "The same benchmark in each stored results file (koabus / gRPC events per CPU-second, gross and "
        "net of the source): the spread is this shared machine's noise.",
        "",
    ] + _table(header, rows)


def machine() -> Dict[str, Any]:
    """This machine as the report sees it (the benchmarks ran here): CPU model and count, Python."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _table(header: List[str], rows: List[List[Any]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines + [""]


def _verdict(ok: Optional[bool]) -> str:
    return "–" if ok is None else ("met" if ok else "**missed**")


DESIGN_LABELS = {"koabus_batched": "koabus, batched (§4.3)", "koabus_positional": "koabus, positional (§4.4)"}


def peers_section(figures: Dict[str, Any], source: str, header: Dict[str, Any]) -> List[str]:
    s = figures["summary"]
    fan = figures["fanout"]
    rtt = figures["round_trip"]
    targets = s.get("targets", {})
    counts = [k for k in s if k.endswith("_sub")]
    out = [f"## Peers: koabus vs a KOAPY-style gRPC server vs bare pyzmq (`bench_peers`, {source})", ""]
    out += [
        "Run: `python -m bench peers` (about 2 minutes; `make bench` runs it with the others), then "
        "`python -m bench.report`.",
        "",
    ]
    run_machine = figures.get("machine") or {}
    if run_machine:
        out += [
            f"During the run: load average {run_machine.get('loadavg_start')} at the start, "
            f"{run_machine.get('loadavg_end')} at the end (1, 5, 15 min) on {run_machine.get('cpus')} CPUs.",
            "",
        ]
    out += [
        "### Method",
        "",
        f"- Same tick payloads: the broker and the gRPC peer each host the simulated control with the same "
        f"options (fixed start {figures.get('sim_start', '2024-03-06 10:00 KST')}, "
        f"`synthetic_rate_eps` {figures['offered_eps']:,.0f} over {figures['codes']} codes, 15 ms ticks); "
        "the bare PUB sends the broker's own 주식체결 frames at the same rate in 15 ms ticks.",
        "- gRPC peer (bench/peers/grpc_server.py): KOAPY's design — the control on the Qt thread, one "
        "server-streaming `Listen` per subscriber with its own OnReceiveRealData handler building a "
        "string-typed `ListenResponse` (code, realtype, tab-joined data; single_data FIDs and values) "
        "queued to a gRPC worker thread; messages built with protobuf's descriptor API (no protoc), "
        "served through grpc generic handlers. In its favour: values come from splitting the data "
        "(not one GetCommRealData per FID) and only 주식체결 events are forwarded.",
        "- Each server is its own process on 127.0.0.1, run one after the other; subscribers are "
        "separate processes that decode every message (msgpack envelope and body; protobuf).",
        f"- Once the stream flows steadily at the offered rate (the simulator's first registration builds "
        f"each code's day, then releases the backlog in a burst) and "
        f"{figures['warmup_s']} s later, a {figures['window_s']} s window: events that arrive in it, "
        "their latency (arrival minus the server's stamp when the event reached its handler), and the "
        "CPU (utime + stime from /proc/<pid>/stat, all threads) of the server and every subscriber. "
        "**events per CPU-second** = events delivered to all subscribers / CPU seconds of server + "
        "subscribers in the window. Both servers host the same simulated control, whose own cost is "
        "not the design's: it is measured alone (the peer with the codes registered and no stream: "
        f"{_fmt((figures.get('source') or {}).get('cpu_per_event_us'))} µs per event) and taken out "
        "for the **net** figure (times the events the control made in the window).",
        "- Round trips: one client, one request at a time, after a warm-up; p50 is the figure compared. "
        "`meta {kind: fid, key: 20}` is the cached metadata call (answered by the broker's I/O thread; "
        'the gRPC peer answers `Call("meta")` on its gRPC thread); `tr opt10001` is one simulated TR '
        "page (the peer: SetInputValue, CommRqData, OnReceiveTrData, GetCommData per field). TR "
        "pacing is opened wide on both. `raw` is a DEALER speaking msgpack, the same client the bare "
        "ROUTER echo is timed with; `sdk` is koabus's AsyncClient.",
        "",
    ]
    rows = []
    for key in counts:
        for design in ("koabus", "koabus_batched", "koabus_positional", "grpc", "bare"):
            if design not in fan:
                continue
            f = fan[design][key]
            rows.append(
                [
                    DESIGN_LABELS.get(design, design),
                    f["subscribers"],
                    f["rate_per_subscriber_eps"],
                    f["delivered_in_window"],
                    f["server_cpu_s"],
                    f["subscribers_cpu_s"],
                    f["events_per_cpu_s"],
                    f.get("events_per_net_cpu_s"),
                    f["server_cpu_per_event_us"],
                    f["latency_p50_us"],
                    f["latency_p99_us"],
                ]
            )
    out += [
        "### Realtime fan-out",
        "",
        f"Offered {figures['offered_eps']:,.0f} events/s; window {figures['window_s']} s.",
        "",
    ]
    out += _table(
        [
            "design",
            "subscribers",
            "events/s per subscriber",
            "delivered",
            "server CPU s",
            "subscribers CPU s",
            "events per CPU-s",
            "net of the source",
            "server CPU µs per delivery",
            "p50 µs",
            "p99 µs",
        ],
        rows,
    )
    target = targets.get("grpc_events_per_cpu_ratio", 8.0)
    rows = []
    for key in counts:
        r = s[key]
        modes = [("single", "koabus_to_grpc_events_per_cpu", "koabus_to_grpc_events_per_net_cpu",
                  "koabus_p99_us", "koabus_to_bare_events_per_cpu")]
        for label in ("batched", "positional"):
            if f"{label}_to_grpc_events_per_cpu" in r:
                modes.append((label, f"{label}_to_grpc_events_per_cpu", f"{label}_to_grpc_events_per_net_cpu",
                              f"{label}_p99_us", f"{label}_to_bare_events_per_cpu"))
        for mode, ratio_key, net_key, p99_key, bare_key in modes:
            ratio, net, p99 = r[ratio_key], r.get(net_key), r[p99_key]
            p99_ok = None if p99 is None or r["grpc_p99_us"] is None else p99 < r["grpc_p99_us"]
            rows.append(
                [
                    key.replace("_sub", ""),
                    mode,
                    ratio,
                    _verdict(None if ratio is None else ratio >= target),
                    net,
                    _verdict(None if net is None else net >= target),
                    p99,
                    r["grpc_p99_us"],
                    _verdict(p99_ok),
                    r[bare_key],
                ]
            )
    out += [
        f"Ratios (target: koabus ≥ {target:g}× the gRPC design's events per CPU-second, and a lower p99). "
        "`single` is the default wire format, one message per event (what every subscriber gets); "
        "`batched` is the same broker with its subscribers opted in to batched realtime "
        "(docs/protocol.md §4.3, `rtb.trade`), several events per message; `positional` to positional batches "
        "(§4.4, `rtp.trade`), the same with each event's values as an array:",
        "",
    ]
    out += _table(
        [
            "subscribers",
            "koabus mode",
            "koabus / gRPC events per CPU-s",
            "",
            "net of the source",
            "",
            "koabus p99 µs",
            "gRPC p99 µs",
            "lower p99",
            "koabus / bare events per CPU-s",
        ],
        rows,
    )
    r = s["round_trip"]
    rt_target = targets.get("meta_rtt_to_echo_ratio", 1.3)
    rows = [
        [
            "bare DEALER/ROUTER echo (same request frames)",
            rtt["bare_echo"]["meta"]["p50_us"],
            rtt["bare_echo"]["meta"]["p99_us"],
            1.0,
        ],
        [
            "koabus `meta`, raw DEALER",
            rtt["koabus"]["meta_raw"]["p50_us"],
            rtt["koabus"]["meta_raw"]["p99_us"],
            r["koabus_meta_raw_to_echo"],
        ],
        [
            "koabus `meta`, SDK",
            rtt["koabus"]["meta_sdk"]["p50_us"],
            rtt["koabus"]["meta_sdk"]["p99_us"],
            r["koabus_meta_sdk_to_echo"],
        ],
        [
            'gRPC unary `Call("meta")`',
            rtt["grpc"]["meta"]["p50_us"],
            rtt["grpc"]["meta"]["p99_us"],
            r["grpc_meta_to_echo"],
        ],
        [
            "koabus `tr opt10001`, raw DEALER",
            rtt["koabus"]["tr_raw"]["p50_us"],
            rtt["koabus"]["tr_raw"]["p99_us"],
            None,
        ],
        [
            "koabus `tr opt10001`, SDK",
            rtt["koabus"]["tr_sdk"]["p50_us"],
            rtt["koabus"]["tr_sdk"]["p99_us"],
            None,
        ],
        ["gRPC `TransactionCall` opt10001", rtt["grpc"]["tr"]["p50_us"], rtt["grpc"]["tr"]["p99_us"], None],
    ]
    out += ["### Request round trips", ""]
    out += _table(["call", "p50 µs", "p99 µs", "p50 / echo"], rows)
    raw = r["koabus_meta_raw_to_echo"]
    out += [
        f"- Cached metadata call vs the bare echo (target ≤ {rt_target:g}×): raw {_fmt(raw)}× "
        f"({_verdict(None if raw is None else raw <= rt_target)}), "
        f"SDK {_fmt(r['koabus_meta_sdk_to_echo'])}×.",
        f"- gRPC vs koabus (raw), p50: metadata {_fmt(r['grpc_meta_to_koabus_meta_raw'])}×, "
        f"TR {_fmt(r['grpc_tr_to_koabus_tr_raw'])}×.",
        "",
    ]
    c = figures.get("bare_ceiling")
    if not c:
        return out
    out += [
        "### Bare pyzmq ceiling",
        "",
        f"A PUB flat out (bench_broker's `bare_run`, {c['published']:,} publications of the broker's body, "
        f"envelope and body packed per message) to 4 SUB processes: "
        f"{_fmt(c['rate_per_subscriber_eps'])} events/s per subscriber, lost {c['lost']}. At the offered "
        "rate the fan-out table shows the broker's CPU per delivery next to the bare PUB's (koabus / bare "
        "events per CPU-s above); bench_broker's own section, when it has run, gives the broker's "
        "saturated rate as a fraction of this ceiling.",
        "",
    ]
    return out


def client_section(figures: Dict[str, Any], source: str) -> List[str]:
    out = [
        f"## Client overhead: 10-year daily download (`bench_client`, {source})",
        "",
        "Target: overhead < 5% of the total. Floor = pacing wait + server latency (the simulator holds "
        "each answer `latency_ms_per_page`) + control; overhead = total - floor; each row is the median "
        "of the repeated runs. See the module docstring of bench/bench_client.py for the method.",
        "",
    ]
    rows = []
    for workload, by_speed in figures.get("workloads", {}).items():
        for speed, f in by_speed.items():
            if isinstance(f, dict):
                rows.append(
                    [
                        workload,
                        speed,
                        f.get("rows"),
                        f.get("total_s"),
                        f.get("pacing_wait_s"),
                        f.get("server_latency_s"),
                        f.get("control_s"),
                        f.get("floor_s"),
                        f.get("overhead_s"),
                        f.get("of_which_sdk_dataframes_s"),
                        f.get("of_which_broker_typing_s"),
                        f.get("broker_typing_overlapped_s"),
                        f.get("sdk_dataframes_after_last_page_s"),
                        f.get("overhead_fraction"),
                    ]
                )
    out += _table(
        [
            "workload",
            "clock",
            "rows",
            "total s",
            "pacing wait s",
            "server latency s",
            "control s",
            "floor s",
            "overhead s",
            "of which SDK DataFrames s",
            "of which broker typing s",
            "of which overlapped s",
            "SDK frames after last page s",
            "overhead fraction",
        ],
        rows,
    )
    out += [f"Verdict: {figures.get('verdict')} (meets target: {figures.get('meets_target')}).", ""]
    return out


def generic_section(name: str, figures: Dict[str, Any], source: str) -> List[str]:
    summary = figures.get("summary") if isinstance(figures.get("summary"), dict) else figures
    rows = [
        [k, json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v]
        for k, v in summary.items()
        if not isinstance(v, (dict, list)) or k == "targets"
    ]
    for k, v in summary.items():  # a nested summary (bench_burst's positional steps): its figures, two levels down
        if isinstance(v, dict) and k != "targets":
            for kk, vv in v.items():
                if isinstance(vv, dict):
                    rows += [[f"{k}: {kk}: {name}", value] for name, value in vv.items()
                             if not isinstance(value, (dict, list))]
                elif not isinstance(vv, list):
                    rows.append([f"{k}: {kk}", vv])
    return [f"## `{name}` ({source})", ""] + _table(["figure", "value"], rows)


def render(found: Dict[str, Tuple[Dict[str, Any], Dict[str, Any], str]], history: List[str] = ()) -> str:
    m = machine()
    out = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench.report` from bench/results/ (`make bench` runs every benchmark, "
        "then this); do not edit by hand. Each section names the results file its figures come from. "
        "Every comparison is between figures measured in the same run on the same machine.",
        "",
        "## Machine",
        "",
    ]
    out += _table(
        ["", ""],
        [
            ["CPU", m["cpu_model"]],
            ["CPUs", m["cpus"]],
            ["memory GB", m["memory_gb"]],
            ["Python", m["python"]],
            ["platform", m["platform"]],
        ],
    )
    out += [
        "This is a shared 2-core machine: other work may run beside a benchmark, which shows as noise "
        "(the peers section records the load average around its run).",
        "",
    ]
    if "bench_peers" in found:
        figures, header, source = found["bench_peers"]
        out += peers_section(figures, source, header) + list(history)
    if "bench_client" in found:
        figures, _, source = found["bench_client"]
        out += client_section(figures, source)
    for name in sorted(found):
        if name not in ("bench_peers", "bench_client"):
            figures, _, source = found[name]
            out += generic_section(name, figures, source)
    if not found:
        out += ["No results yet: run `make bench` (or `python -m bench peers`).", ""]
    return "\n".join(out).rstrip() + "\n"


def write_report(paths: Optional[List[Path]] = None, doc: Path = DOC) -> Path:
    """Render the newest figures into `doc` and return its path."""
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render(collect(paths), peers_history(paths)), encoding="utf-8")
    return doc


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    paths = [Path(a) for a in argv] or None
    print(f"report: {write_report(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
