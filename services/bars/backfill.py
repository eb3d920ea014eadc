"""Where live trades and the minute-chart TR (opt10080) meet, so the first bars are complete.

The TR's minute bars are labelled by their end (체결시간 15:13:00 is the minute [15:12, 15:13); the
closing auction is labelled with the close). A code's first live trade proves its subscription is
flowing: every later trade arrives live. The minute that trade falls in may have had trades before the
subscription, so that minute and the earlier ones come from the TR, once the broker's clock has passed
the minute's end (`boundary`); live trades from the boundary on. Exact, at the cost of publishing a
code's first bars up to a minute later than its first trade.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, List, Optional

from .core import Bar, as_kst

MINUTE = timedelta(minutes=1)
#: the TR's column names (english=False)
TIME, OPEN, HIGH, LOW, CLOSE, VOLUME = "체결시간", "시가", "고가", "저가", "현재가", "거래량"


def boundary(first_trade: datetime) -> datetime:
    """The end of the minute `first_trade` falls in: live trades count from here."""
    at = as_kst(first_trade)
    return at.replace(second=0, microsecond=0) + MINUTE


def minute_bars(code: str, frame: Any, day: date, until: datetime) -> List[Bar]:
    """The TR frame's 1-minute bars of `day` ending at or before `until`, as final Bars, oldest first.

    The TR has no traded value per minute: `value` is close x volume (an estimate) and `trades` 0.
    """
    until = as_kst(until)
    bars: List[Bar] = []
    if frame is None or len(frame) == 0:
        return bars
    for label, row in frame.iterrows():
        end = _as_datetime(label if TIME not in frame.columns else row[TIME])
        if end is None or end.date() != day or end > until:
            continue
        close, volume = abs(int(row[CLOSE])), abs(int(row[VOLUME]))
        bars.append(Bar(code, 60, end - MINUTE, end, abs(int(row[OPEN])), abs(int(row[HIGH])), abs(int(row[LOW])),
                        close, volume, close * volume, 0, True, False))
    return sorted(bars, key=lambda b: b.start)


def _as_datetime(value: Any) -> Optional[datetime]:
    if value is None:
        return None
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, datetime):
        return as_kst(value)
    text = str(value).strip()
    if len(text) == 14 and text.isdigit():
        return as_kst(datetime.strptime(text, "%Y%m%d%H%M%S"))
    return None
