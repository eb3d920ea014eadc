"""`koabus up|down|ps`: the stack under supervisor (deploy/supervisord.conf), and one table of its services.

`up` checks its ports and supervisor's control socket before starting anything and stops with one line
naming the holder; with supervisor already running it only starts what is stopped (no restart: state in
var/state is kept); it says "up" only when the broker that answers on the ROUTER reports the pid that
supervisor runs. `ps` merges supervisor's view (programs that are not up) with the services' own
heartbeats on the bus (`sys.hb`, `sys.hb.<service>`; common/heartbeat.py): a RUNNING program that has
not beaten for two intervals is `stale`.
"""
from __future__ import annotations

import argparse
import configparser
import errno
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from koabus.common.heartbeat import (
    BROKER_SERVICE,
    HB_TOPIC,
    SERVICE_STATUS_ENDPOINTS,
    STALE_AFTER_INTERVALS,
    service_of,
)
from koabus.common.protocol import DEFAULT_PUB_ENDPOINT, DEFAULT_ROUTER_ENDPOINT

DEFAULT_CONFIG = "deploy/supervisord.conf"
RPC_TIMEOUT_S = 5.0
#: ps listens at most this long; enough for a RUNNING service that stopped beating to be 2 intervals late
PS_LISTEN_S = 2.5
#: and at least this long, so services supervisor does not know of are heard too
PS_MIN_LISTEN_S = 1.2
EXIT_OK, EXIT_FAIL = 0, 1
#: what services bind besides their status PUB (SERVICE_STATUS_ENDPOINTS), checked by `up` before it starts
SERVICE_EXTRA_ENDPOINTS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "bars": (("snapshot router", "tcp://127.0.0.1:5596"),),
    "web": (("http", "tcp://127.0.0.1:8765"),),
}


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("up", help="start the stack under supervisor (checks ports, waits for the broker)")
    _common(p)
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="give up after this many seconds")
    p.set_defaults(func=cmd_up)
    p = subparsers.add_parser("down", help="stop the stack (supervisor shuts every service down in order)")
    p.add_argument("--config", default=DEFAULT_CONFIG, help="supervisord.conf (%(default)s)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="give up after this many seconds")
    p.set_defaults(func=cmd_down)
    p = subparsers.add_parser("ps", help="every service on the bus: pid, host, state, uptime, lag, heartbeat age")
    _common(p)
    p.add_argument("--pub-extra", action="append", default=[], metavar="EP",
                   help="another PUB endpoint whose services publish heartbeats (repeatable); the default "
                        "status endpoints of the koabus services are always heard")
    p.add_argument("--listen", type=float, default=PS_LISTEN_S, metavar="S",
                   help="listen for heartbeats at most this long (%(default)s)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=cmd_ps)


def _common(p: argparse.ArgumentParser) -> None:
    from koabus.common.cli.keys import add_key_options

    p.add_argument("--config", default=DEFAULT_CONFIG, help="supervisord.conf (%(default)s)")
    add_key_options(p)  # a broker with CURVE on answers and beats only to allowed keys
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint (%(default)s)")
    p.add_argument("--pub", default=DEFAULT_PUB_ENDPOINT, help="broker PUB endpoint (%(default)s)")


# -- supervisor ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class SupervisorConfig:
    """What `up` needs from supervisord.conf: the file, its control socket and the dirs it writes to."""

    path: Path
    socket_path: str
    dirs: Tuple[str, ...]
    #: the [program:NAME] sections, in file order
    programs: Tuple[str, ...] = ()

    @classmethod
    def load(cls, path: str) -> SupervisorConfig:
        conf = Path(path).resolve()
        if not conf.is_file():
            raise SystemExit(f"koabus: no supervisor configuration at {path}")
        parser = configparser.ConfigParser(
            defaults={"here": str(conf.parent), **{f"ENV_{k}": v.replace("%", "%%") for k, v in os.environ.items()}})
        parser.read(conf, encoding="utf-8")
        try:
            sock = os.path.normpath(parser.get("unix_http_server", "file"))
        except (configparser.Error, ValueError) as exc:
            raise SystemExit(f"koabus: {path} has no [unix_http_server] file: {exc}") from None
        dirs = [os.path.dirname(sock)]
        for key in ("logfile", "pidfile"):
            if parser.has_option("supervisord", key):
                dirs.append(os.path.dirname(os.path.normpath(parser.get("supervisord", key))))
        if parser.has_option("supervisord", "childlogdir"):
            dirs.append(os.path.normpath(parser.get("supervisord", "childlogdir")))
        programs = tuple(section.split(":", 1)[1] for section in parser.sections() if section.startswith("program:"))
        return cls(conf, sock, tuple(dict.fromkeys(d for d in dirs if d)), programs)


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout_s: float):
        super().__init__("localhost", timeout=timeout_s)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    """XML-RPC over supervisor's Unix control socket, every call bounded by a timeout."""

    def __init__(self, path: str, timeout_s: float):
        super().__init__()
        self._path, self._timeout_s = path, timeout_s

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixConnection(self._path, self._timeout_s)


class Supervisor:
    """The running supervisord behind `socket_path` (XML-RPC `supervisor.*`)."""

    def __init__(self, socket_path: str, timeout_s: float = RPC_TIMEOUT_S):
        self.socket_path = socket_path
        self._rpc = xmlrpc.client.ServerProxy("http://localhost/RPC2", transport=_UnixTransport(socket_path, timeout_s))

    def alive(self) -> bool:
        try:
            return self._rpc.supervisor.getState().get("statename") == "RUNNING"
        except (OSError, xmlrpc.client.Error, http.client.HTTPException, ValueError):
            return False

    def processes(self) -> List[Dict[str, Any]]:
        return list(self._rpc.supervisor.getAllProcessInfo())

    def start_stopped(self) -> None:
        self._rpc.supervisor.startAllProcesses(False)

    def shutdown(self) -> None:
        self._rpc.supervisor.shutdown()


# -- up ------------------------------------------------------------------------------------------
def service_endpoints(conf: SupervisorConfig) -> List[Tuple[str, str, str]]:
    """(program, role, endpoint) that the configured programs other than the broker bind by default."""
    out = []
    for name in conf.programs:
        if name in SERVICE_STATUS_ENDPOINTS:
            out.append((name, "status", SERVICE_STATUS_ENDPOINTS[name]))
        out += [(name, role, endpoint) for role, endpoint in SERVICE_EXTRA_ENDPOINTS.get(name, ())]
    return out


def port_problem(endpoint: str, role: str) -> Optional[str]:
    """One line if `endpoint`'s TCP port cannot be bound (held by another process), else None."""
    from koabus.services.broker.ports import holder_text

    if not endpoint.startswith("tcp://"):
        return None
    host, _, port_text = endpoint[len("tcp://"):].rpartition(":")
    if not port_text.isdigit():
        return None
    port = int(port_text)
    host = host.strip("[]")
    host = "0.0.0.0" if host in ("*", "") else host
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as ZeroMQ binds: TIME_WAIT is no holder
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return None  # not ours to judge (an address this host lacks): the broker reports it
            return f"port {port} ({role} {endpoint}) is already in use {holder_text(port)}"
    return None


def socket_problem(path: str) -> Optional[str]:
    """One line if supervisor's control socket `path` is held by something that is not our supervisord."""
    from koabus.services.broker.ports import unix_socket_holders

    if not os.path.exists(path):
        return None
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        return None  # a stale file: supervisord replaces it
    finally:
        probe.close()
    holders = unix_socket_holders(path)
    who = ", ".join(f"pid {pid} ({cmd})" for pid, cmd in holders[:3]) or "a process this user cannot see"
    return f"supervisor's socket {path} is held by {who}, which does not answer as supervisord"


def _supervisord() -> str:
    here = Path(sys.executable).parent / "supervisord"
    return str(here) if here.exists() else "supervisord"


def _curve(args: argparse.Namespace) -> Tuple[bool, Any]:
    """(ok, CurveKeys or None) from --key/KOABUS_KEY; prints one line when the key cannot be used."""
    from koabus.common import keys as keyfiles
    from koabus.common.cli.keys import curve_from_args

    try:
        return True, curve_from_args(args)
    except (keyfiles.KeysError, OSError) as exc:
        print(f"koabus: {exc}", file=sys.stderr)
        return False, None


def cmd_up(args: argparse.Namespace) -> int:
    ok, curve = _curve(args)
    if not ok:
        return EXIT_FAIL
    conf = SupervisorConfig.load(args.config)
    sup = Supervisor(conf.socket_path)
    if sup.alive():
        print("supervisor already running: starting what is stopped, restarting nothing")
        sup.start_stopped()
    else:
        checks = [port_problem(args.router, "router"), port_problem(args.pub, "pub")]
        checks += [port_problem(endpoint, f"{name} {role}") for name, role, endpoint in service_endpoints(conf)]
        for problem in (*checks, socket_problem(conf.socket_path)):
            if problem:
                print(f"koabus: cannot start: {problem}", file=sys.stderr)
                return EXIT_FAIL
        for d in conf.dirs:
            os.makedirs(d, exist_ok=True)
        done = subprocess.run([_supervisord(), "-c", str(conf.path)], capture_output=True, text=True,
                              timeout=max(10.0, args.timeout))
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()
            print(f"koabus: supervisord did not start: {last[-1] if last else f'exit {done.returncode}'}",
                  file=sys.stderr)
            return EXIT_FAIL
    ok, line = wait_own_broker(sup, args.router, args.timeout, curve=curve)
    print(line, file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAIL


def wait_own_broker(sup: Supervisor, router: str, timeout_s: float, curve: Any = None) -> Tuple[bool, str]:
    """Wait until every program is RUNNING and the broker on `router` reports supervisor's pid and host."""
    from koabus.common.cli.status import fetch_status

    deadline = time.monotonic() + timeout_s
    host = socket.gethostname()
    why = "supervisor did not report the broker"
    while time.monotonic() < deadline:
        try:
            procs = {p["name"]: p for p in sup.processes()}
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            why = f"supervisor does not answer ({exc})"
            time.sleep(0.2)
            continue
        fatal = [p for p in procs.values() if p.get("statename") in ("FATAL", "EXITED")]
        if fatal:
            p = fatal[0]
            return False, (f"koabus: {p['name']} did not stay up ({p['statename']}: "
                           f"{p.get('spawnerr') or p.get('description')}); see {p.get('stdout_logfile') or 'its log'}")
        broker = procs.get(BROKER_SERVICE)
        if broker is None:
            return False, "koabus: the supervisor configuration has no [program:broker]"
        waiting = [name for name, p in procs.items() if p.get("statename") != "RUNNING"]
        if waiting:
            why = f"{', '.join(sorted(waiting))} not RUNNING yet"
            time.sleep(0.2)
            continue
        status = fetch_status(router, min(1.0, max(0.1, deadline - time.monotonic())), curve=curve)
        if status is None:
            why = f"the broker at {router} does not answer"
        elif status.get("pid") != broker["pid"] or status.get("host") != host:
            why = (f"the broker answering at {router} is pid {status.get('pid')} on {status.get('host')}, "
                   f"not supervisor's broker (pid {broker['pid']} on {host})")
        elif not status.get("connected"):
            why = f"the broker (pid {broker['pid']}) is not logged in (state {status.get('state')})"
        else:
            return True, (f"koabus is up: broker pid {broker['pid']} on {host}, "
                          f"{status.get('server', '?')} server, router {router}")
        time.sleep(0.2)
    return False, f"koabus: not up after {timeout_s:g} s: {why}"


# -- down ----------------------------------------------------------------------------------------
def cmd_down(args: argparse.Namespace) -> int:
    conf = SupervisorConfig.load(args.config)
    sup = Supervisor(conf.socket_path)
    if not sup.alive():
        print("stack not running")
        return EXIT_OK
    try:
        sup.shutdown()
    except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
        print(f"koabus: supervisor refused to shut down: {exc}", file=sys.stderr)
        return EXIT_FAIL
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if not os.path.exists(conf.socket_path) or not sup.alive():
            pid_gone = _wait_socket_gone(conf.socket_path, deadline)
            print("stack stopped" if pid_gone else "stack stopping (supervisor still closing)")
            return EXIT_OK
        time.sleep(0.2)
    print(f"koabus: the stack did not stop within {args.timeout:g} s", file=sys.stderr)
    return EXIT_FAIL


def _wait_socket_gone(path: str, deadline: float) -> bool:
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not os.path.exists(path)


# -- ps ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Beat:
    """The last heartbeat heard from one service, and when (monotonic seconds, local)."""

    body: Dict[str, Any]
    heard_s: float
    lag_s: Optional[float]


def listen(endpoints: Sequence[str], expected: Sequence[str], listen_s: float,
           min_listen_s: float = PS_MIN_LISTEN_S, curve: Any = None) -> Dict[str, Beat]:
    """Heartbeats per service name heard on `endpoints`, until every `expected` one is heard (and at least
    `min_listen_s` passed) or `listen_s` runs out. Malformed publications are skipped."""
    import zmq

    from koabus.common.protocol import Publication

    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, HB_TOPIC.encode("ascii"))  # the prefix also matches sys.hb.<service>
    if curve is not None:  # a CurveKeys (--key): a CURVE broker publishes only to allowed keys
        curve.apply(sub)
    for endpoint in endpoints:
        sub.connect(endpoint)
    beats: Dict[str, Beat] = {}
    start = time.monotonic()
    deadline = start + max(0.0, listen_s)
    try:
        while True:
            now = time.monotonic()
            if now >= deadline or (now - start >= min(min_listen_s, listen_s) and set(expected) <= set(beats)):
                return beats
            if not sub.poll(max(1, int((deadline - now) * 1000))):
                continue
            try:
                pub = Publication.from_frames(sub.recv_multipart(zmq.NOBLOCK))
            except Exception:  # wire data: anything malformed is skipped, never trusted
                continue
            name = service_of(pub.topic)
            if name is None or not isinstance(pub.body, dict):
                continue
            sent_ns = pub.body.get("time_ns")
            lag = pub.body.get("lag_s")
            if not isinstance(lag, (int, float)) and isinstance(sent_ns, int):
                lag = max(0.0, time.time() - sent_ns / 1e9)  # delivery lag (same host clock)
            beats[str(pub.body.get("service") or name)] = Beat(pub.body, time.monotonic(), lag)
    finally:
        sub.close(0)


def rows(programs: Sequence[Dict[str, Any]], beats: Dict[str, Beat], now_s: float,
         host: str) -> List[Dict[str, Any]]:
    """One row per service: supervisor's programs first (in its order), then services only the bus knows."""
    out = []
    names = [p["name"] for p in programs] + sorted(n for n in beats if n not in {p["name"] for p in programs})
    by_name = {p["name"]: p for p in programs}
    for name in names:
        prog, beat = by_name.get(name), beats.get(name)
        body = beat.body if beat else {}
        age = None if beat is None else round(now_s - beat.heard_s, 3)
        interval_s = _number(body.get("interval_ms"), 1000.0) / 1000.0
        row: Dict[str, Any] = {
            "name": name, "pid": body.get("pid"), "host": body.get("host"), "state": None,
            "uptime_s": body.get("uptime_s"), "lag_s": None if beat is None or beat.lag_s is None else round(beat.lag_s, 3),
            "last_error": body.get("last_error"), "heartbeat_age_s": age,
            "supervisor": prog.get("statename") if prog else None, "healthy": False,
        }
        if prog is not None and prog.get("statename") != "RUNNING":
            row.update(state=str(prog.get("statename", "?")).lower(), pid=prog.get("pid") or None,
                       last_error=prog.get("spawnerr") or prog.get("description") or row["last_error"])
        elif beat is None or age is None or age > STALE_AFTER_INTERVALS * interval_s:
            row["state"] = "stale"
            if prog is not None:
                row.update(pid=prog.get("pid"), host=host,
                           uptime_s=max(0, int(prog.get("now", 0)) - int(prog.get("start", 0))))
        elif prog is not None and (body.get("pid") != prog.get("pid") or body.get("host") != host):
            row["state"] = "foreign"
            row["last_error"] = (f"heartbeat from pid {body.get('pid')} on {body.get('host')}, "
                                 f"supervisor runs pid {prog.get('pid')} on {host}")
        else:
            row["state"] = str(body.get("state") or "running")
            row["healthy"] = True
        out.append(row)
    return out


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


def cmd_ps(args: argparse.Namespace) -> int:
    ok, curve = _curve(args)
    if not ok:
        return EXIT_FAIL
    programs: List[Dict[str, Any]] = []
    if Path(args.config).is_file():
        sup = Supervisor(SupervisorConfig.load(args.config).socket_path)
        if sup.alive():
            try:
                programs = sup.processes()
            except (OSError, xmlrpc.client.Error, http.client.HTTPException):
                programs = []
    expected = [p["name"] for p in programs if p.get("statename") == "RUNNING"]
    endpoints = list(dict.fromkeys([args.pub, *args.pub_extra, *SERVICE_STATUS_ENDPOINTS.values()]))
    beats = listen(endpoints, expected, args.listen, curve=curve)
    table = rows(programs, beats, time.monotonic(), socket.gethostname())
    if args.json:
        json.dump(table, sys.stdout, ensure_ascii=False, indent=2, default=str)
        print()
    else:
        print(format_rows(table))
    return EXIT_OK if table and all(r["healthy"] for r in table) else EXIT_FAIL


_COLUMNS = (("NAME", 10), ("PID", 7), ("HOST", 12), ("STATE", 10), ("UPTIME", 8), ("LAG", 6), ("HB AGE", 6),
            ("LAST ERROR", 30))


def format_rows(table: Sequence[Dict[str, Any]]) -> str:
    """The rows as a fixed-width table; every wire value escaped and clipped (status._text)."""
    from koabus.common.cli.status import _pad, _text

    if not table:
        return "no service on the bus and no supervisor running"
    lines = ["  ".join(_pad(title, width) for title, width in _COLUMNS).rstrip()]
    for r in table:
        cells = (r["name"], r["pid"] or "-", r["host"] or "-", r["state"], _duration(r["uptime_s"]),
                 _seconds(r["lag_s"]), _seconds(r["heartbeat_age_s"]), r["last_error"] or "")
        lines.append("  ".join(_pad(_text(cell, width), width) for cell, (_, width) in zip(cells, _COLUMNS)).rstrip())
    return "\n".join(lines)


def _duration(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    s = int(value)
    return f"{s // 86400}d{s % 86400 // 3600}h" if s >= 86400 else f"{s // 3600}h{s % 3600 // 60:02d}m" \
        if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def _seconds(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:.1f}s"
