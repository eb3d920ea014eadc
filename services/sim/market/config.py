"""Typed settings of the simulated market and of its exchange (frozen, with sane defaults)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Tuple


@dataclass(frozen=True)
class MarketConfig:
    """How the simulated KRX behaves.

    seed: the world's seed (same seed + same virtual times -> same values).
    history_start: first day of generated daily history (the walks start here; changing it changes
    every price). trade_intensity: multiplier on the number of trades per day; 1.0 is the realistic
    rate of each code's liquidity tier (market/intensity.py: 005930 ~80,000-150,000 trades a day, a
    small KOSDAQ code a few hundred); tests that do not need it may choose less (e.g. 0.05) to save
    CPU. path_cache_days / path_cache_prints: how many (code, date) intraday paths stay cached, and
    how many prints they may hold together (~73 bytes each).
    book_refresh_s: seconds between book refreshes (between prints) for a code of average
    activity; active codes refresh faster (0.25-3 s). spread_widen_p: chance per refresh, per
    side, that the best level thins away for a moment (the spread widens by one tick).
    vi_*: volatility-interruption thresholds (percent; dynamic for KOSPI / KOSDAQ codes), the
    window the dynamic base is taken over, and the single-price period (see `vi.py`).
    """

    seed: int = 0
    history_start: date = date(2012, 1, 2)
    trade_intensity: float = 1.0
    path_cache_days: int = 512
    path_cache_prints: int = 4_000_000
    mean_reversion_years: float = 1.5
    book_refresh_s: float = 1.0
    spread_widen_p: float = 0.08
    vi_static_pct: float = 10.0
    vi_dynamic_kospi_pct: float = 3.0
    vi_dynamic_kosdaq_pct: float = 6.0
    vi_window_s: float = 10.0
    vi_duration_s: float = 120.0


# Securities transaction tax (incl. the rural special tax) on sells, by the date it took effect.
# 2023 0.20%, 2024 0.18%, 2025 0.15%; the 2026 restoration to 0.20% is [unc].
DEFAULT_SELL_TAX_SCHEDULE: Tuple[Tuple[date, float], ...] = (
    (date(2000, 1, 1), 0.0025),
    (date(2021, 1, 1), 0.0023),
    (date(2023, 1, 1), 0.0020),
    (date(2024, 1, 1), 0.0018),
    (date(2025, 1, 1), 0.0015),
    (date(2026, 1, 1), 0.0020),
)


@dataclass(frozen=True)
class ExchangeConfig:
    """The simulated broker/exchange (mock server by default).

    commission_rate: 0.35% (the mock server's rate; 77,000 x 0.35% = 269.5 -> 260 after cutting to
    10 KRW, which is the 938 value recorded on the mock server). The commission of an order is
    computed on its cumulative filled amount and cut down to `commission_unit_krw`.
    sell_tax_schedule: tax on sells (ETFs are exempt), cut down to 1 KRW per order.
    mock: only hoga "00" (limit) and "03" (market) are accepted, as on the mock server.
    accounts / initial_deposit: simulated account numbers and their starting cash (KRW);
    deposits: (account, KRW) pairs that override initial_deposit per account.
    settlement_sessions: D+2.
    """

    commission_rate: float = 0.0035
    commission_unit_krw: int = 10
    sell_tax_schedule: Tuple[Tuple[date, float], ...] = DEFAULT_SELL_TAX_SCHEDULE
    mock: bool = True
    accounts: Tuple[str, ...] = ("8123456711", "8123456712")
    initial_deposit: int = 500_000_000
    deposits: Tuple[Tuple[str, int], ...] = ()
    settlement_sessions: int = 2
    first_order_no: int = 1
    supported_hoga: Tuple[str, ...] = field(default=("00", "03"))

    def sell_tax_rate(self, day: date) -> float:
        rate = 0.0
        for since, r in self.sell_tax_schedule:
            if day >= since:
                rate = r
        return rate
