"""The keys directory: key pairs with private secret files, the allow-list, revocation, client keys."""
from __future__ import annotations

import os
import stat

import pytest
import zmq.auth

from koabus.common import keys
from koabus.common.client import CurveKeys


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_generate_writes_a_private_secret_and_allows_the_public_key(tmp_path):
    d = str(tmp_path / "keys")
    entry = keys.generate(d, "viewer", "read")
    assert entry.role == "read" and entry.allowed
    assert _mode(keys.secret_path(d, "viewer")) == 0o600
    assert _mode(keys.secret_path(d, keys.SERVER)) == 0o600  # the broker's pair, made the first time
    assert _mode(d) == 0o700
    public, secret = zmq.auth.load_certificate(keys.secret_path(d, "viewer"))  # ZeroMQ's own format
    assert public.decode() == entry.public_key and len(secret) == 40
    assert zmq.auth.load_certificate(keys.public_path(d, "viewer"))[1] is None  # no secret in .key
    assert keys.load_allow(d)["viewer"].public_key == entry.public_key
    with pytest.raises(keys.KeysError, match="exists already"):
        keys.generate(d, "viewer", "admin")
    with pytest.raises(keys.KeysError, match="role must be"):
        keys.generate(d, "x", "root")
    for bad in ("server", "../up", "", "a b"):
        with pytest.raises(keys.KeysError, match="key name"):
            keys.generate(d, bad, "read")


def test_revoke_keeps_the_entry_and_marks_it(tmp_path):
    d = str(tmp_path)
    keys.generate(d, "t", "trade")
    entry = keys.revoke(d, "t")
    assert entry.revoked and not keys.load_allow(d)["t"].allowed
    with pytest.raises(keys.KeysError, match="no key named"):
        keys.revoke(d, "nobody")


def test_client_keys_refuse_a_secret_others_can_read(tmp_path):
    d = str(tmp_path)
    keys.generate(d, "c", "read")
    server, public, secret = keys.client_keys(d, "c")
    assert server == keys.server_public(d)
    curve = CurveKeys.from_keys_dir(d, "c")
    assert curve.public_key == public and secret not in repr(curve)
    assert CurveKeys.from_keys_dir(d, keys.secret_path(d, "c"), server_public_key=public).server_public_key == public
    os.chmod(keys.secret_path(d, "c"), 0o644)
    with pytest.raises(keys.KeysError, match="chmod 600") as info:
        keys.client_keys(d, "c")
    assert secret not in str(info.value)


def test_a_broken_allow_list_is_one_clear_error(tmp_path):
    d = str(tmp_path)
    with open(keys.allow_path(d), "w") as fh:
        fh.write('{"keys": {"a": {"public_key": "short", "role": "read"}}}')
    with pytest.raises(keys.KeysError, match="Z85"):
        keys.load_allow(d)
