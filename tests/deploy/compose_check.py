"""Reads a compose file the way Docker does, or as close as PyYAML gets, and checks koabus's rules on it.

`resolve()` runs `docker compose config` when the docker CLI has the compose plugin (no engine needed),
else loads the YAML itself (merge keys, `${VAR}` interpolation, short volume/port syntax normalised to
the long form Docker prints), and says which one ran. `problems()` then checks the result: compose
schema basics, commands that parse as real `koabus` subcommands, named volumes declared, and no
socket beyond loopback without CURVE.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import yaml

from koabus.common.cli.main import build_parser
from koabus.services.broker.config import is_local_endpoint

DOCKER_TIMEOUT_S = 60
TOP_KEYS = {"name", "version", "services", "volumes", "networks", "secrets", "configs", "include"}
SERVICE_KEYS = {
    "build", "image", "command", "entrypoint", "environment", "env_file", "volumes", "ports", "profiles",
    "network_mode", "networks", "depends_on", "healthcheck", "restart", "stop_signal",
    "stop_grace_period", "secrets", "configs", "user", "working_dir", "labels", "logging", "extra_hosts",
    "pull_policy", "init", "read_only", "tmpfs", "container_name", "deploy", "expose",
}
# options whose value is an endpoint, in any koabus command
ENDPOINT_OPTIONS = ("--router", "--pub", "--upstream-router", "--upstream-pub")
_VAR = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


class ComposeError(ValueError):
    """The file cannot be read as compose would (bad YAML, a required variable unset, docker refused it)."""


@dataclass(frozen=True)
class Resolved:
    """A compose file after resolution: `config` in Docker's long form and which validator produced it."""

    config: Dict[str, Any]
    validator: str


def docker_compose_version() -> Optional[str]:
    """`docker compose version` output, or None when there is no docker CLI or no compose plugin."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    try:
        done = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def resolve(path: Path, env: Mapping[str, str], use_docker: Optional[bool] = None) -> Resolved:
    """The file as compose sees it with `env` as the environment; Docker when available."""
    version = docker_compose_version() if use_docker is not False else None
    if version:
        return Resolved(_docker_config(path, env), f"docker compose config ({version})")
    return Resolved(_yaml_config(path, env), "PyYAML schema check (no `docker compose`: "
                    f"{'docker CLI missing' if shutil.which('docker') is None else 'compose plugin missing'})")


def _docker_config(path: Path, env: Mapping[str, str]) -> Dict[str, Any]:
    profiles = sorted({p for s in _raw(path).get("services", {}).values() for p in (s or {}).get("profiles", [])})
    argv = ["docker", "compose", "--project-directory", str(path.parent), "-f", str(path)]
    for profile in profiles:
        argv += ["--profile", profile]
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("KOABUS_", "COMPOSE_"))}
    done = subprocess.run(argv + ["config", "--format", "json"], capture_output=True, text=True,
                          timeout=DOCKER_TIMEOUT_S, env={**clean, **env}, cwd=path.parent)
    if done.returncode != 0:
        raise ComposeError(done.stderr.strip() or done.stdout.strip())
    return json.loads(done.stdout)


def _raw(path: Path) -> Dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ComposeError(f"{path.name}: {exc}") from None
    if not isinstance(data, dict):
        raise ComposeError(f"{path.name}: the top level is not a mapping")
    return data


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$`."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":?", "?") and missing:
            raise ComposeError(f"required variable {name} is missing a value: {arg}")
        if op in (":-", "-") and missing:
            return arg
        return current or ""

    return _VAR.sub(one, value)


def _yaml_config(path: Path, env: Mapping[str, str]) -> Dict[str, Any]:
    data = interpolate({k: v for k, v in _raw(path).items() if not str(k).startswith("x-")}, env)
    services = {}
    for name, service in (data.get("services") or {}).items():
        service = dict(service or {})
        if "volumes" in service:
            service["volumes"] = [_long_volume(v, path.parent) for v in service["volumes"]]
        if "ports" in service:
            service["ports"] = [_long_port(p) for p in service["ports"]]
        if isinstance(service.get("environment"), list):
            service["environment"] = dict(item.split("=", 1) for item in service["environment"])
        services[name] = service
    data["services"] = services
    return data


def _long_volume(entry: Any, base: Path) -> Dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    parts = str(entry).split(":")
    source, target = parts[0], parts[1] if len(parts) > 1 else parts[0]
    bind = source.startswith((".", "/", "~"))
    long = {"type": "bind" if bind else "volume", "source": str((base / source).resolve()) if bind else source,
            "target": target}
    if len(parts) > 2 and "ro" in parts[2].split(","):
        long["read_only"] = True
    return long


def _long_port(entry: Any) -> Dict[str, Any]:
    if isinstance(entry, dict):
        return entry
    parts = str(entry).rsplit(":", 2)
    host_ip = parts[0] if len(parts) == 3 else ""
    return {"host_ip": host_ip, "published": parts[-2] if len(parts) > 1 else "", "target": parts[-1]}


def koabus_argv(service: Mapping[str, Any]) -> List[List[str]]:
    """Every `koabus ...` argv the service runs: entrypoint + command, and its healthcheck test."""
    found = []
    entrypoint, command = service.get("entrypoint") or [], service.get("command") or []
    if isinstance(entrypoint, list) and isinstance(command, list) and (entrypoint + command)[:1] == ["koabus"]:
        found.append([str(a) for a in entrypoint + command])
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test[:2] == ["CMD", "koabus"]:
        found.append([str(a) for a in test[1:]])
    return found


def option(argv: Sequence[str], name: str) -> Optional[str]:
    """The value of `--name VALUE` or `--name=VALUE` in argv, else None."""
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def parse_error(argv: Sequence[str]) -> Optional[str]:
    """None when `koabus` accepts argv (subcommand and options), else argparse's complaint."""
    args = list(argv[1:])
    try:
        build_parser(args).parse_args(args)
    except SystemExit as exc:
        return f"`{' '.join(argv)}` is not a koabus command line (argparse exit {exc.code})"
    return None


