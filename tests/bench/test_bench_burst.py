"""bench_burst in a tiny mode: one low-rate step over a few codes loses nothing and reports every figure
(no timing asserts: speed is measured in bench/)."""
from __future__ import annotations

import math

from bench import bench_burst


def test_one_small_step_is_counted_in_full(qapp):
    run = bench_burst.burst_run(qapp, rates_eps=[1_000], windows_s=[1.0], codes_limit=12,
                                batched_steps=[(1_000, 1.0)])
    assert run["codes"] == 12 and run["days_built"] is True
    single, batched = run["steps"]
    assert (single["batched"], batched["batched"]) == (False, True)
    # batch subscribers count every event inside the batches: nothing lost, every topic seen
    assert batched["published_in_window"] > 0 and batched["lost"] == 0 and batched["gaps"] == 0
    assert batched["topics_unseen"] == 0
    step = single
    assert step["published_in_window"] > 0
    assert step["lost"] == 0 and step["gaps"] == 0 and step["topics_unseen"] == 0
    assert step["loss_per_subscriber"] == [0] * bench_burst.SUBSCRIBERS
    assert len(step["rates_per_subscriber_eps"]) == bench_burst.SUBSCRIBERS
    for key in ("rate_per_subscriber_eps", "control_rate_eps", "latency_p50_us", "latency_q1_p50_us",
                "latency_q4_p50_us"):
        assert isinstance(step[key], (int, float)) and math.isfinite(step[key]) and step[key] > 0, key
    assert step["latency_p50_us"] <= step["latency_p99_us"] <= step["latency_max_us"]
    assert step["cpu_us_per_event"].get("qt_thread", 0) > 0
