"""The keys directory: CURVE key pairs and the broker's allow-list of client keys with their roles.

Layout (written by `koabus keys`, read by the broker's ZAP handler and by clients):

    server.key / server.key_secret   the broker's key pair
    NAME.key / NAME.key_secret       a client's key pair
    allow.json                       {"keys": {NAME: {public_key, role, created, revoked}}}

Key files use ZeroMQ's certificate format (`zmq.auth.load_certificate` reads them). Secret files are
created mode 0600 and refused when other users can read them; allow.json is replaced atomically, so
the broker never reads half a file. Broker-safe: standard library and pyzmq only.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import stat
from typing import Dict, Optional, Tuple

ROLES = ("read", "trade", "admin")
#: a role's rank: a key holds every role up to its own
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
SERVER = "server"
ALLOW_FILE = "allow.json"
DEFAULT_KEYS_DIR = "var/keys"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_Z85 = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")
_BANNER = "#   ZeroMQ CURVE {kind} certificate written by `koabus keys` ({name})\n"


class KeysError(ValueError):
    """A keys directory, key file or key name that cannot be used (one line, never a secret)."""


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    """One client key on the broker's allow-list; `revoked` is when it stopped being allowed."""

    name: str
    public_key: str
    role: str
    created: str
    revoked: Optional[str] = None

    @property
    def allowed(self) -> bool:
        return self.revoked is None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or name == SERVER:
        raise KeysError(f"a key name is 1-64 letters, digits, '_', '.' or '-' (not {SERVER!r}), not {name!r}")
    return name


def check_role(role: str) -> str:
    if role not in ROLE_RANK:
        raise KeysError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def check_z85(what: str, key: str) -> str:
    if not isinstance(key, str) or not _Z85.match(key):
        raise KeysError(f"{what} must be a 40-character Z85 CURVE key")
    return key


def public_path(keys_dir: str, name: str) -> str:
    return os.path.join(keys_dir, f"{name}.key")


def secret_path(keys_dir: str, name: str) -> str:
    return os.path.join(keys_dir, f"{name}.key_secret")


def check_private(path: str) -> None:
    """Refuse a secret file other users can read or write (POSIX; Windows uses ACLs, not modes)."""
    if os.name != "posix":
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise KeysError(f"cannot read {path}: {exc.strerror or exc}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysError(f"{path} is accessible to other users (mode {stat.S_IMODE(mode):03o}); "
                        f"run chmod 600 {path}")


def read_key_file(path: str, secret: bool = False) -> Tuple[str, Optional[str]]:
    """(public, secret) from a certificate file; a secret file is permission-checked first."""
    if secret:
        check_private(path)
    public = private = None
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, sep, value = line.strip().partition("=")
                if not sep:
                    continue
                value = value.strip().strip("'\"")
                if key.strip() == "public-key":
                    public = value
                elif key.strip() == "secret-key":
                    private = value
    except OSError as exc:
        raise KeysError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise KeysError(f"{path} is not a key file") from None
    if public is None or (secret and private is None):
        raise KeysError(f"{path} is not a key file (no {'secret' if secret else 'public'} key in it)")
    check_z85(f"the public key in {path}", public)
    if private is not None:
        check_z85(f"the secret key in {path}", private)
    return public, private


def _write_new(path: str, text: str, mode: int) -> None:
    """Create `path` with `mode` from the start (no moment where a secret is readable by others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_keypair(keys_dir: str, name: str) -> str:
    """A new key pair as NAME.key (0644) and NAME.key_secret (0600); returns the public key."""
    import zmq

    public_b, secret_b = zmq.curve_keypair()
    public, secret = public_b.decode("ascii"), secret_b.decode("ascii")
    kind = "server" if name == SERVER else "client"
    body = f'metadata\n    name = "{name}"\ncurve\n    public-key = "{public}"\n'
    try:
        _write_new(secret_path(keys_dir, name), _BANNER.format(kind=kind, name=name)
                   + body + f'    secret-key = "{secret}"\n', 0o600)
        _write_new(public_path(keys_dir, name), _BANNER.format(kind=kind, name=name) + body, 0o644)
    except FileExistsError as exc:
        raise KeysError(f"{exc.filename} exists already; pick another name") from None
    return public


def ensure_dir(keys_dir: str) -> None:
    os.makedirs(keys_dir, mode=0o700, exist_ok=True)


def server_public(keys_dir: str) -> str:
    return read_key_file(public_path(keys_dir, SERVER))[0]


def server_keypair(keys_dir: str) -> Tuple[str, str]:
    """The broker's (public, secret) from server.key_secret (permission-checked)."""
    public, secret = read_key_file(secret_path(keys_dir, SERVER), secret=True)
    return public, secret or ""


