"""A real compaction process that stops at a chosen step and waits there to be killed (SIGKILL tests).

    python -m tests.common.lake.compact_proc ROOT TODAY STEP N

prints `at STEP <folder>` when it reaches the N-th occurrence of STEP, then blocks on stdin; if it is
never killed and stdin closes, it exits 3. Without reaching the step it prints `finished`.
"""
from __future__ import annotations

import sys
from pathlib import Path

from koabus.common.lake.compact import compact


def main() -> int:
    root, today, wanted, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    seen = 0

    def hook(step: str, folder: Path) -> None:
        nonlocal seen
        if step != wanted:
            return
        seen += 1
        if seen == count:
            print(f"at {step} {folder}", flush=True)
            sys.stdin.readline()
            raise SystemExit(3)

    compact(root, today=today, hook=hook)
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
