"""`koabus status` human output: readable, at most 80 columns, whatever the status map holds."""
from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from koabus.common.cli import status as status_cli
from koabus.common.cli.status import format_status


def _columns(line: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
               for c in line)


def _assert_readable(text: str) -> None:
    for line in text.split("\n"):
        assert _columns(line) <= 80, line
        assert not any(unicodedata.category(ch)[0] == "C" for ch in line), repr(line)


def test_hostile_names_huge_counts_and_many_clients_stay_within_80_columns():
    status = {
        "broker": "b" * 500, "epoch": 2**63 - 1, "seq": 10**40, "state": "\x1b]0;pwned\x07", "connected": True,
        "server": "실서버" * 30, "accounts": ["8000000011"] * 50,
        "realtime": {"codes": 10**30, "screens": -5, "subscriptions": "many"},
        "queues": {"inbox": 2**70, "outbox": 1.5e300, "pending_tr": None, "pacer": {"k" * 300: 10**25}},
        "pacing": {"tr\r\n": {"queued": 10**18, "throttled": True, "wait_s": 1e-9}, "order": "not a map"},
        "counters": {"errors": 10**20, **{f"error_{n}": n for n in range(40)}},
        "clients": [{"name": "\u202e" + "가" * 5000, "idle_s": 1e12, "inflight": 10**15}]
                   + [{"name": f"c{n}", "idle_s": 0.5, "inflight": n} for n in range(30)],
    }
    text = format_status(status)
    _assert_readable(text)
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e가가" in text
    assert f"and {31 - status_cli.MAX_CLIENT_ROWS} more" in text
    assert "clients (31)" in text


def _row(text: str, key: str) -> list:
    """The cells of the first table row whose first cell is `key`."""
    for line in text.split("\n"):
        cells = [c for part in line.split("│") for c in re.split(r"\s{2,}", part.strip()) if c]
        if cells and cells[0] == key:
            return cells
    raise AssertionError(f"no row {key!r} in\n{text}")


def test_an_ordinary_status_is_tables_without_python_reprs():
    text = format_status({"broker": "koabus-broker", "epoch": 7, "seq": 3, "state": "connected", "connected": True,
                          "server": "mock", "accounts": ["8000000011", "8000000031"], "clock_s": 1748826000.0,
                          "security": {"curve": False, "allowed_keys": None},
                          "clients": [{"name": "trader", "idle_s": 0.25, "inflight": 2}],
                          "pacing": {"tr": {"queued": 1, "sent": 4, "throttled": False, "wait_s": 0.2,
                                            "windows": [[5, 1.0], [1000, 3600.0]]}}})
    _assert_readable(text)
    assert _row(text, "state")[1] == "connected" and _row(text, "connected")[1] == "yes"
    assert _row(text, "accounts")[1] == "8000000011, 8000000031"
    assert _row(text, "clock_s")[1] == "2025-06-02 10:00:00 KST"
    assert _row(text, "queued")[1] == "1" and _row(text, "windows")[1] == "5/1, 1000/3600"
    assert _row(text, "allowed_keys")[1] == "-"
    for repr_text in ("[", "{", "'", "None", "True", "False"):
        assert repr_text not in text, repr_text
    assert any(line.split()[:3] == ["trader", "0.25", "2"] for line in text.split("\n"))


def test_whatever_fields_exist_are_shown_nested_dicts_as_sub_tables():
    text = format_status({"broker": "b", "market_phase": "closing_auction", "brand_new": 5,
                          "section": {"inner": {"leaf": 42, "deeper": {"x": 1, "y": [1, 2]}}}})
    _assert_readable(text)
    assert _row(text, "market_phase")[1] == "closing_auction" and _row(text, "brand_new")[1] == "5"
    assert "section" in text.split("\n") and _row(text, "leaf")[1] == "42"
    assert _row(text, "deeper")[1] == "x=1; y=1, 2"  # past the sub-table depth: one line


wire = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)
keys = st.sampled_from(["broker", "epoch", "seq", "state", "connected", "server", "accounts", "realtime",
                        "queues", "pacing", "counters", "clients"])


@settings(max_examples=300)
@given(st.dictionaries(keys, wire))
def test_any_status_map_formats_without_error(status):
    _assert_readable(format_status(status))


def test_a_read_keys_summary_says_what_is_left_out():
    text = format_status({"broker": "b", "epoch": 1, "seq": 2, "state": "connected", "connected": True,
                          "server": "mock", "security": {"curve": True, "allowed_keys": 3, "insecure": None}})
    assert _row(text, "curve")[1] == "yes" and _row(text, "allowed_keys")[1] == "3"
    assert "need an admin key" in text and "clients" in text
    text = format_status({"broker": "b", "counters": {}, "security": {"curve": False, "insecure": "INSECURE: x"}})
    assert _row(text, "curve")[1] == "no" and _row(text, "insecure")[1] == "INSECURE: x"
    assert "need an admin key" not in text


#: the broker's client record (services/broker/server.py) with a name meant to wreck a terminal
HOSTILE_CLIENT = {"name": "\x1b[2J" + "가" * 10 + "\u202e\n" + "x" * 40, "idle_s": 0.208, "inflight": 0,
                  "snapshots": 0, "blocked": False, "dropped": 0}


def test_a_hostile_client_name_is_one_escaped_line_of_the_clients_table():
    text = format_status({"broker": "b", "clients": [HOSTILE_CLIENT, {**HOSTILE_CLIENT, "name": "trader",
                                                                       "dropped": 10**15}]})
    _assert_readable(text)
    shown = [line for line in text.split("\n") if "가가" in line]
    assert len(shown) == 1 and "\\x1b[2J" in shown[0] and "\\u202e\\x0a" in shown[0] and "…" in shown[0], shown
    assert shown[0].split()[-5:] == ["0.208", "0", "0", "no", "0"]
    assert any(line.split()[:1] == ["trader"] and line.split()[-1] == "1e+15" for line in text.split("\n"))
    narrow = format_status({"clients": [HOSTILE_CLIENT]}, width=60).split("\n")
    assert max(_columns(line) for line in narrow) <= 60
    assert [line.split()[-5:] for line in narrow if "가가" in line] == [["0.208", "0", "0", "no", "0"]]


def test_json_output_escapes_terminal_controls_but_keeps_korean_and_the_values():
    import json

    status = {"broker": "b\x9b31m", "clients": [HOSTILE_CLIENT], "note": "가\u2028\U000e0041\ud800"}
    text = status_cli.status_json(status)
    assert json.loads(text) == status
    assert "가가" in text and "\\u202e" in text and "\\u009b" in text and "\\udb40\\udc41" in text
    assert not any(unicodedata.category(ch)[0] == "C" and ch != "\n" or ch == "\u2028" for ch in text)


def test_wait_ready_shows_the_brokers_strings_escaped(monkeypatch, capsys):
    import argparse

    monkeypatch.setattr(status_cli, "fetch_status",
                        lambda *a, **k: {"connected": True, "server": "\x1b[2Jmock", "epoch": "\u202e7"})
    args = argparse.Namespace(router="tcp://127.0.0.1:1", timeout=0.1, quiet=False, keys=None)
    monkeypatch.setattr(status_cli, "_curve", lambda a: None)
    assert status_cli.cmd_wait_ready(args) == status_cli.EXIT_OK
    out = capsys.readouterr().out
    assert "\\x1b[2Jmock server" in out and "epoch \\u202e7" in out and "\x1b" not in out and "\u202e" not in out
