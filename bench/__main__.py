"""Run every benchmark module in bench/ (bench_*.py, each with `run() -> dict`) and write the results.

Results go to bench/results/<UTC timestamp>.json; bench/results/latest.json is replaced only by a
complete run (every benchmark selected and none failed), so it always holds one full set of figures.
"""
from __future__ import annotations

import importlib
import json
import logging
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
#: the report `make bench` regenerates
DOC = HERE.parent / "docs" / "benchmarks.md"


def write_results(results: Dict[str, Any], out: Path, complete: bool) -> List[Path]:
    """Write the timestamped file, and latest.json too when the run was complete; return the paths."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2, ensure_ascii=False)
    paths = [out / f"{stamp}.json"]
    if complete:
        paths.append(out / "latest.json")
    for path in paths:
        path.write_text(text, encoding="utf-8")
    return paths


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    wanted = [a for a in argv if not a.startswith("-")]
    every = sorted(p.stem for p in HERE.glob("bench_*.py"))
    modules = every
    if wanted:
        modules = [m for m in every if m in wanted or m.replace("bench_", "") in wanted]
    results = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "python": platform.python_version(), "machine": platform.machine(), "benchmarks": {}}
    failed = False
    for name in modules:
        print(f"== {name}", flush=True)
        start = time.monotonic()
        try:
            module = importlib.import_module(f"bench.{name}")
            figures = module.run()
            figures["wall_s"] = round(time.monotonic() - start, 1)
            results["benchmarks"][name] = figures
        except Exception as exc:  # report and keep going with the other benchmarks
            failed = True
            results["benchmarks"][name] = {"error": f"{type(exc).__name__}: {exc}"}
            logging.exception("%s failed", name)
        print(json.dumps(results["benchmarks"][name], indent=2, ensure_ascii=False), flush=True)
    complete = not failed and modules == every
    results["complete"] = complete
    paths = write_results(results, HERE / "results", complete)
    names = " and ".join(f"bench/results/{p.name}" for p in paths)
    print(f"results: {names}" + ("" if complete else " (a partial run: latest.json left as it was)"))
    from bench.report import result_files, write_report  # DOC from the newest figures of each benchmark

    print(f"report: {write_report(result_files(HERE / 'results'), DOC)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