def problems(config: Mapping[str, Any], root: Path) -> List[str]:
    """Every rule the resolved file breaks, as readable lines; [] when it is fine."""
    found = [f"unknown top-level key {k!r}" for k in config if k not in TOP_KEYS and not str(k).startswith("x-")]
    services = config.get("services") or {}
    if not services:
        found.append("no services")
    declared = set((config.get("volumes") or {}).keys())
    for name, service in services.items():
        found += _service_problems(name, service, declared, services, root)
    return found


def _service_problems(name: str, service: Mapping[str, Any], declared: set, services: Mapping[str, Any],
                      root: Path) -> List[str]:
    found = [f"{name}: unknown key {k!r}" for k in service if k not in SERVICE_KEYS and not k.startswith("x-")]
    if "image" not in service and "build" not in service:
        found.append(f"{name}: neither image nor build")
    build = service.get("build")
    if isinstance(build, dict):
        dockerfile = Path(build.get("context", ".")) / build.get("dockerfile", "Dockerfile")
        dockerfile = dockerfile if dockerfile.is_absolute() else root / dockerfile
        if not dockerfile.is_file():
            found.append(f"{name}: build.dockerfile {dockerfile} does not exist")
    if not isinstance(service.get("command"), list):
        found.append(f"{name}: command must be a list (exec form), not {service.get('command')!r}")
    for volume in service.get("volumes") or []:
        if volume.get("type") == "volume" and volume.get("source") not in declared:
            found.append(f"{name}: volume {volume.get('source')!r} is not declared under volumes")
    for dep in service.get("depends_on") or {}:
        if dep not in services:
            found.append(f"{name}: depends_on names unknown service {dep!r}")
    found += _security_problems(name, service)
    for argv in koabus_argv(service):
        error = parse_error(argv)
        if error:
            found.append(f"{name}: {error}")
    return found


def _security_problems(name: str, service: Mapping[str, Any]) -> List[str]:
    """No bind beyond loopback, and no plaintext link to another host: either needs CURVE (a client key)."""
    found = []
    for argv in koabus_argv(service):
        if "--insecure" in argv:
            found.append(f"{name}: --insecure has no place in a compose file")
        serves = len(argv) > 1 and argv[1] in ("broker", "relay")
        # a broker takes its CURVE keys from --config (and refuses to start without them); clients use --key
        # clients take their key from --key or KOABUS_KEY (common/cli/keys.py)
        curve = (option(argv, "--key") is not None or bool((service.get("environment") or {}).get("KOABUS_KEY"))
                 or (serves and option(argv, "--config") is not None))
        for opt in ENDPOINT_OPTIONS:
            endpoint = option(argv, opt)
            if endpoint is not None and not is_local_endpoint(endpoint) and not curve:
                verb = "binds" if serves else "connects to"
                found.append(f"{name}: {verb} {endpoint} ({opt}) beyond loopback without CURVE")
    for port in service.get("ports") or []:
        host_ip = str(port.get("host_ip") or "")
        if host_ip not in ("127.0.0.1", "::1", "localhost"):
            found.append(f"{name}: port {port.get('published')} is published on {host_ip or 'every address'}, "
                         "not loopback")
    return found
