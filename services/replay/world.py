"""ReplayWorld: the simulator's World over a RecordedMarket (no model market, no persistent store)."""
from __future__ import annotations

from typing import Any, List, Tuple

from koabus.common.clock import Clock
from koabus.services.sim.config import SimConfig
from koabus.services.sim.world import World

from .day import RecordedDay
from .history import HistoryStore
from .market import RecordedMarket


class ReplayWorld(World):
    """Market access in Kiwoom terms, answered from a recorded day; orders meet the recorded prints."""

    def __init__(self, config: SimConfig, clock: Clock, day: RecordedDay, history: HistoryStore):
        super().__init__(config, clock, None, ())
        self.recorded = day
        self.history = history

    def _build(self) -> None:
        self._market = RecordedMarket(self.recorded, self._clock, self.listing, self.history)

    # condition search scans the model's whole listing: not part of a recorded day
    def conditions(self) -> List[Tuple[int, str]]:
        return []

    def evaluate_condition(self, index: int, t: float) -> List[str]:
        return []

    def index_values(self, code: str, t: float, fids: Any) -> None:
        return None
