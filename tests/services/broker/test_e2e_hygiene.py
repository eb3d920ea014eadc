"""Hostile input over real sockets: msgpack extension types, over-long strings and control characters get
typed errors, the broker keeps serving, and `koabus status` stays readable (docs/protocol.md §2, §9)."""
from __future__ import annotations

import argparse
import unicodedata
from datetime import datetime, timezone

import msgpack

from koabus.common.cli import status as status_cli
from koabus.common.protocol import Hello, encode_client
from koabus.common.protocol.constants import MAX_CLIENT_NAME_CHARS

#: a name within the limit meant to wreck a terminal: clear screen, right-to-left override, line break
HOSTILE_NAME = "\x1b[2J" + "가" * 10 + "\u202e\n" + "x" * 40
assert len(HOSTILE_NAME) <= MAX_CLIENT_NAME_CHARS


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _error_for(client, frames):
    client.send_raw(frames)
    rid = msgpack.unpackb(frames[0])[2]
    answer = client.wait_final_any(rid, 5.0)
    assert answer.TYPE == "ERROR", answer
    return answer


def test_extension_types_in_a_request_are_refused_and_the_broker_keeps_serving(stack):
    c = stack.client("ext")
    for rid, value in ((41, msgpack.Timestamp(1_700_000_000, 5)),
                       (42, datetime(2024, 3, 6, 9, 0, tzinfo=timezone.utc)),
                       (43, msgpack.ExtType(7, b"payload"))):
        body = msgpack.packb({"op": "tr", "args": {"code": "opt10081", "inputs": {"기준일자": value}}},
                             datetime=True)
        err = _error_for(c, [msgpack.packb([1, "REQUEST", rid]), body])
        assert err.request_id == rid and err.kind == "ProtocolError" and "extension" in err.message
    assert c.result("status")["connected"] is True


def test_a_10000_character_client_name_is_refused_and_status_stays_readable(stack, capsys):
    flood = stack.client("flood")
    err = _error_for(flood, encode_client(Hello(7, (1,), "n" * 10_000, 1000)))
    assert err.kind == "ProtocolError" and err.request_id == 7
    assert "HELLO.client" in err.message and "64" in err.message and len(err.message) < 200
    assert flood.result("meta", {"kind": "fid", "key": 10})  # the same connection keeps working

    hostile = stack.client(HOSTILE_NAME)
    assert hostile.hello().TYPE == "WELCOME"  # within the limit: accepted, shown escaped
    hostile.pump(0.2)
    status = status_cli.fetch_status(stack.broker.router_endpoint, 3.0)
    assert all(len(c["name"]) <= MAX_CLIENT_NAME_CHARS for c in status["clients"])
    assert HOSTILE_NAME in [c["name"] for c in status["clients"]]

    args = argparse.Namespace(router=stack.broker.router_endpoint, timeout=3.0, json=False)
    assert status_cli.cmd_status(args) == 0
    out = capsys.readouterr().out
    lines = out.rstrip("\n").split("\n")
    for line in lines:
        assert _columns(line) <= 80, line
        assert not any(unicodedata.category(ch)[0] == "C" for ch in line), repr(line)
    shown = [line for line in lines if "가가" in line]
    assert len(shown) == 1 and "\\x1b[2J" in shown[0] and "\\u202e\\x0a" in shown[0], shown