def ensure_server(keys_dir: str) -> Tuple[str, bool]:
    """The broker's public key, writing a new server key pair first if there is none; (key, created)."""
    ensure_dir(keys_dir)
    if os.path.exists(secret_path(keys_dir, SERVER)):
        return server_keypair(keys_dir)[0], False
    return write_keypair(keys_dir, SERVER), True


# -- the allow-list ------------------------------------------------------------------------------
def allow_path(keys_dir: str) -> str:
    return os.path.join(keys_dir, ALLOW_FILE)


def load_allow(keys_dir: str) -> Dict[str, AllowEntry]:
    """Every entry of allow.json (revoked ones too); an absent file is an empty list."""
    path = allow_path(keys_dir)
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise KeysError(f"cannot read the allow-list {path}: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, dict):
        raise KeysError(f"{path}: expected {{\"keys\": {{NAME: {{public_key, role, ...}}}}}}")
    out: Dict[str, AllowEntry] = {}
    for name, entry in keys.items():
        if not isinstance(entry, dict):
            raise KeysError(f"{path}: entry {name!r} must be a mapping")
        try:
            out[name] = AllowEntry(check_name(name), check_z85(f"{path}: {name}.public_key", entry.get("public_key")),
                                   check_role(entry.get("role")), str(entry.get("created", "")),
                                   entry.get("revoked") if isinstance(entry.get("revoked"), str) else None)
        except KeysError as exc:
            raise KeysError(f"{path}: {exc}") from None
    return out


def save_allow(keys_dir: str, entries: Dict[str, AllowEntry]) -> None:
    """Write allow.json atomically (a temporary file renamed over it)."""
    ensure_dir(keys_dir)
    path = allow_path(keys_dir)
    body = {"keys": {name: {k: v for k, v in dataclasses.asdict(e).items() if k != "name" and v is not None}
                     for name, e in sorted(entries.items())}}
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


def generate(keys_dir: str, name: str, role: str) -> AllowEntry:
    """A new client key pair NAME with `role`, added to the allow-list (the server pair made if missing)."""
    check_name(name)
    check_role(role)
    ensure_server(keys_dir)
    entries = load_allow(keys_dir)
    if name in entries:
        raise KeysError(f"a key named {name!r} exists already ({'revoked' if entries[name].revoked else 'allowed'}); "
                        "pick another name")
    public = write_keypair(keys_dir, name)
    entries[name] = AllowEntry(name, public, role, _now())
    save_allow(keys_dir, entries)
    return entries[name]


def revoke(keys_dir: str, name: str) -> AllowEntry:
    """Take NAME off the allow-list (kept as revoked); the broker refuses it from the next connection on."""
    entries = load_allow(keys_dir)
    entry = entries.get(name)
    if entry is None:
        raise KeysError(f"no key named {name!r} in {allow_path(keys_dir)}")
    if entry.revoked is None:
        entries[name] = dataclasses.replace(entry, revoked=_now())
        save_allow(keys_dir, entries)
    return entries[name]


def client_keys(keys_dir: str, key: str, server_key: Optional[str] = None) -> Tuple[str, str, str]:
    """(server public, client public, client secret) for a client: `key` is a name in `keys_dir` or a
    path to its .key_secret file; the server's public key from `server_key` or `keys_dir/server.key`."""
    path = key if os.sep in key or key.endswith(".key_secret") else secret_path(keys_dir, check_name(key))
    public, secret = read_key_file(path, secret=True)
    server = check_z85("the server key", server_key) if server_key else server_public(keys_dir)
    return server, public, secret or ""
