"""TR pages are pipelined: the broker asks for page N+1 before it types and sends page N, and the pages
it sends are the ones it sent before (same order, same typed values, same errors after them).

Ordering is observed, not timed: one list records every CommRqData / CommKwRqData that reaches the
control (through the ControlSpy) and every PART / END / ERROR the broker hands to its I/O thread.
"""
from __future__ import annotations

import pytest

from koabus.common.protocol import End, ErrorReply, Part
from koabus.metadata import catalog
from koabus.services.broker.decoding import typed_fields
from tests.services.broker.conftest import start_stack

DAILY = {"code": "opt10081", "inputs": {"종목코드": "005930", "기준일자": "20240305"}, "all_pages": True}


@pytest.fixture
def slow_server(qapp):
    """A spied stack whose simulated server answers each TR 30 wall ms after the request."""
    s = start_stack(qapp, sim_options={"tr_latency_ms": 30}, spy=True)
    try:
        yield s
    finally:
        s.close()


def record_order(stack):
    """One list of ("rq", member) and ("PART", n) / ("END", None) / ("ERROR", kind) in the order they happen."""
    events = []
    for member in ("CommRqData", "CommKwRqData", "DisconnectRealData"):
        stack.spy.before[member] = lambda signature, args, _m=member: events.append(
            ("rq", _m) if _m != "DisconnectRealData" else ("undo", _m))
    outbox = stack.broker.core.outbox
    put = outbox.put

    def recording_put(item, droppable=False):
        if item[0] == "R":
            message = item[2]
            if isinstance(message, Part):
                events.append(("PART", message.n))
            elif isinstance(message, End):
                events.append(("END", None))
            elif isinstance(message, ErrorReply):
                events.append(("ERROR", message.kind))
        return put(item, droppable)

    outbox.put = recording_put
    return events


def test_the_next_page_is_asked_for_before_the_page_before_it_is_sent(slow_server):
    events = record_order(slow_server)
    c = slow_server.client()
    final, parts = c.call("tr", {**DAILY, "max_pages": 3}, timeout_s=10)
    assert final.TYPE == "END", final
    assert [p.data["page"] for p in parts] == [0, 1, 2]
    assert events == [("rq", "CommRqData"), ("rq", "CommRqData"), ("PART", 0), ("rq", "CommRqData"),
                      ("PART", 1), ("PART", 2), ("undo", "DisconnectRealData"), ("END", None)]
    result = final.result
    assert result["pages"] == 3 and result["rows"] == 1800
    # pages 0 and 1 were typed while the next page was asked for, page 2 (the last) was not
    assert 0 < result["typing_overlapped_s"] < result["typing_s"] <= result["control_s"]


def test_kwfid_chunks_are_pipelined_and_each_chunk_s_realtime_is_undone_before_the_next(slow_server):
    """OPTKWFID registers realtime for the codes it asked about: a stream nobody subscribed to, undone
    as soon as each chunk has been read rather than when the request ends."""
    events = record_order(slow_server)
    c = slow_server.client()
    listing = c.result("call", {"method": "GetCodeListByMarket", "args": [""]})
    codes = ([x for x in listing.split(";") if x] * 3)[:130]
    final, parts = c.call("kwfid", {"codes": codes}, timeout_s=10)
    assert final.TYPE == "END", final
    assert [len(p.data["codes"]) for p in parts] == [100, 30]
    undo = ("undo", "DisconnectRealData")
    assert events == [("rq", "CommKwRqData"), undo, ("rq", "CommKwRqData"), ("PART", 0), undo, ("PART", 1),
                      ("END", None)]


def test_a_refused_continuation_still_follows_the_page_before_it(slow_server):
    """The next page's CommRqData fails at once: the page already read is sent, then the error."""
    events = record_order(slow_server)
    spy = slow_server.spy
    calls = []

    def only_the_first(signature, args):
        calls.append(args)  # then -300 (OP_ERR_RQ_STRING_FAIL): not an overload, so no retry
        return spy.original(signature, *args) if len(calls) == 1 else -300

    spy.overrides["CommRqData"] = only_the_first
    c = slow_server.client()
    final, parts = c.call("tr", DAILY, timeout_s=10)
    assert final.TYPE == "ERROR" and final.kind == "KiwoomError", final
    assert [p.data["page"] for p in parts] == [0] and len(parts[0].data["multi"]) == 600
    assert events == [("rq", "CommRqData"), ("rq", "CommRqData"), ("PART", 0), ("undo", "DisconnectRealData"),
                      ("ERROR", "KiwoomError")]
    assert slow_server.broker.core.trs.pending() == 0 and len(slow_server.broker.core.screens) == 0


def test_pipelined_pages_hold_the_values_typed_row_by_row(slow_server):
    """Every page equals typed_fields (the row-by-row reference) over the raw rows the control gave."""
    raw_pages = []
    spy = slow_server.spy
    spy.overrides["GetCommDataEx"] = lambda signature, args: _keep(raw_pages, spy.original(signature, *args))
    c = slow_server.client()
    final, parts = c.call("tr", {**DAILY, "max_pages": 2}, timeout_s=10)
    assert final.TYPE == "END", final
    fields = catalog().tr("opt10081").multi_outputs
    assert len(raw_pages) == 2
    for part, raw in zip(parts, raw_pages):
        assert part.data["multi"] == [typed_fields(fields, row, True) for row in raw]


def test_the_stop_condition_cuts_the_same_rows_and_ends_paging(slow_server):
    events = record_order(slow_server)
    c = slow_server.client()
    final, parts = c.call("tr", {**DAILY, "stop": {"field": "일자", "op": "<", "value": "20200101"}},
                          timeout_s=10)
    assert final.TYPE == "END", final
    dates = [row["일자"] for p in parts for row in p.data["multi"]]
    assert len(parts) >= 2 and min(dates) >= "2020-01-01" and max(dates) <= "2024-03-05"
    assert len(parts[-1].data["multi"]) < 600  # the stop page is cut ...
    assert final.result["rows"] == len(dates)
    # ... and no page after it is asked for: one request per page sent
    assert events.count(("rq", "CommRqData")) == len(parts)
    assert events[-3:] == [("PART", len(parts) - 1), ("undo", "DisconnectRealData"), ("END", None)]


def _keep(store, table):
    store.append([list(row) for row in table])
    return table
