"""bench/report.py's generic section: plain figures, the targets, and a nested summary's figures two levels down."""
from __future__ import annotations

from bench import report


def test_generic_section_flattens_a_nested_summary():
    figures = {"summary": {"codes": 2500, "targets": {"eps": 50000},
                           "positional": {"best_delivered_eps": 10706.9, "top_cpu_us_per_event": {"io": 1.5},
                                          "latencies": [1, 2]},
                           "steps": [1, 2]}}
    text = "\n".join(report.generic_section("bench_burst", figures, "run.json"))
    assert "| codes | 2,500 |" in text and '| targets | {"eps": 50000} |' in text
    assert "| positional: best_delivered_eps | 10,707 |" in text
    assert "| positional: top_cpu_us_per_event: io | 1.5 |" in text
    assert "latencies" not in text and "steps" not in text
