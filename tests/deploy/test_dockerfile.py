"""deploy/docker/Dockerfile builds the right thing, read without an engine: the extras the simulated
broker and the CLI need, a real koabus command, a clean build context, state where the volumes are."""
from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from koabus.services.broker.config import BrokerSettings
from tests.conftest import REPO
from tests.deploy import compose_check

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.8-3.10
    tomllib = None

DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
# what `koabus broker --backend sim` and the consumer CLI import beyond the base dependencies
NEEDED_EXTRAS = {"qt", "sim", "client"}
# never in an image: the host's venv (host paths), runtime state (journal, simulated account), history
NEVER_IN_CONTEXT = (".venv", "var", ".git")


def instructions(path: Path) -> List[tuple]:
    """(INSTRUCTION, argument text) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.rstrip().endswith("\\"):
            word, _, rest = pending.strip().partition(" ")
            if word:
                out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def pip_extras(runs: List[str]) -> set:
    extras = set()
    for run in runs:
        for match in re.finditer(r"pip install[^&;]*?\.\[([a-z,_-]+)\]", run):
            extras |= set(match.group(1).split(","))
    return extras


def optional_dependencies() -> Dict[str, list]:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        return tomllib.loads(text)["project"]["optional-dependencies"]
    names = re.findall(r"^([a-z_-]+) = \[", text.split("[project.optional-dependencies]")[1], re.M)
    return {name: [] for name in names}


def dockerignore_patterns(path: Path) -> set:
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")}


@pytest.fixture(scope="module")
def steps():
    return instructions(DOCKERFILE)


def test_image_installs_what_the_simulated_broker_and_the_cli_import(steps):
    extras = pip_extras([arg for word, arg in steps if word == "RUN"])
    assert NEEDED_EXTRAS <= extras, f"the image installs .[{','.join(sorted(extras))}]"
    assert extras <= set(optional_dependencies()), "an extra the Dockerfile names is not in pyproject.toml"


def test_image_python_satisfies_requires_python(steps):
    base = next(arg for word, arg in steps if word == "FROM")
    version = re.match(r"python:(\d+)\.(\d+)", base)
    assert version, base
    assert (int(version.group(1)), int(version.group(2))) >= (3, 8)


def test_image_default_command_is_a_real_koabus_command(steps):
    cmd = json.loads(next(arg for word, arg in reversed(steps) if word == "CMD"))
    assert cmd[:2] == ["koabus", "broker"]
    assert compose_check.parse_error(cmd) is None


def test_build_context_leaves_out_the_hosts_venv_and_state():
    patterns = dockerignore_patterns(REPO / ".dockerignore")
    missing = [p for p in NEVER_IN_CONTEXT if p not in patterns]
    assert not missing, f".dockerignore lets {missing} into the image (COPY . .)"


def test_state_dir_in_the_image_is_where_compose_mounts_the_state_volume(steps):
    workdir = next(arg for word, arg in steps if word == "WORKDIR")
    state = str(Path(workdir) / BrokerSettings().state_dir)
    linux = compose_check.resolve(REPO / "docker-compose.yml", {}).config
    targets = [v["target"] for v in linux["services"]["broker"]["volumes"]]
    assert state in targets
    copies = [shlex.split(arg) for word, arg in steps if word == "COPY"]
    assert ["."] + [workdir] in copies or [".", "."] in copies
