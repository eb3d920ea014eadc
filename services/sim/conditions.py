"""Condition search (조건검색): GetConditionLoad, GetConditionNameList, SendCondition, SendConditionStop.

Conditions come from the simulated market (`world.conditions()`, evaluated at a virtual time).
Limits (facts §7): SendCondition counts in the shared query budget, the same condition at most
once per `condition_interval_s` (over it SendCondition returns 0), at most 10 realtime
conditions, and no realtime I/D signals for a condition whose result exceeds 100 codes. Results
are delivered in one page (nNext 0). Realtime membership is re-evaluated every
`REEVALUATE_S` virtual seconds and reported as I (entered) / D (left) by diffing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Set, Tuple

from .core import OP_ERR_NONE, SimCore

REEVALUATE_S = 10.0
MSG_LOADED = "[OK] 조건검색 목록 조회 완료"


@dataclass
class _Watch:
    screen: str
    name: str
    index: int
    members: Set[str] = field(default_factory=set)
    next_t: float = 0.0


class ConditionService:
    """Condition list, one-off and realtime searches."""

    def __init__(self, core: SimCore):
        self._core = core
        self._loaded = False
        self._watches: Dict[Tuple[str, int], _Watch] = {}

    def get_condition_load(self) -> int:
        core = self._core
        if not core.connected:
            return 0

        def loaded() -> bool:
            self._loaded = True
            return True

        core.post("OnReceiveConditionVer", 1, MSG_LOADED, context=loaded)
        return 1

    def get_condition_name_list(self) -> str:
        if not self._core.connected or not self._loaded:
            return ""
        return "".join(f"{index:03d}^{name};" for index, name in self._core.world.conditions())

    def send_condition(self, screen: str, name: str, index: int, search: int) -> int:
        core = self._core
        if not core.connected or not self._loaded or not core.valid_screen(screen):
            return 0
        if dict(core.world.conditions()).get(index) != name:
            return 0
        if search == 1 and (screen, index) not in self._watches and \
                len(self._watches) >= core.config.limits.max_realtime_conditions:
            return 0
        if core.acquire_query() != OP_ERR_NONE:
            return 0
        if search != 2 and not core.condition_once.try_acquire((name, index), core.now()):
            return 0
        core.use_screen(screen)
        now = core.now()
        codes = sorted(core.world.evaluate_condition(index, now))
        if core.condition_add_price:
            text = "".join(f"{c}^{core.world.last_price(c, now)};" for c in codes)
        else:
            text = "".join(c + ";" for c in codes)
        core.post("OnReceiveTrCondition", screen, text, name, index, 0)
        if search == 1:
            self._watches[(screen, index)] = _Watch(screen, name, index, set(codes), now + REEVALUATE_S)
        return 1

    def send_condition_stop(self, screen: str, name: str, index: int) -> None:
        self._watches.pop((screen.strip(), index), None)

    def screen_closed(self, screen: str) -> None:
        for key in [k for k in self._watches if k[0] == screen.strip()]:
            del self._watches[key]

    def clear_all(self) -> None:
        self._watches.clear()
        self._loaded = False

    def step(self, t0: float, t1: float) -> None:
        core = self._core
        limit = core.config.limits.max_condition_realtime_codes
        for watch in list(self._watches.values()):
            while watch.next_t <= t1:
                t = watch.next_t
                watch.next_t += REEVALUATE_S
                now_members = set(core.world.evaluate_condition(watch.index, t))
                entered: List[str] = sorted(now_members - watch.members)
                left: List[str] = sorted(watch.members - now_members)
                watch.members = now_members
                if len(now_members) > limit:
                    continue
                for code in entered:
                    core.post("OnReceiveRealCondition", code, "I", watch.name, f"{watch.index:03d}")
                for code in left:
                    core.post("OnReceiveRealCondition", code, "D", watch.name, f"{watch.index:03d}")
