"""Secret references in the notifier configuration: `${ENV_NAME}` and `file:/path`, nothing else.

Tokens, passwords and webhook URLs that embed a token never sit in the rules or service YAML in plain
text: such a file is copied, committed and pasted into tickets. A value is either a reference
resolved here (from the environment the service was started with, or from a file only its user can
read) or a literal that does not look like a secret; a secret-looking literal is refused.
"""
from __future__ import annotations

import os
import re
import stat
from typing import Any, Mapping, Optional
from urllib.parse import parse_qsl, urlsplit

from koabus.services.broker.config import SettingsError

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_MAX_SECRET_FILE_BYTES = 64 * 1024

#: option names whose value is always a secret, so only a reference is accepted
SECRET_OPTION_NAMES = frozenset({"password", "passwd", "token", "bot_token", "secret", "api_key", "apikey",
                                 "access_token", "auth_token", "client_secret"})
#: URL query parameters that carry credentials
_SECRET_QUERY_NAMES = frozenset({"token", "key", "api_key", "apikey", "access_token", "auth", "secret",
                                 "password", "sig", "signature", "code"})
#: services whose webhook URL is itself the credential
_TOKEN_URL_PATTERNS = (
    re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/", re.I),
    re.compile(r"(discord|discordapp)\.com/api/(v\d+/)?webhooks/", re.I),
    re.compile(r"api\.telegram\.org/bot", re.I),
    re.compile(r"outlook\.office(365)?\.com/webhook/|\.webhook\.office\.com/", re.I),
)
USE_REFERENCE = "use ${ENV} or file:/path (a file with mode 600) instead"


class SecretError(SettingsError):
    """A secret that cannot be used: a plain-text literal, a missing variable, an unsafe file."""


def is_reference(value: Any) -> bool:
    """True for `${NAME}` or `file:/path`."""
    return isinstance(value, str) and (bool(_ENV_REF.match(value)) or value.startswith("file:"))


def looks_like_secret(value: Any) -> bool:
    """True for a literal that carries a credential: a token webhook URL, a URL with a password or a
    credential query parameter."""
    if not isinstance(value, str) or is_reference(value):
        return False
    if any(pattern.search(value) for pattern in _TOKEN_URL_PATTERNS):
        return True
    if "://" in value:
        try:
            parts = urlsplit(value)
            if parts.password:
                return True
            return any(name.lower() in _SECRET_QUERY_NAMES for name, _ in parse_qsl(parts.query))
        except ValueError:
            return False
    return False


def resolve_secret(value: str, where: str, environ: Mapping[str, str]) -> str:
    """The secret `value` refers to; SecretError naming `where` (and the variable or file) otherwise."""
    if not isinstance(value, str):
        raise SecretError(f"{where}: must be a string reference; {USE_REFERENCE}")
    match = _ENV_REF.match(value)
    if match:
        name = match.group(1)
        secret = environ.get(name)
        if secret is None:
            raise SecretError(f"{where}: environment variable {name} is not set")
        if not secret.strip():
            raise SecretError(f"{where}: environment variable {name} is empty")
        return secret.strip()
    if value.startswith("file:"):
        return read_secret_file(value[len("file:"):], where)
    raise SecretError(f"{where}: a secret in plain text is not allowed; {USE_REFERENCE}")


def resolve_option(value: Any, where: str, environ: Mapping[str, str], *, secret: bool) -> str:
    """A string option: a reference is resolved; a literal is refused when the option is a secret
    (`secret=True`) or the literal looks like one, and returned as is otherwise."""
    if is_reference(value):
        return resolve_secret(value, where, environ)
    if not isinstance(value, str):
        raise SecretError(f"{where}: must be a string")
    if secret or looks_like_secret(value):
        raise SecretError(f"{where}: a secret in plain text is not allowed; {USE_REFERENCE}")
    return value


def read_secret_file(path: str, where: str) -> str:
    """The stripped content of `path`, which must be a regular file owned by this user and readable by
    nobody else (mode 600 or 400). The check is made on the opened file, so it cannot be swapped."""
    path = os.path.expanduser(path)
    if not os.path.isabs(path):
        raise SecretError(f"{where}: secret file {path!r} must be an absolute path (file:/path)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise SecretError(f"{where}: secret file {path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{where}: secret file {path} is not a regular file")
        _check_private(path, info, where)
        data = os.read(fd, _MAX_SECRET_FILE_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_SECRET_FILE_BYTES:
        raise SecretError(f"{where}: secret file {path} is larger than {_MAX_SECRET_FILE_BYTES} bytes")
    try:
        secret = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise SecretError(f"{where}: secret file {path} is not UTF-8 text") from None
    if not secret:
        raise SecretError(f"{where}: secret file {path} is empty")
    return secret


def _check_private(path: str, info: os.stat_result, where: str) -> None:
    if os.name == "nt":  # no POSIX modes; NTFS ACLs are the operator's job
        return
    uid = os.geteuid()
    if info.st_uid != uid:
        raise SecretError(f"{where}: secret file {path} is owned by uid {info.st_uid}, not by this user "
                          f"(uid {uid}); run: chown {uid} {path} && chmod 600 {path}")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretError(f"{where}: secret file {path} is readable or writable by group or others "
                          f"(mode {mode:04o}); run: chmod 600 {path}")


def check_no_literal_secrets(data: Any, where: str = "", names: Optional[frozenset] = None) -> None:
    """Walk a loaded YAML mapping and refuse the first plain-text secret: a value under a secret
    option name that is not a reference, or any string that looks like one (e.g. a Slack webhook)."""
    names = SECRET_OPTION_NAMES if names is None else names
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{where}.{key}" if where else str(key)
            if str(key).lower() in names and value not in (None, "") and not is_reference(value):
                raise SecretError(f"{here}: a secret in plain text is not allowed; {USE_REFERENCE}")
            check_no_literal_secrets(value, here, names)
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            check_no_literal_secrets(value, f"{where}[{index}]", names)
    elif looks_like_secret(data):
        raise SecretError(f"{where}: a secret in plain text is not allowed; {USE_REFERENCE}")
