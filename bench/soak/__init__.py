"""Soak and fault suite: the whole stack under supervisor through a simulated trading day, faults injected, a report.

One run (`run_soak(SoakConfig(...))`):
1. a temp run dir gets a supervisord.conf and one YAML per service (broker on the simulated control,
   recorder, alerting, bars, strategy, web), every port a free one on 127.0.0.1 and every state file
   in the run dir; supervisord starts them all and the run waits until each one beats (`sys.hb*`) and
   the broker is logged in;
2. the virtual clock runs a day from before the pre-open auction to the after-hours session at
   `speed`; `codes` codes are registered for realtime; from 09:00 the simulator adds an open burst of
   `open_burst_eps` prebuilt trades per wall second for `open_burst_wall_s` on top of the market (whose
   own open is bounded by the simulator's cost per event); `consumers` SUB processes count seq/topic_seq
   (the second takes positional batches, docs/protocol.md §4.4, so the batch path is soaked too);
   `orders` orders go through the broker (raw protocol, each with its own client_order_id, retried
   with the same id after a broker crash);
3. at seeded random moments: `kill -9` of each service's process (supervisor restarts it; recovery =
   kill to the first heartbeat of the new process, the broker's "logged in" measured apart), a control
   disconnect and a -200 storm (both through the simulated server's rate limits, see `_sim_limits`: no
   simulator change was needed), and one consumer stopped (SIGSTOP) for `stall_s`; the broker's faults
   run one at a time (a lock), each on a logged-in broker, so each one's effect and recovery is its own;
4. checks, written as bench/results/soak-<label>-<UTC stamp>.json and .md: loss accounting (what the reference
   consumers saw of rt.* against the recorder's lake and its gap rows; duplicates in the lake), orders
   (SendOrders per order in the simulated exchange's store, the broker's final state against the
   exchange's order history opw00007), recovery per service, peak RSS per service against its bound.

`python -m bench.soak [--short] [--seed N] [--keep]` runs it from the command line (the report goes to
bench/results/); tests/soak runs both sizes. The simulated listing holds 336 real codes; the full run lists
`extra_listings` synthetic stocks beside them (SimConfig.extra_listings, docs/simulator.md) so it registers
500 (`codes_registered`, `codes_synthetic` in the report), and holds the simulator's clock at the day's start
until they are registered (`hold_until_codes`), so the 09:00 open burst streams all of them.

Modules: `config` (SoakConfig, the run dir, the services' files), `processes` (supervisord, consumers,
heartbeats, RSS), `day` (the run and its faults), `accounting` (the checks and the report files).
"""
from __future__ import annotations

from .config import RESULTS_DIR, SERVICES, SoakConfig, short_config
from .day import run_soak

__all__ = ["RESULTS_DIR", "SERVICES", "SoakConfig", "run_soak", "short_config"]
