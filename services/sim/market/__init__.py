"""The simulated KRX: listing, calendar, prices (daily history, intraday prints, books and their
refreshes, auction indications, VIs), the matching engine with simulated accounts, and condition
searches. Numbers only; no Qt, no strings."""
from __future__ import annotations

from .accounts import Accounts, Deposit, Position
from .cadence import DayCadence
from .calendar import KrxCalendar, Phase, SessionTimes
from .conditions import Conditions
from .config import ExchangeConfig, MarketConfig
from .exchange import BalanceChange, Exchange, Fill, Order, OrderEvent, OrderResult
from .listing import CorporateEvent, Instrument, Listing
from .market import Market
from .models import Book, DailyBar, IntradayBar, Quote, Trade
from .vi import ViEvent

__all__ = [
    "Accounts", "BalanceChange", "Book", "Conditions", "CorporateEvent", "DailyBar", "DayCadence", "Deposit", "Exchange",
    "ExchangeConfig", "Fill", "Instrument", "IntradayBar", "KrxCalendar", "Listing", "Market", "MarketConfig",
    "Order", "OrderEvent", "OrderResult", "Phase", "Position", "Quote", "SessionTimes", "Trade", "ViEvent",
]
