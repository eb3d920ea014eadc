"""Which TRs a replay answers, and the clear refusal for the rest.

Answered (by the simulator's own responders, over the recorded market and the simulated accounts):
- opt10001 for a code with recorded trades that day (현재가, 시가/고가/저가, 거래량, 기준가 and the
  limits from the recorded prints at the replay's virtual time; fundamentals are the simulator's);
- opt10081 for a code with daily bars in `<lake>/history/daily`, opt10080 for a code with bars of that
  tick range in `<lake>/history/minute<N>` (`koabus sync`);
- the account TRs (opw00001, opw00004, opw00005, opw00007, opw00018, opt10074-77, opt10085): the
  orders and fills of the replay are the simulator's.
Anything else, or one of the above without data: CommRqData returns -201 (the control's "request
failed" return, so the broker fails the request with that KiwoomError) and OnReceiveMsg says why,
which the broker publishes on `sys.msg`.
"""
from __future__ import annotations

from typing import Optional

from koabus.services.sim.core import OP_ERR_RQ_STRUCT_FAIL, SimCore
from koabus.services.sim.trs.requests import TrService

from .day import RecordedDay
from .history import HistoryStore

ACCOUNT_TRS = frozenset(("opw00001", "opw00004", "opw00005", "opw00007", "opw00018", "opt10074", "opt10075",
                         "opt10076", "opt10077", "opt10085"))
LAKE_TRS = ("opt10001", "opt10080", "opt10081")
MSG_PREFIX = "[REPLAY]"


class ReplayTrService(TrService):
    """The simulator's TR path, answering only what the recorded day and the lake's history hold."""

    def __init__(self, core: SimCore, day: RecordedDay, history: HistoryStore):
        super().__init__(core)
        self._day = day
        self._history = history
        self.refused = 0

    def refusal(self, tr_code: str, inputs: dict) -> Optional[str]:
        """Why the replay cannot answer this TR with these inputs (None: it can)."""
        code = str(inputs.get("종목코드", "")).strip()
        when = self._day.day.isoformat()
        if tr_code in ACCOUNT_TRS:
            return None
        if tr_code == "opt10001":
            return None if code in self._day.refs else f"no recorded trade of {code!r} on {when}"
        if tr_code == "opt10081":
            if self._history.has_daily(code):
                return None
            return f"no daily bars of {code!r} in the lake's history (koabus sync --daily)"
        if tr_code == "opt10080":
            text = str(inputs.get("틱범위", "1")).strip()
            interval = int(text) if text.isdigit() and int(text) > 0 else 1
            if self._history.has_minutes(code, interval):
                return None
            return f"no {interval}-minute bars of {code!r} in the lake's history (koabus sync --minute {interval})"
        return (f"{tr_code} has no recorded data in a replay (answered: {', '.join(LAKE_TRS)} and the "
                "account TRs)")

    def comm_rq_data(self, rq_name: str, tr_code: str, prev_next: int, screen: str) -> int:
        if self._core.connected and self._core.valid_screen(screen):
            reason = self.refusal(tr_code.strip().lower(), self._inputs)
            if reason is not None:
                return self._refuse(screen, rq_name, tr_code, reason)
        return super().comm_rq_data(rq_name, tr_code, prev_next, screen)

    def comm_kw_rq_data(self, codes: str, next_: int, count: int, type_flag: int, rq_name: str,
                        screen: str) -> int:
        if self._core.connected and self._core.valid_screen(screen):
            return self._refuse(screen, rq_name, "OPTKWFID",
                                "OPTKWFID has no recorded data in a replay (use opt10001 per code)")
        return super().comm_kw_rq_data(codes, next_, count, type_flag, rq_name, screen)

    def _refuse(self, screen: str, rq_name: str, tr_code: str, reason: str) -> int:
        self._inputs = {}
        self.refused += 1
        self._core.post("OnReceiveMsg", screen, rq_name, tr_code, f"{MSG_PREFIX} {reason}")
        return OP_ERR_RQ_STRUCT_FAIL
