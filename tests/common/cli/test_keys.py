"""`koabus keys generate|list|revoke` and `--key` as the CLI runs them."""
from __future__ import annotations

import argparse
import json

from koabus.common import keys
from koabus.common.cli.keys import curve_from_args
from koabus.common.cli.main import main


def test_generate_list_revoke(tmp_path, capsys):
    d = str(tmp_path / "k")
    assert main(["keys", "generate", "desk", "--role", "trade", "--keys-dir", d]) == 0
    out = capsys.readouterr().out
    secret = keys.read_key_file(keys.secret_path(d, "desk"), secret=True)[1]
    assert "desk: role trade" in out and secret not in out
    assert main(["keys", "generate", "desk", "--role", "read", "--keys-dir", d]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["keys", "revoke", "desk", "--keys-dir", d]) == 0
    capsys.readouterr()
    assert main(["keys", "list", "--json", "--keys-dir", d]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "desk" and listed[0]["revoked"] and secret not in json.dumps(listed)


def test_key_from_the_environment(tmp_path):
    d = str(tmp_path)
    keys.generate(d, "bot", "read")
    args = argparse.Namespace(key=None, keys_dir=None, server_key=None)
    assert curve_from_args(args, {}) is None
    curve = curve_from_args(args, {"KOABUS_KEY": "bot", "KOABUS_KEYS_DIR": d})
    assert curve.server_public_key == keys.server_public(d)
    assert curve.public_key == keys.load_allow(d)["bot"].public_key
