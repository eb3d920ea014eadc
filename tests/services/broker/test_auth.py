"""Access control without sockets: the role table, the allow-list's reload, ZAP decisions, Forbidden."""
from __future__ import annotations

from collections import Counter

import pytest
from zmq.utils import z85

from koabus.common import keys
from koabus.common.errors import Forbidden
from koabus.services.broker.auth import AllowList, Authority, ZapHandler
from koabus.services.broker.requests import OPS, ROLE_OF


def test_every_op_has_exactly_one_role():
    assert set(ROLE_OF) == set(OPS)
    assert set(ROLE_OF.values()) <= set(keys.ROLES)
    assert ROLE_OF["order"] == ROLE_OF["cancel_order"] == ROLE_OF["condition_search"] == "trade"
    assert ROLE_OF["shutdown"] == ROLE_OF["login"] == "admin"
    assert ROLE_OF["tr"] == ROLE_OF["subscribe"] == ROLE_OF["snapshot"] == ROLE_OF["meta"] == "read"


def test_every_op_in_the_protocol_doc_has_its_role():
    import pathlib

    doc = (pathlib.Path(__file__).parents[3] / "docs" / "protocol.md").read_text(encoding="utf-8")
    for op, role in ROLE_OF.items():
        rows = [line for line in doc.splitlines() if line.startswith(f"| `{op}` |")]
        assert len(rows) == 1 and rows[0].rstrip().endswith(f"| {role} |"), (op, rows)


def _zap_request(public: str, mechanism: bytes = b"CURVE"):
    return [b"1.0", b"7", b"", b"127.0.0.1", b"", mechanism, z85.decode(public.encode())]


def test_zap_accepts_allowed_keys_by_name_and_follows_the_file(tmp_path):
    d = str(tmp_path)
    reader = keys.generate(d, "reader", "read")
    counters = Counter()
    zap = ZapHandler(AllowList(d), counters)
    reply = zap.decide(_zap_request(reader.public_key))
    assert reply[2] == b"200" and reply[4] == b"reader"
    keys.revoke(d, "reader")  # the next connection is refused: the file is read again when it changes
    assert zap.decide(_zap_request(reader.public_key))[2] == b"400"
    assert zap.decide(_zap_request(reader.public_key, b"NULL"))[2] == b"400"
    assert zap.decide([b"1.0", b"1"])[2] == b"500"
    assert counters["zap_refused"] == 2 and counters["zap_accepted"] == 1


def test_authority_checks_roles_and_names_the_one_needed(tmp_path):
    d = str(tmp_path)
    keys.generate(d, "reader", "read")
    keys.generate(d, "trader", "trade")
    authority = Authority(AllowList(d))
    assert authority.check("reader", "tr") == "read"
    assert authority.check("trader", "order") == "trade"
    with pytest.raises(Forbidden) as info:
        authority.check("reader", "order")
    assert info.value.details["role_needed"] == "trade" and "'trade'" in str(info.value)
    with pytest.raises(Forbidden, match="'admin'"):
        authority.check("trader", "shutdown")
    with pytest.raises(Forbidden):
        authority.check(None, "status")  # no key name: nothing
    assert Authority(None).check(None, "shutdown") == "admin"  # without CURVE every client is admin


def test_a_corrupt_allow_list_refuses_everyone(tmp_path):
    d = str(tmp_path)
    reader = keys.generate(d, "reader", "read")
    allow = AllowList(d)
    with open(keys.allow_path(d), "w") as fh:
        fh.write("{not json")
    assert allow.refresh() and allow.lookup(reader.public_key) is None
