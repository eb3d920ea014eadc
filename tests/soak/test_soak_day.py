"""The soak and fault suite (bench/soak.py) as tests: the whole stack under supervisor through a simulated
day with kill -9 of every service, a control disconnect, a -200 storm and a stalled consumer.

The short run (make test) is sized for a shared 2-core machine; the full run (500 codes, the whole day at
250x, an open burst of 20,000 events/s offered: make soak) is marked slow. Both assert the same checks on the report they write under bench/results/:
no silent loss and no duplicates in the recorder's lake, exactly one SendOrder per order with the broker's
final state matching the simulated exchange, every service back on its own, peak RSS under its bound.
Recovery times are reported against the 5 s target, never asserted (timing is the benchmark's business).
"""
from __future__ import annotations

import json
import os

import pytest

from bench.soak import SERVICES, SoakConfig, run_soak, short_config


def _assert_report(report) -> None:
    where = f"report: {report['files']}"
    checks = report["checks"]
    loss = report["loss"]
    assert loss["seen"] > 1000 and loss["lake_rows"] > 1000, (loss, where)
    assert checks["no_silent_loss"], (loss["silent_loss"], loss["silent_examples"], where)
    assert checks["no_duplicates"], (loss["duplicates"], where)
    orders = report["orders"]["orders"]
    assert orders and checks["exactly_one_send_order"], (orders, where)
    assert checks["orders_match_exchange"], (orders, where)
    killed = {name for name, r in report["recovery"].items() if r.get("killed")}
    assert killed >= set(SERVICES), (report["recovery"], where)
    assert checks["every_service_recovered"], (report["recovery"], where)
    assert checks["rss_within_bound"], (report["rss"], where)
    assert report["storm"] and report["storm"]["overload_200"] > 0, (report["storm"], where)
    events = [e["event"] for e in report["faults"]]
    assert "consumer stalled" in events and "control disconnected" in events, (events, where)
    # the stalled consumer held back nobody: the others saw every topic_seq of every epoch in order
    assert report["others_gapless_during_stall"], (report["consumers"], where)
    # one reference consumer took the stream as positional batches (§4.4), as much of it as the single one
    single, positional = report["consumers"][0], report["consumers"][1]
    assert positional["positional"] and not single["positional"], (report["consumers"], where)
    assert positional["received"] >= 0.95 * single["received"] > 0, (report["consumers"], where)
    # the open burst was offered on top of the market, and every consumer that was not stalled has its figures
    burst = report["open_burst"]
    assert burst["offered_eps"] > 0 and burst["window_virtual"][0] == "09:00:00", (burst, where)
    assert len(burst["consumers"]) == len(report["consumers"]) - 1, (burst, where)
    assert all(c["peak_per_s"] >= c["best_sustained_per_s"] > 0 for c in burst["consumers"]), (burst, where)


@pytest.mark.timeout(420)
def test_short_soak_day_with_every_fault(tmp_path):
    seed = int(os.environ.get("KOABUS_SOAK_SEED", "20240306"))  # another seed: another fault schedule
    report = run_soak(short_config(seed), results_dir=tmp_path)
    print(json.dumps({"seed": seed, "checks": report["checks"], "recovery": report["recovery"]}, indent=1))
    assert sorted(p.suffix for p in tmp_path.glob("soak-short-*")) == [".json", ".md"]
    _assert_report(report)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_full_soak_day_500_codes():
    from bench.soak import RESULTS_DIR

    report = run_soak(SoakConfig(), results_dir=RESULTS_DIR)
    _assert_report(report)
