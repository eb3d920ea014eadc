"""docker-compose.yml (Linux stack, simulated broker) and docker-compose.windows.yml (the broker on a
Windows host, containers connecting with CURVE): valid compose, real koabus commands, state and data in
named volumes, nothing beyond loopback without CURVE.

Validation is `docker compose config` where the docker CLI has the compose plugin (no engine needed),
else the PyYAML schema check in compose_check.py; the run's summary line says which one ran.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from koabus.services.broker.config import load_settings
from tests.conftest import REPO
from tests.deploy import compose_check
from tests.deploy.conftest import VALIDATORS_USED

LINUX = REPO / "docker-compose.yml"
WINDOWS = REPO / "docker-compose.windows.yml"
# TEST-NET-1 (RFC 5737): an address beyond loopback that routes nowhere
WINDOWS_ENV = {"KOABUS_BROKER_HOST": "192.0.2.10", "KOABUS_KEY": "linux-read"}
STATE = "/opt/koabus/var/state"
DATA = "/opt/koabus/var/data"


def resolve(path: Path, env=None) -> compose_check.Resolved:
    resolved = compose_check.resolve(path, env or {})
    VALIDATORS_USED.append(resolved.validator)
    return resolved


def mounts(service) -> dict:
    return {v["target"]: v for v in service.get("volumes") or []}


@pytest.fixture(scope="module")
def linux():
    return resolve(LINUX).config


@pytest.fixture(scope="module")
def windows():
    return resolve(WINDOWS, WINDOWS_ENV).config


@pytest.mark.parametrize("path,env", [(LINUX, {}), (WINDOWS, WINDOWS_ENV)], ids=["linux", "windows"])
def test_compose_file_is_valid_and_follows_the_rules(path, env):
    resolved = resolve(path, env)
    assert compose_check.problems(resolved.config, REPO) == [], resolved.validator


def test_linux_stack_runs_the_simulated_broker_with_state_in_a_named_volume(linux):
    broker = linux["services"]["broker"]
    assert broker["command"][:2] == ["koabus", "broker"]
    assert compose_check.option(broker["command"], "--backend") == "sim"
    state = mounts(broker)[STATE]
    assert state["type"] == "volume" and state["source"] in linux["volumes"]
    assert {"koabus-state", "koabus-data"} <= set(linux["volumes"])
    assert broker["healthcheck"]["test"][:3] == ["CMD", "koabus", "wait-ready"]


def test_linux_stack_keeps_the_bus_on_loopback(linux):
    for name, service in linux["services"].items():
        assert service.get("network_mode") == "host" or not service.get("ports"), name
        for argv in compose_check.koabus_argv(service):
            for opt in ("--router", "--pub"):
                endpoint = compose_check.option(argv, opt)
                assert endpoint is None or compose_check.is_local_endpoint(endpoint), (name, endpoint)


def test_linux_broker_command_is_accepted_by_the_brokers_own_settings(linux):
    """The broker's own checks (e.g. no bind beyond loopback without CURVE) accept the command line."""
    argv = linux["services"]["broker"]["command"]
    settings = load_settings(compose_check.option(argv, "--config"), {
        "backend": compose_check.option(argv, "--backend"), "router": compose_check.option(argv, "--router"),
        "pub": compose_check.option(argv, "--pub")})
    assert settings.backend == "sim"
    assert compose_check.is_local_endpoint(settings.router) and compose_check.is_local_endpoint(settings.pub)


def test_linux_cli_sees_the_same_state_and_data_volumes(linux):
    cli = linux["services"]["cli"]
    assert cli["profiles"] == ["tools"]
    assert compose_check.koabus_argv(cli) == [["koabus", "status"]]  # `run --rm cli watch ...` runs koabus watch
    assert mounts(cli)[STATE]["source"] == mounts(linux["services"]["broker"])[STATE]["source"]
    assert mounts(cli)[DATA]["type"] == "volume"


def test_windows_variant_has_no_broker_and_connects_with_curve(windows):
    services = windows["services"]
    assert all(argv[1] not in ("broker", "sim") for s in services.values() for argv in compose_check.koabus_argv(s))
    for name, service in services.items():
        for argv in compose_check.koabus_argv(service):
            router = compose_check.option(argv, "--router")
            assert router == "tcp://192.0.2.10:5570", name
            assert compose_check.option(argv, "--pub") in (None, "tcp://192.0.2.10:5571"), name
        assert service["environment"]["KOABUS_KEY"] == "linux-read", name
        assert service["environment"]["KOABUS_KEYS_DIR"] == "/opt/koabus/var/keys", name


def test_windows_variant_mounts_only_key_files_read_only(windows):
    for name, service in windows["services"].items():
        keys = mounts(service)["/opt/koabus/var/keys"]
        assert keys["type"] == "bind" and keys.get("read_only") is True, name


@pytest.mark.parametrize("missing", sorted(WINDOWS_ENV))
def test_windows_variant_refuses_to_resolve_without_its_required_settings(missing):
    env = {k: v for k, v in WINDOWS_ENV.items() if k != missing}
    with pytest.raises(compose_check.ComposeError, match=missing):
        resolve(WINDOWS, env)


def test_the_rules_catch_what_they_are_for(tmp_path):
    """The checker itself: a bad file yields each problem (so a passing file means something)."""
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(
        "services:\n"
        "  broker:\n"
        "    image: koabus:local\n"
        "    command: [koabus, broker, --backend, sim, --router, 'tcp://0.0.0.0:5570']\n"
        "    ports: ['5571:5571']\n"
        "    volumes: ['undeclared:/opt/koabus/var/state']\n"
        "  cli:\n"
        "    image: koabus:local\n"
        "    command: [koabus, nosuchcommand]\n"
        "  watch:\n"
        "    image: koabus:local\n"
        "    command: [koabus, status, --router, 'tcp://192.0.2.10:5570']\n"
        "  shell:\n"
        "    image: koabus:local\n"
        "    command: koabus status\n",
        encoding="utf-8")
    found = "\n".join(compose_check.problems(compose_check.resolve(bad, {}, use_docker=False).config, tmp_path))
    assert "broker: binds tcp://0.0.0.0:5570 (--router) beyond loopback without CURVE" in found
    assert "broker: port 5571 is published on every address" in found
    assert "volume 'undeclared' is not declared" in found
    assert "cli: `koabus nosuchcommand` is not a koabus command line" in found
    assert "watch: connects to tcp://192.0.2.10:5570 (--router) beyond loopback without CURVE" in found
    assert "shell: command must be a list" in found


def test_interpolation_follows_compose():
    env = {"SET": "x", "EMPTY": ""}
    assert compose_check.interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$${SET}", env) == "x-d-e--${SET}"
    with pytest.raises(compose_check.ComposeError, match="UNSET"):
        compose_check.interpolate("${UNSET:?set it}", env)
