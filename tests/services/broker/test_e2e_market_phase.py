"""`status` says which market phase the broker's clock is in, from the shared KRX calendar: on
2026-11-19 (수능, 10:00-16:30) 09:30 is the pre-open auction, not the regular session."""
from __future__ import annotations

from datetime import datetime

from koabus.common.client import Client
from koabus.common.client.calendar import calendar
from koabus.common.clock import KST
from tests.services.broker.conftest import Stack, make_broker


def _exam_day_stack(qapp, start: datetime) -> Stack:
    from koabus.services.sim.config import SimConfig
    from koabus.services.sim.control import SimulatedControl

    control = SimulatedControl(SimConfig(speed=0.0, start_mode="fixed", start=start))
    broker = make_broker(control, control.sim.clock)
    broker.start()
    stack = Stack(qapp, control, broker)
    probe = stack.client("fixture")
    assert probe.wait_for(lambda: broker.core.connected, 5.0), "the broker did not log in"
    return stack


def test_status_reports_the_phase_of_the_brokers_clock_on_the_exam_day(qapp):
    stack = _exam_day_stack(qapp, datetime(2026, 11, 19, 9, 30, tzinfo=KST))
    try:
        c = stack.client()
        stack.broker.core.push_state()
        status = c.result("status")
        assert status["market_phase"] == "pre_open_auction"
        assert status["market_session"] == {"date": "2026-11-19", "open": "2026-11-19T10:00:00+09:00",
                                            "close": "2026-11-19T16:30:00+09:00"}
        with Client(stack.broker.router_endpoint, stack.broker.pub_endpoint, timeout_s=10.0) as sdk:
            assert sdk.market_phase() == "pre_open_auction"  # the SDK asks the broker's clock, not the wall
            broker_now = datetime.fromtimestamp(sdk.status()["clock_s"], KST)
            assert not calendar().is_open(broker_now)
        stack.advance(45 * 60.0)  # 10:15: the late open has happened
        stack.broker.core.push_state()
        assert c.result("status")["market_phase"] == "continuous"
    finally:
        stack.close()


def test_the_read_summary_carries_the_phase():
    from koabus.services.broker.requests import STATUS_SUMMARY_KEYS

    assert {"market_phase", "market_session"} <= set(STATUS_SUMMARY_KEYS)
