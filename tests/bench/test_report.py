"""bench/report.py's generic section: plain figures, the targets, and one nested summary's plain figures."""
from __future__ import annotations

from bench import report


def test_generic_section_flattens_a_nested_summary():
    figures = {"summary": {"codes": 2500, "targets": {"eps": 50000},
                           "batched": {"best_delivered_eps": 10706.9, "top_cpu_us_per_event": {"io": 1.0}},
                           "steps": [1, 2]}}
    text = "\n".join(report.generic_section("bench_burst", figures, "run.json"))
    assert "| codes | 2,500 |" in text and '| targets | {"eps": 50000} |' in text
    assert "| batched: best_delivered_eps | 10,707 |" in text
    assert "top_cpu_us_per_event" not in text and "steps" not in text
