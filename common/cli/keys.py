"""`koabus keys generate|list|revoke`: CURVE key pairs and the broker's allow-list; the `--key` options.

`generate NAME --role read|trade|admin` writes NAME.key / NAME.key_secret (mode 0600) in the keys
directory (the broker's pair too, the first time) and allows the public key with its role; `revoke
NAME` takes it off the list, and the running broker refuses it from its next connection on. Client
commands take `--key NAME` (or KOABUS_KEY), `--keys-dir` (KOABUS_KEYS_DIR, default var/keys) and
`--server-key` (KOABUS_SERVER_KEY, default the keys directory's server.key). Nothing here prints a
secret key.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Mapping, Optional

from koabus.common import keys as keyfiles

ENV_KEY = "KOABUS_KEY"
ENV_KEYS_DIR = "KOABUS_KEYS_DIR"
ENV_SERVER_KEY = "KOABUS_SERVER_KEY"
EXIT_ERROR = 1


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="CURVE keys and roles for the broker (generate, list, revoke)",
                                   description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--keys-dir", default=None, metavar="DIR",
                        help=f"the keys directory (${ENV_KEYS_DIR}, default {keyfiles.DEFAULT_KEYS_DIR})")
    p = sub.add_parser("generate", parents=[common], help="a new client key pair, allowed with a role")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=keyfiles.ROLES)
    p.set_defaults(func=cmd_generate)
    p = sub.add_parser("list", parents=[common], help="the allow-list: names, roles, revoked keys")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("revoke", parents=[common], help="refuse a key from its next connection on")
    p.add_argument("name")
    p.set_defaults(func=cmd_revoke)


def keys_dir_of(args: argparse.Namespace, environ: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if environ is None else environ
    return getattr(args, "keys_dir", None) or env.get(ENV_KEYS_DIR) or keyfiles.DEFAULT_KEYS_DIR


def add_key_options(group: Any) -> None:
    """`--key/--keys-dir/--server-key` on a client command's connection options."""
    group.add_argument("--key", default=None, metavar="NAME",
                       help=f"connect with CURVE as this key (a name in the keys directory or a .key_secret "
                            f"path; ${ENV_KEY})")
    group.add_argument("--keys-dir", default=None, metavar="DIR",
                       help=f"keys directory (${ENV_KEYS_DIR}, default {keyfiles.DEFAULT_KEYS_DIR})")
    group.add_argument("--server-key", default=None, metavar="Z85",
                       help=f"the broker's public key (${ENV_SERVER_KEY}, default KEYS_DIR/server.key)")


def curve_from_args(args: argparse.Namespace, environ: Optional[Mapping[str, str]] = None) -> Any:
    """`CurveKeys` for the SDK from `--key` or KOABUS_KEY, or None (no CURVE); KeysError if unusable."""
    env = os.environ if environ is None else environ
    name = getattr(args, "key", None) or env.get(ENV_KEY)
    if not name:
        return None
    from koabus.common.client.options import CurveKeys

    server_key = getattr(args, "server_key", None) or env.get(ENV_SERVER_KEY) or None
    server, public, secret = keyfiles.client_keys(keys_dir_of(args, env), name, server_key)
    return CurveKeys(server, public, secret)


def _fail(exc: Exception) -> int:
    print(f"koabus keys: {exc}", file=sys.stderr)
    return EXIT_ERROR


def cmd_generate(args: argparse.Namespace) -> int:
    keys_dir = keys_dir_of(args)
    try:
        entry = keyfiles.generate(keys_dir, args.name, args.role)
    except (keyfiles.KeysError, OSError) as exc:
        return _fail(exc)
    print(f"{entry.name}: role {entry.role}, public key {entry.public_key}")
    print(f"  secret: {keyfiles.secret_path(keys_dir, entry.name)} (mode 0600; copy it to the client only)")
    print(f"  broker: {keyfiles.public_path(keys_dir, keyfiles.SERVER)} (the server key clients need)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    keys_dir = keys_dir_of(args)
    try:
        entries = keyfiles.load_allow(keys_dir)
    except keyfiles.KeysError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps([{"name": e.name, "role": e.role, "public_key": e.public_key, "created": e.created,
                           "revoked": e.revoked} for e in entries.values()], indent=2))
        return 0
    if not entries:
        print(f"no keys in {keyfiles.allow_path(keys_dir)} (koabus keys generate NAME --role ...)")
        return 0
    print(f"{'name':<20} {'role':<6} {'state':<8} {'public key':<40} created")
    for e in sorted(entries.values(), key=lambda e: e.name):
        state = "revoked" if e.revoked else "allowed"
        print(f"{e.name:<20} {e.role:<6} {state:<8} {e.public_key:<40} {e.created}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    try:
        entry = keyfiles.revoke(keys_dir_of(args), args.name)
    except (keyfiles.KeysError, OSError) as exc:
        return _fail(exc)
    print(f"{entry.name}: revoked at {entry.revoked}; refused from its next connection on")
    return 0
