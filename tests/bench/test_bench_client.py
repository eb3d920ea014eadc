"""bench_client in a tiny mode: one short daily download at one speed reports every figure, finite, and
its floor and overhead add up to the measured total (no timing asserts: speed is measured in bench/)."""
from __future__ import annotations

import math

import pytest

from bench import bench_client

FIGURES = ("total_s", "pacing_wait_s", "server_latency_s", "control_s", "floor_s", "overhead_s",
           "of_which_broker_typing_s", "of_which_sdk_dataframes_s", "overhead_fraction",
           "projected_real_time_s", "overhead_fraction_real_time")


@pytest.fixture(scope="module")
def tiny():
    """About one year of daily bars (one opt10081 page) on a broker of its own, without the OPTKWFID run."""
    return bench_client.run(speeds=(50.0,), kwfid=False, daily_start="2024-09-02", repeats=1)


def test_the_short_download_reports_every_figure_finite(tiny):
    figures = tiny["workloads"]["daily_10y"]["50x"]
    assert figures["rows"] > 100 and figures["pages"] >= 1
    for key in FIGURES:
        assert isinstance(figures[key], (int, float)) and math.isfinite(figures[key]), key
    assert figures["total_s"] > 0 and figures["control_s"] > 0 and figures["of_which_sdk_dataframes_s"] > 0
    assert figures["server_latency_s"] == pytest.approx(figures["pages"] * bench_client.LATENCY_MS / 1000)
    assert tiny["workloads"]["daily_10y"]["overhead_spread_s"] == 0
    assert tiny["meets_target"] is (figures["overhead_fraction"] < bench_client.TARGET_OVERHEAD_FRACTION)


def test_the_split_adds_up_to_the_total(tiny):
    f = tiny["workloads"]["daily_10y"]["50x"]
    rounding = 1e-3
    floor_s = f["pacing_wait_s"] + f["server_latency_s"] + f["control_s"]
    assert f["floor_s"] == pytest.approx(floor_s, abs=rounding)
    assert f["floor_s"] + f["overhead_s"] == pytest.approx(f["total_s"], abs=rounding)
    assert f["overhead_fraction"] == pytest.approx(f["overhead_s"] / f["total_s"], abs=rounding)
    assert f["projected_real_time_s"] == pytest.approx(f["total_s"] + f["pacing_wait_s"] * 49, abs=0.01)


def test_split_puts_pacing_back_at_one_x_and_types_in_the_broker_as_overhead():
    measured = {"total_s": 1.0, "rows": 10, "pages": 2, "dataframe_s": 0.1, "broker_paced_wait_s": 20.0,
                "broker_control_s": 0.15, "dynamic_call_s": 0.05}
    f = bench_client.split(measured, speed=100.0, latency_ms=100)
    assert f["pacing_wait_s"] == 0.2 and f["server_latency_s"] == 0.2 and f["control_s"] == 0.05
    assert f["floor_s"] == 0.45 and f["overhead_s"] == 0.55 and f["of_which_broker_typing_s"] == 0.1
    assert f["projected_real_time_s"] == 20.8 and f["overhead_fraction"] == 0.55
    assert bench_client.verdict([f]) == (False, "overhead above the target (worst fraction 0.55)")
