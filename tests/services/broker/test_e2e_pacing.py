"""End to end on the simulated control: the Kiwoom TR windows never draw -200, and the schedule is the ideal one."""
from __future__ import annotations

import time

import pytest

from koabus.services.broker.pacing import KIWOOM_TR_WINDOWS
from tests.services.broker.conftest import start_stack

# the operator's guidance as the simulator can enforce it; crossing it drops the connection as the
# real server does after its popup
STRICT_SIM = {"tr_windows": ((5, 1.0), (5, 17.0), (25, 90.0), (50, 180.0)), "disconnect_on_strict_overflow": True}


def _ideal_schedule(n, windows, margin_s):
    times = []
    for _ in range(n):
        t = 0.0
        for count, span in windows:
            if len(times) >= count:
                t = max(t, times[-count] + span + margin_s)
        times.append(t)
    return times


def _drive_pacer(stack, clients, rids, sent, max_rounds=200):
    """Step the frozen clock exactly to each pacer wakeup until every request has ended."""
    pacer = stack.broker.core.pacer

    def all_done():
        return all(any(m.TYPE in ("END", "ERROR") for m in c.messages_for(r)) for c, r in zip(clients, rids))

    for _ in range(max_rounds):
        before = len(sent())
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # let the released calls run and their answers arrive
            for c in set(clients):
                c.pump(0.005)
            if all_done() or (len(sent()) > before and not stack.sim.pending_events):
                break
        if all_done():
            return True
        wait = pacer.next_wakeup_s()
        if wait is not None:
            stack.sim.advance(wait)
    return all_done()


@pytest.mark.parametrize("sim_limits", [None, STRICT_SIM], ids=["sim-default", "sim-operator-guidance"])
def test_sixty_trs_with_the_kiwoom_windows_draw_no_overload(qapp, sim_limits):
    stack = start_stack(qapp, sim_options={"limits": sim_limits} if sim_limits else None, spy=True,
                        pacing={"tr_windows": [list(w) for w in KIWOOM_TR_WINDOWS]})
    try:
        a, b = stack.client("a"), stack.client("b")
        clients = [a if i % 2 else b for i in range(60)]
        rids = [c.send("tr", {"code": "opt10001", "inputs": {"종목코드": ("005930", "000660")[i % 2]}})
                for i, c in enumerate(clients)]

        def sent():
            return stack.spy.of("CommRqData")

        assert _drive_pacer(stack, clients, rids, sent), "not every TR ended"
        finals = [[m for m in c.messages_for(r) if m.TYPE in ("END", "ERROR")][0] for c, r in zip(clients, rids)]
        assert all(f.TYPE == "END" for f in finals), [f for f in finals if f.TYPE != "END"][:3]
        calls = sent()
        assert len(calls) == 60 and all(c.result == 0 for c in calls), "the control answered -200"
        assert stack.sim.stats.tr_rejected == 0
        assert not [k for k in stack.broker.core.counters if k.startswith("overload.")]
        assert stack.broker.core.connected and stack.broker.core.supervisor.losses == 0
        # the achieved schedule is the ideal one for these windows (to the pacer's margin)
        start = calls[0].at
        achieved = [c.at - start for c in calls]
        margin_s = stack.broker.settings.pacing.margin_s
        ideal = _ideal_schedule(60, KIWOOM_TR_WINDOWS, margin_s)
        assert max(abs(x - y) for x, y in zip(achieved, ideal)) < 1e-3, list(zip(achieved, ideal))[:12]
        bursts = [achieved[i:i + 5] for i in range(0, 60, 5)]
        assert all(burst[-1] - burst[0] < 1.0 for burst in bursts)  # five at the documented 5/s ...
        assert all(17.0 < nxt[0] - prev[-1] < 18.1 for prev, nxt in zip(bursts, bursts[1:]))  # ... then ~17 s
    finally:
        stack.close()
