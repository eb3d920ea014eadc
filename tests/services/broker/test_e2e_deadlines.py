"""A queued request's deadline is kept on the wall clock even when its pacing slot is far away."""
from __future__ import annotations

import time

from tests.services.broker.conftest import start_stack

QUERY = {"code": "opt10001", "inputs": {"종목코드": "005930"}}


def test_deadline_fires_before_a_distant_pacing_slot(qapp):
    # Kiwoom's real-server windows: the sixth TR waits ~18 s of clock time, which never passes here
    stack = start_stack(qapp, pacing={"tr_windows": [[5, 1.0], [5, 18.0]]})
    try:
        c = stack.client()
        for _ in range(5):
            c.send("tr", QUERY)
        started = time.monotonic()
        rid = c.send("tr", QUERY, deadline_ms=200)
        msgs = c.wait_final(rid, 3.0)
        assert msgs[-1].TYPE == "ERROR" and msgs[-1].kind == "Timeout", msgs
        assert 0.15 <= time.monotonic() - started < 2.0
        assert stack.broker.core.pacer.depth()["quote"] == 0  # withdrawn, not left to run at 18 s
    finally:
        stack.close()
