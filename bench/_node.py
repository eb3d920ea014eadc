"""Node.js for the Node client's benchmark and tests: `node`, with clients/node's packages installed by
`npm ci` from its lockfile when they are missing or the lockfile changed (a stamp keeps its hash)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

NODE_DIR = Path(__file__).resolve().parents[1] / "clients" / "node"
STAMP = NODE_DIR / "node_modules" / ".koabus-npm-ci.stamp"


class NodeUnavailable(RuntimeError):
    """node or npm is not installed, or `npm ci` failed: the message says what to do."""


def node_with_packages(timeout_s: float = 300.0) -> str:
    """The path of `node`, once clients/node/node_modules matches the lockfile."""
    tools = {name: shutil.which(name) for name in ("node", "npm")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        raise NodeUnavailable(f"{' and '.join(missing)} not on PATH: run deploy/install-test-tools.sh (as root) "
                              "to install Debian's nodejs and npm")
    lock = hashlib.sha256((NODE_DIR / "package-lock.json").read_bytes()).hexdigest()
    if not (STAMP.exists() and STAMP.read_text() == lock):
        done = subprocess.run([tools["npm"], "ci", "--no-audit", "--no-fund"], cwd=str(NODE_DIR),
                              capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise NodeUnavailable(f"npm ci in {NODE_DIR} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        STAMP.write_text(lock)
    return str(tools["node"])
