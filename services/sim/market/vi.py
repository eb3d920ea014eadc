"""Volatility interruptions (VI) of one (instrument, session), found on its trade path.

KRX rules, simplified: a **static** VI fires when a continuous-session print is at least
`vi_static_pct` (10%) away from the static base (the opening auction price, then the price of the
last VI); a **dynamic** VI when a print is at least the dynamic threshold away from the dynamic base
(here: the first print of the trailing `vi_window_s` window, i.e. a fast move; 3% for KOSPI codes,
6% for KOSDAQ codes by default). A VI lasts `vi_duration_s` (2 minutes) plus a seeded 0-30 s, and
no new VI fires before it is released. The path keeps printing during a VI (the 2-minute
single-price period is not modelled). ETFs and indices have none. Rare by construction.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

from .intraday import K_CONT, DayPath
from .listing import Instrument
from .streams import TAG_VI, code_key, stream

KOSDAQ_MARKET = "10"
STATIC, DYNAMIC, BOTH = "static", "dynamic", "both"


@dataclass(frozen=True)
class ViEvent:
    """One VI. t: the print that triggered it; release_t: when single-price matching would end.
    Gaps are percentages of the print vs each base (signed). count: the day's VIs so far, this one
    included. volume/value: the day's cumulative shares and KRW at the trigger."""

    code: str
    t: float
    release_t: float
    kind: str
    price: int
    static_base: int
    dynamic_base: int
    static_gap_pct: float
    dynamic_gap_pct: float
    count: int
    direction: int
    volume: int
    value: int
    open_price: int


def dynamic_threshold_pct(inst: Instrument, kospi_pct: float, kosdaq_pct: float) -> float:
    return kosdaq_pct if inst.market == KOSDAQ_MARKET else kospi_pct


def detect_vi(inst: Instrument, path: DayPath, seed: int, static_pct: float, kospi_pct: float,
              kosdaq_pct: float, window_s: float, duration_s: float) -> Tuple[ViEvent, ...]:
    if inst.kind != "stock" or path.reg_first < 0:
        return ()
    cont = np.nonzero(path.kind == K_CONT)[0]
    if len(cont) < 2:
        return ()
    t = path.t[cont]
    p = path.price[cont].astype(np.float64)
    first_in_window = np.searchsorted(t, t - window_s, side="left")
    own = np.arange(len(t))
    base_idx = np.where(first_in_window < own, first_in_window, np.maximum(own - 1, 0))
    dyn_base = p[base_idx]
    dyn_gap = (p - dyn_base) * 100.0 / dyn_base
    dyn_hit = np.abs(dyn_gap) >= dynamic_threshold_pct(inst, kospi_pct, kosdaq_pct)
    open_price = int(path.price[path.reg_first])
    rng = stream(seed, TAG_VI, code_key(inst.code), path.bar.date.toordinal())
    events: List[ViEvent] = []
    static_base = float(open_price)
    start = 0
    while start < len(t):
        static_gap = (p[start:] - static_base) * 100.0 / static_base
        hit = (np.abs(static_gap) >= static_pct) | dyn_hit[start:]
        if not hit.any():
            break
        n = start + int(np.argmax(hit))
        s_gap, d_gap = float(static_gap[n - start]), float(dyn_gap[n])
        s_hit, d_hit = abs(s_gap) >= static_pct, bool(dyn_hit[n])
        kind = BOTH if s_hit and d_hit else STATIC if s_hit else DYNAMIC
        release = float(t[n]) + duration_s + float(np.round(rng.uniform(0.0, 30.0), 3))
        i = int(cont[n])
        events.append(ViEvent(
            code=inst.code, t=float(t[n]), release_t=release, kind=kind, price=int(p[n]),
            static_base=int(static_base), dynamic_base=int(dyn_base[n]), static_gap_pct=s_gap,
            dynamic_gap_pct=d_gap, count=len(events) + 1, direction=1 if (s_gap if s_hit else d_gap) >= 0 else -1,
            volume=int(path.cum_vol[i]), value=int(path.cum_val[i]), open_price=open_price))
        static_base = float(p[n])
        start = int(np.searchsorted(t, release, side="right"))
    return tuple(events)
