"""status counts every ERROR a client got exactly once, whether the I/O or the Qt thread decided it."""
from __future__ import annotations


def test_errors_from_both_threads_are_counted_once(stack):
    c = stack.client()
    got = []
    final, _ = c.call("tr", {"code": "opt10001", "inputs": {"없는입력": "1"}})  # refused on the Qt thread
    got.append(final)
    final, _ = c.call("teleport", {})  # refused on the I/O thread
    got.append(final)
    final, _ = c.call("meta", {"kind": "tr", "key": "opt99999x"})  # answered by the I/O thread
    got.append(final)
    assert [f.kind for f in got] == ["InvalidRequest", "InvalidRequest", "NotFound"], got
    stack.broker.core.push_state()
    counters = c.result("status")["counters"]
    assert counters["errors"] == 3
    assert counters["error.InvalidRequest"] == 2 and counters["error.NotFound"] == 1
