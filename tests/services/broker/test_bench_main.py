"""`python -m bench`: latest.json is replaced only by a complete run; a partial run keeps it."""
from __future__ import annotations

import json
import types

import pytest

import bench.__main__ as bench_main


@pytest.fixture
def fake_benchmarks(tmp_path, monkeypatch):
    for name in ("bench_alpha", "bench_beta"):
        (tmp_path / f"{name}.py").write_text("", encoding="utf-8")
    outcomes = {"bench_alpha": {"eps": 1}, "bench_beta": {"eps": 2}}

    def import_module(qualified):
        name = qualified.split(".", 1)[1]

        def run():
            outcome = outcomes[name]
            if isinstance(outcome, Exception):
                raise outcome
            return dict(outcome)

        return types.SimpleNamespace(run=run)

    monkeypatch.setattr(bench_main, "HERE", tmp_path)
    monkeypatch.setattr(bench_main, "DOC", tmp_path / "docs" / "benchmarks.md")  # never the repository's
    monkeypatch.setattr(bench_main.importlib, "import_module", import_module)
    return tmp_path, outcomes


def _latest(root):
    path = root / "results" / "latest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def test_a_complete_run_writes_latest(fake_benchmarks, capsys):
    root, _ = fake_benchmarks
    assert bench_main.main([]) == 0
    latest = _latest(root)
    assert latest["complete"] is True and set(latest["benchmarks"]) == {"bench_alpha", "bench_beta"}
    assert len(list((root / "results").glob("2*.json"))) == 1
    assert "bench_alpha" in (root / "docs" / "benchmarks.md").read_text(encoding="utf-8")  # the report of this run


def test_a_selected_or_failed_run_leaves_latest_alone(fake_benchmarks, capsys):
    root, outcomes = fake_benchmarks
    assert bench_main.main([]) == 0
    before = _latest(root)
    assert bench_main.main(["alpha"]) == 0  # only one benchmark selected
    assert _latest(root) == before
    outcomes["bench_beta"] = RuntimeError("boom")
    assert bench_main.main([]) == 1  # all selected, one failed
    assert _latest(root) == before
    stamped = sorted((root / "results").glob("2*.json"))
    assert stamped  # each run still leaves its own timestamped file
    last = json.loads(stamped[-1].read_text(encoding="utf-8"))
    assert last["complete"] is False and "error" in last["benchmarks"]["bench_beta"]
