"""ReplayControl: the simulated control whose market is a recorded day of the lake.

Everything the broker talks to is the simulator's (login, master data, TR plumbing, screens, limits,
error codes, orders, accounts, chejan); only the market source differs: the realtime stream is the
recorded events re-encoded as the control's raw strings (`realtime.py`, `encode.py`), orders fill
against the recorded prints with the simulator's matching rules (`market.py`), and TRs answer from
the recorded day and the lake's history or refuse clearly (`trs.py`). The broker holds it like any
control: `dynamicCall` and the nine signals.

The virtual clock starts `LEAD_S` before the first recorded event. With `hold` (the default) it stays
there until SETTLE_MS after the first SetRealReg, then runs at `speed`, so the first subscriber sees the whole day;
two replays of a day deliver the same events in the same order at the same virtual times.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Optional, Sequence, Tuple

from PyQt5.QtCore import QTimer

from koabus.common.clock import KST, Clock
from koabus.services.sim.config import SimConfig
from koabus.services.sim.control import SimulatedControl
from koabus.services.sim.core import SimCore

from .day import RecordedDay
from .history import HistoryStore
from .realtime import ReplayRealtimeService
from .trs import ReplayTrService
from .world import ReplayWorld

log = logging.getLogger(__name__)

#: virtual seconds between the clock's start and the first recorded event
LEAD_S = 1.0
#: wall milliseconds the held clock still waits after the first SetRealReg: a subscription of several
#: codes and types reaches the control as several calls over a few event-loop turns
SETTLE_MS = 500


@dataclass(frozen=True)
class ReplaySource:
    """What to replay: the lake's root, the recorded date, the codes (empty: all) and the pace."""

    lake: str
    day: date
    codes: Tuple[str, ...] = ()
    speed: float = 1.0
    hold: bool = True


class ReplayControl(SimulatedControl):
    """A SimulatedControl over a RecordedDay. `control.sim` is the simulator's harness (clock stepping)."""

    def __init__(self, day: RecordedDay, history: HistoryStore, speed: float = 1.0, hold: bool = True,
                 config: Optional[SimConfig] = None, clock: Optional[Clock] = None):
        self.recorded = day
        self.history = history
        held = hold and speed > 0
        if config is None:
            start = datetime.fromtimestamp(day.first_t - LEAD_S, KST)
            config = SimConfig(speed=0.0 if held else speed, start_mode="fixed", start=start, state_dir=None)
        super().__init__(config, clock)
        self.replay_speed = float(speed)
        if held:
            self._realtime.on_first_registration = self._start_clock

    # -- the simulator's seams ------------------------------------------------------------------
    def _make_world(self, config: SimConfig, clock: Clock, store: Any) -> ReplayWorld:
        return ReplayWorld(config, clock, self.recorded, self.history)

    def _make_trs(self, core: SimCore) -> ReplayTrService:
        return ReplayTrService(core, self.recorded, self.history)

    def _make_realtime(self, core: SimCore) -> ReplayRealtimeService:
        return ReplayRealtimeService(core, self.recorded)

    def _start_clock(self) -> None:
        QTimer.singleShot(SETTLE_MS, self._run_clock)

    def _run_clock(self) -> None:
        log.info("replay of %s starts at %.1fx (first realtime registration)", self.recorded.day,
                 self.replay_speed)
        self.sim.clock.set_speed(self.replay_speed)

    @property
    def delivered(self) -> int:
        """Recorded events delivered so far."""
        return self._realtime.delivered


def open_replay(source: ReplaySource) -> ReplayControl:
    """The control for a ReplaySource (NoRecordedData when the lake has nothing for it)."""
    day = RecordedDay.load(source.lake, source.day, source.codes or None)
    log.info("replaying %s from %s: %d events of %d codes, %s to %s", source.day, source.lake, len(day),
             len(day.codes), _hms(day.first_t), _hms(day.last_t))
    return ReplayControl(day, HistoryStore(source.lake), source.speed, source.hold)


def parse_codes(codes: Sequence[str]) -> Tuple[str, ...]:
    """Codes from settings or the command line: each item may itself be comma separated."""
    out = []
    for item in codes:
        out += [c.strip() for c in str(item).split(",") if c.strip()]
    return tuple(dict.fromkeys(out))


def _hms(t: float) -> str:
    return datetime.fromtimestamp(t, KST).strftime("%H:%M:%S")
