"""The order journal's I/O: fsynced JSON lines per day, torn lines after a crash, typed failures."""
from __future__ import annotations

import json
import os

import pytest

from koabus.common.errors import JournalUnavailable, Unavailable
from koabus.services.broker.journal import OrderJournal


def test_append_then_load_per_day(tmp_path):
    journal = OrderJournal(str(tmp_path / "orders" / "{date}.jsonl"))
    journal.append("20240306", {"rec": "request", "key": "a", "t": 1.5})
    journal.append("20240306", {"rec": "sending", "key": "a", "t": 2.0, "screen": "0001"})
    journal.append("20240307", {"rec": "request", "key": "b", "t": 3.0})
    assert [r["rec"] for r in journal.load("20240306")] == ["request", "sending"]
    assert [r["key"] for r in journal.load("20240307")] == ["b"]
    assert journal.load("20240308") == []
    assert (tmp_path / "orders" / "20240306.jsonl").read_text(encoding="utf-8").count("\n") == 2
    assert journal.writes == 3 and journal.errors == 0


def test_a_torn_last_line_is_skipped_and_the_next_record_stays_whole(tmp_path):
    journal = OrderJournal(str(tmp_path / "{date}.jsonl"))
    journal.append("d", {"rec": "request", "key": "a"})
    with open(tmp_path / "d.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"rec": "sending", "ke')  # the process died mid-write
    assert [r["key"] for r in journal.load("d")] == ["a"]
    journal.append("d", {"rec": "request", "key": "b"})  # the next run goes on writing
    assert [r["key"] for r in journal.load("d")] == ["a", "b"]
    assert journal.skipped_lines == 2


def test_unwritable_journal_is_a_typed_transient_error(tmp_path):
    target = tmp_path / "d.jsonl"
    os.mkdir(target)  # a directory where the file should be: open() fails, for root too
    journal = OrderJournal(str(tmp_path / "{date}.jsonl"))
    with pytest.raises(JournalUnavailable) as info:
        journal.append("d", {"rec": "request", "key": "a"})
    assert isinstance(info.value, Unavailable) and info.value.details["path"] == str(target)
    assert journal.errors == 1 and journal.writes == 0
    wire = info.value.to_wire()
    assert wire["kind"] == "JournalUnavailable" and json.dumps(wire)


def test_unreadable_journal_refuses_to_load(tmp_path):
    os.mkdir(tmp_path / "d.jsonl")
    with pytest.raises(JournalUnavailable):
        OrderJournal(str(tmp_path / "{date}.jsonl")).load("d")


def test_the_journal_is_always_on_under_the_state_dir():
    from koabus.services.broker.config import BrokerSettings, SettingsError, settings_from_dict

    assert BrokerSettings().journal_template() == "var/state/orders/{date}.jsonl"
    assert settings_from_dict({"state_dir": "/srv/k"}).journal_template() == "/srv/k/orders/{date}.jsonl"
    custom = settings_from_dict({"state_dir": "/srv/k", "order_journal": "{state_dir}/j-{date}.jsonl"})
    assert custom.journal_template() == "/srv/k/j-{date}.jsonl"
    with pytest.raises(SettingsError, match="order_journal"):
        settings_from_dict({"order_journal": ""})  # no way to switch it off
