"""A bind the broker could not make, as one line: which endpoint, why, and for a busy port who holds it.

On Linux the holder is found the way `ss -p` finds it, with the standard library only: the listening
socket's inode from /proc/net/tcp{,6}, then the process whose /proc/PID/fd links to that socket.
Processes of other users are not readable without privileges; the line then says so.
"""
from __future__ import annotations

import errno
import os
import re
from typing import Any, List, Optional, Tuple

_ADDR = re.compile(r"\s*\(addr='([^']*)'\)")
_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp
MAX_PIDS_SCANNED = 100_000  # /proc holds at most pid_max entries; bound the walk anyway


class BindError(RuntimeError):
    """The I/O thread could not bind `endpoint` (the `role` socket): `errno` and a readable reason."""

    def __init__(self, endpoint: str, role: str, code: Optional[int], reason: str):
        self.endpoint, self.role, self.errno, self.reason = endpoint, role, code, reason
        super().__init__(f"cannot bind {endpoint or 'an endpoint'}{f' ({role})' if role else ''}: {reason}")


def bind_error(exc: BaseException, router: str, pub: str, proc: str = "/proc") -> BaseException:
    """`exc` from a failed bind as a BindError naming the endpoint and, if the port is busy, its holder.

    Anything that is not a ZeroMQ bind failure is returned unchanged.
    """
    code = getattr(exc, "errno", None)
    text = str(getattr(exc, "strerror", None) or exc)
    found = _ADDR.search(text)
    if found is None and code not in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES):
        return exc
    reason = _ADDR.sub("", text).strip() or os.strerror(code or 0)
    endpoint = found.group(1) if found else ""
    if code == errno.EADDRINUSE and not endpoint:  # an older pyzmq: find the busy one of the two
        endpoint = next((e for e in (router, pub) if port_holders(_port(e) or 0, proc)), "")
    role = "router" if endpoint == router else "pub" if endpoint == pub else ""
    port = _port(endpoint)
    if code == errno.EADDRINUSE and port:
        reason = f"port {port} is already in use {holder_text(port, proc)}"
    return BindError(endpoint, role, code, reason)


def holder_text(port: int, proc: str = "/proc") -> str:
    """'by pid 12 (python3 x.py)', or why the holder cannot be named."""
    if not os.path.isdir(os.path.join(proc, "net")):
        return "by another process"
    holders = port_holders(port, proc)
    if not holders:
        return "by a process this user cannot see (another user's, or another network namespace)"
    return "by " + ", ".join(f"pid {pid} ({cmd})" for pid, cmd in holders[:3])


def port_holders(port: int, proc: str = "/proc") -> List[Tuple[int, str]]:
    """(pid, command line) of every process with a listening TCP socket on `port` that we may inspect."""
    if port <= 0:
        return []
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return []
    targets = {f"socket:[{inode}]" for inode in inodes}
    holders = []
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()][:MAX_PIDS_SCANNED]
    except OSError:
        return []
    for pid in pids:
        if _holds(os.path.join(proc, pid, "fd"), targets):
            holders.append((int(pid), _command(os.path.join(proc, pid))))
    return holders


def unix_socket_holders(path: str, proc: str = "/proc") -> List[Tuple[int, str]]:
    """(pid, command line) of every process we may inspect with a socket bound to the Unix `path`."""
    inodes = set()
    try:
        with open(os.path.join(proc, "net", "unix"), encoding="utf-8", errors="replace") as fh:
            next(fh, None)  # the header
            for line in fh:
                cols = line.split(None, 7)
                if len(cols) == 8 and cols[7].strip() == path and cols[6] != "0":
                    inodes.add(cols[6])
    except OSError:
        return []
    if not inodes:
        return []
    targets = {f"socket:[{inode}]" for inode in inodes}
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()][:MAX_PIDS_SCANNED]
    except OSError:
        return []
    return [(int(pid), _command(os.path.join(proc, pid))) for pid in pids
            if _holds(os.path.join(proc, pid, "fd"), targets)]


def _listening_inodes(port: int, proc: str) -> set:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(os.path.join(proc, "net", table), encoding="ascii", errors="replace") as fh:
                next(fh, None)  # the header
                for line in fh:
                    cols = line.split()
                    if len(cols) < 10 or cols[3] != _LISTEN:
                        continue
                    local_port = cols[1].rpartition(":")[2]
                    if int(local_port, 16) == port and cols[9] != "0":
                        inodes.add(cols[9])
        except (OSError, ValueError):
            continue
    return inodes


def _holds(fd_dir: str, targets: set) -> bool:
    try:
        fds = os.listdir(fd_dir)
    except OSError:  # gone, or another user's
        return False
    for fd in fds:
        try:
            if os.readlink(os.path.join(fd_dir, fd)) in targets:
                return True
        except OSError:
            continue
    return False


def _command(pid_dir: str, limit: int = 60) -> str:
    try:
        with open(os.path.join(pid_dir, "cmdline"), "rb") as fh:
            raw = fh.read(4096)
        text = " ".join(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    except OSError:
        text = ""
    if not text:
        try:
            with open(os.path.join(pid_dir, "comm"), encoding="utf-8", errors="replace") as fh:
                text = fh.read().strip()
        except OSError:
            text = "?"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _port(endpoint: Any) -> Optional[int]:
    if not isinstance(endpoint, str) or not endpoint.startswith("tcp://"):
        return None
    port = endpoint.rpartition(":")[2]
    return int(port) if port.isdigit() else None
