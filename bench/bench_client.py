"""Client benchmark: a 10-year daily download of one code and a 200-code OPTKWFID snapshot, through the real
broker on the simulated control, split into time spent waiting on Kiwoom pacing versus our own overhead.

Method: each workload runs against brokers at two virtual-clock speeds. Waiting on the (virtual) clock
- pacing windows and the simulated server's latency - shrinks with speed, our overhead (client,
broker, sockets, decoding, DataFrames) does not, so with T(s) = overhead + virtual_wait / s measured at
two speeds both parts follow. The projected real-time total is overhead + virtual_wait. The pacing
windows mimic Kiwoom's operator guidance (5/1 s, 5/17 s, 25/90 s, 50/180 s), as a careful real
deployment would configure them. The broker's `sys.throttle` notices are recorded as a cross-check.
Above 2,000x the simulator's own market churn slows the broker's Qt thread, so the speeds stay moderate.
`sdk_fraction` is the part spent in this SDK alone (typing rows and building DataFrames).

    python -m bench client                  # with the bench runner (results in bench/results/)
    python -m bench.bench_client            # alone, prints JSON
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

NAME = "client"
TARGET_OVERHEAD_FRACTION = 0.05
SIM_START = "2025-06-02T09:05:00+09:00"
TEN_YEARS_START = "2015-06-01"
STRICT_TR_WINDOWS = [[5, 1.0], [5, 17.0], [25, 90.0], [50, 180.0]]
_RUNNER = (
    "import sys, json\n"
    "from koabus.services.broker.app import run\n"
    "from koabus.services.broker.config import load_settings\n"
    "sys.exit(run(load_settings(None, json.loads(sys.argv[1]))))\n"
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Broker:
    def __init__(self, speed: float):
        self.router = f"tcp://127.0.0.1:{_port()}"
        self.pub = f"tcp://127.0.0.1:{_port()}"
        overrides = {"router": self.router, "pub": self.pub, "sim": {"speed": speed, "start": SIM_START},
                     "pacing": {"tr_windows": STRICT_TR_WINDOWS}}
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
        self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, json.dumps(overrides)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def _ready(router: str, pub: str, timeout_s: float = 30.0) -> None:
    from koabus.common.client import AsyncClient, ClientOptions

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            async with AsyncClient(router, pub, options=ClientOptions(connect_timeout_s=2)) as client:
                if await client.EnsureConnected() == 0:
                    return
        except Exception:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.1)


async def _workloads(router: str, pub: str) -> Dict[str, Dict[str, Any]]:
    from koabus.common.client import AsyncClient, ClientOptions, frames

    convert = _timed(frames, ("bars", "multi_frame"))
    out: Dict[str, Dict[str, Any]] = {}
    async with AsyncClient(router, pub, options=ClientOptions(timeout_s=600)) as client:
        throttle: List[Tuple[float, Dict[str, Any]]] = []
        client.on_throttle(lambda body: throttle.append((time.perf_counter(), body)))
        codes = await client.codes()
        kw_codes = (codes[:100] + codes[len(codes) - 100:]) if len(codes) >= 100 else codes * 2

        await client.daily("005930", "2025-05-01")  # warm-up: imports, metadata, caches
        for name, job in (("daily_10y", lambda: client.daily("005930", TEN_YEARS_START, "2025-05-30")),
                          ("optkwfid_200", lambda: client.quotes(kw_codes))):
            throttle.clear()
            convert["s"] = 0.0
            started = time.perf_counter()
            result = await job()
            total = time.perf_counter() - started
            out[name] = {"total_s": total, "rows": len(result), "dataframe_s": convert["s"],
                         "throttle_wait_s": _throttle_wait(throttle, started)}
    return out


def _timed(module: Any, names: Tuple[str, ...]) -> Dict[str, float]:
    """Accumulate the time spent in the SDK's DataFrame builders (this process only)."""
    spent = {"s": 0.0}
    for name in names:
        original = getattr(module, name)

        def wrapper(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - started

        setattr(module, name, wrapper)
    return spent


def _throttle_wait(events: List[Tuple[float, Dict[str, Any]]], started: float) -> float:
    wait, since = 0.0, None
    for at, body in events:
        if body.get("state") == "start" and since is None:
            since = at
        elif body.get("state") == "end" and since is not None:
            wait += at - since
            since = None
    return wait


def _measure(speed: float) -> Dict[str, Dict[str, Any]]:
    broker = _Broker(speed)
    try:
        asyncio.run(_ready(broker.router, broker.pub))
        return asyncio.run(_workloads(broker.router, broker.pub))
    finally:
        broker.stop()


def run(fast_speed: float = 400.0, slow_speed: float = 50.0) -> Dict[str, Any]:
    """Measure both workloads at two speeds; returns the split and whether the 5% target holds."""
    fast, slow = _measure(fast_speed), _measure(slow_speed)
    results: Dict[str, Any] = {"benchmark": NAME, "speeds": [slow_speed, fast_speed],
                               "target_overhead_fraction": TARGET_OVERHEAD_FRACTION, "workloads": {}}
    ok = True
    for name in fast:
        t_fast, t_slow = fast[name]["total_s"], slow[name]["total_s"]
        virtual_wait = max(0.0, (t_slow - t_fast) / (1.0 / slow_speed - 1.0 / fast_speed))
        overhead = max(0.0, t_fast - virtual_wait / fast_speed)
        projected = overhead + virtual_wait
        fraction = overhead / projected if projected else 1.0
        ok = ok and fraction < TARGET_OVERHEAD_FRACTION
        results["workloads"][name] = {
            "rows": fast[name]["rows"],
            "wall_s": {str(slow_speed): round(t_slow, 4), str(fast_speed): round(t_fast, 4)},
            "throttle_wait_wall_s": {str(slow_speed): round(slow[name]["throttle_wait_s"], 4),
                                     str(fast_speed): round(fast[name]["throttle_wait_s"], 4)},
            "virtual_wait_s": round(virtual_wait, 2),
            "our_overhead_s": round(overhead, 4),
            "of_which_sdk_dataframes_s": round(fast[name]["dataframe_s"], 4),
            "projected_real_time_s": round(projected, 2),
            "overhead_fraction": round(fraction, 5),
            "sdk_fraction": round(min(fast[name]["dataframe_s"], projected) / projected, 5) if projected else None,
        }
    results["meets_target"] = ok
    return results


def main(argv: Optional[List[str]] = None) -> int:
    """Standalone run (`python -m bench` runs it with the others and stores the results)."""
    results = run()
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0 if results["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
