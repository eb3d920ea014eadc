"""ReplayRealtimeService: the simulator's SetRealReg semantics over a recorded stream.

Registrations (screens, `"0"`/`"1"`, SetRealRemove, DisconnectRealData, TR-triggered realtime) are
the simulator's `RealtimeService`; what streams is the recorded day: every recorded event whose time
falls in the step, in recorded order, for the codes registered with a FID of its type. Market-wide
types follow the simulator's rules (장시작시간 for the empty code; VI for every stock when the empty
code is registered with a VI FID). A code streams only the types it has recorded rows of.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Set, Tuple

from koabus.services.sim.core import OP_ERR_NONE, SimCore
from koabus.services.sim.realtime import (
    MARKET_STATUS,
    MARKET_TYPES,
    VI,
    RealtimeService,
    RealValues,
    _TypeInfo,
)

from .day import RecordedDay


class ReplayRealtimeService(RealtimeService):
    """Registrations as the simulator keeps them; the stream from a RecordedDay."""

    def __init__(self, core: SimCore, day: RecordedDay):
        super().__init__(core)
        self._recorded = day  # not `_day`: that is the simulator's method building a code's day state
        for names in day.types_by_code.values():
            for name in names:
                if name not in self._types:
                    self._types[name] = _TypeInfo(name)
        #: called once, after the first SetRealReg that succeeded (the replay's clock starts there)
        self.on_first_registration: Optional[Callable[[], None]] = None
        self.delivered = 0

    def set_real_reg(self, screen: str, codes: str, fids: str, opt: str) -> int:
        rc = super().set_real_reg(screen, codes, fids, opt)
        if rc == OP_ERR_NONE and self.on_first_registration is not None:
            start, self.on_first_registration = self.on_first_registration, None
            start()
        return rc

    def _names(self, code: str, fids: Set[int]) -> Tuple[str, ...]:
        kinds = MARKET_TYPES if code == "" else tuple(sorted(self._recorded.types_by_code.get(code, ())))
        return tuple(n for n in kinds if n in self._types and fids & self._types[n].fidset)

    @property
    def _unbuilt(self) -> bool:
        return False  # recorded events need no stream built: a clock hold ends at the registration

    def prepare(self, t: float, budget_s: float) -> None:
        """Nothing to build: the recorded events stream as they are."""

    def step(self, t0: float, t1: float, built_only: bool = False) -> None:
        """Post the recorded events in (t0, t1] that a registration selects, in recorded order."""
        active = self._active
        if not active:
            return
        market_wide = active.get("", ())
        post = self._core.post
        indexes: Dict[str, Dict[int, int]] = {}
        for event in self._recorded.between(t0, t1):
            name = event.type_name
            if not (name in active.get(event.code, ()) or (name == VI and VI in market_wide)
                    or (event.code == "" and name == MARKET_STATUS and MARKET_STATUS in market_wide)):
                continue
            index = indexes.get(name)
            if index is None:
                index = indexes[name] = self._types[name].index
            post("OnReceiveRealData", event.code, name, event.payload, context=RealValues(index, event.values))
            self.delivered += 1
