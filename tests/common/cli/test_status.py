"""`koabus status` human output: readable, at most 80 columns, whatever the status map holds."""
from __future__ import annotations

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


def test_an_ordinary_status_reads_as_before():
    text = format_status({"broker": "koabus-broker", "epoch": 7, "seq": 3, "state": "connected", "connected": True,
                          "server": "mock", "accounts": ["8000000011"],
                          "clients": [{"name": "trader", "idle_s": 0.25, "inflight": 2}],
                          "pacing": {"tr": {"queued": 1, "sent": 4, "throttled": False, "wait_s": 0.2}}})
    _assert_readable(text)
    assert "connection  connected  (connected, mock server)  accounts 8000000011" in text
    assert "pacing tr    queued 1  sent 4  throttled no  wait 0.2 s" in text
    assert any(line.split()[:1] == ["trader"] and "in flight 2" in line for line in text.split("\n"))


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
    assert "CURVE on, 3 keys allowed" in text and "need an admin key" in text and "clients" in text
    assert "queues      inbox" not in text
    text = format_status({"broker": "b", "counters": {}, "security": {"curve": False, "insecure": "INSECURE: x"}})
    assert "CURVE off" in text and "INSECURE: x" in text and "queues      inbox" in text
