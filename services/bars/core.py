"""Bar building without I/O: trades and a clock in, OHLCV bars on the KRX session grid out.

The grid of a session is anchored at its open from the calendar (09:00, or 10:00 on a late-open day)
and cut at its close: bars are [open + k*interval, open + (k+1)*interval), the last one clipped to
the close. A trade at exactly the close (the closing-auction print, 15:30:00) belongs to the last
bar; trades before the open or after the close (pre-market and after-hours sessions) are not part
of any regular bar and are counted in `outside_trades`.

Time only moves forward, and only when the caller says so: `on_trade` moves a code's own clock to
the trade's time, `on_clock` moves every code's clock. Nothing here reads the wall clock, so the
same builder runs on the broker's (virtual) clock, on a replayed day, or in a test with literal
datetimes. A bar is final when the clock reaches its end; a bar with no trade is still published,
carried: OHLC the previous close, volume 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from koabus.common.clock import KST

#: the intervals the issue asks for, in minutes
STANDARD_MINUTES = (1, 3, 5, 10, 15, 30, 60)

Hours = Tuple[datetime, datetime]


def interval_name(interval_s: int) -> str:
    """300 -> "5m"; intervals that are not whole minutes -> "90s"."""
    return f"{interval_s // 60}m" if interval_s % 60 == 0 else f"{interval_s}s"


def parse_interval(value: Any) -> int:
    """Seconds of "5m", "1h", "90s" or a plain number of minutes (5 -> 300)."""
    if isinstance(value, bool):
        raise ValueError(f"not an interval: {value!r}")
    if isinstance(value, int):
        seconds = value * 60
    else:
        text = str(value).strip().lower()
        units = {"s": 1, "m": 60, "min": 60, "h": 3600}
        unit = next((u for u in ("min", "s", "m", "h") if text.endswith(u)), "")
        number = text[: len(text) - len(unit)] if unit else text
        if not number.isdigit():
            raise ValueError(f"not an interval: {value!r} (use e.g. '1m', '5m', '60m')")
        seconds = int(number) * units.get(unit, 60)
    if seconds <= 0:
        raise ValueError(f"an interval must be positive, not {value!r}")
    return seconds


def as_kst(at: datetime) -> datetime:
    """An aware KST datetime (naive values are taken as KST, as exchange times are)."""
    return at.replace(tzinfo=KST) if at.tzinfo is None else at.astimezone(KST)


@dataclass(frozen=True)
class Bar:
    """One OHLCV bar of `code` over [start, end). Prices and value in KRW, volume in shares.

    `final` False is a partial update of the bar in progress; `carried` True means no trade fell in
    the interval (OHLC = the previous close, volume 0).
    """

    code: str
    interval_s: int
    start: datetime
    end: datetime
    open: int
    high: int
    low: int
    close: int
    volume: int
    value: int
    trades: int
    final: bool
    carried: bool

    @property
    def interval_name(self) -> str:
        return interval_name(self.interval_s)

    @property
    def topic(self) -> str:
        return f"bar.{self.interval_name}.{self.code}"

    def to_body(self) -> Dict[str, Any]:
        return {"code": self.code, "interval": self.interval_name, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "open": self.open, "high": self.high, "low": self.low,
                "close": self.close, "volume": self.volume, "value": self.value, "trades": self.trades,
                "final": self.final, "carried": self.carried}

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Bar:
        """The inverse of `to_body`; ValueError on a body that is not a bar."""
        try:
            return cls(code=str(body["code"]), interval_s=parse_interval(body["interval"]),
                       start=as_kst(datetime.fromisoformat(str(body["start"]))),
                       end=as_kst(datetime.fromisoformat(str(body["end"]))),
                       open=int(body["open"]), high=int(body["high"]), low=int(body["low"]),
                       close=int(body["close"]), volume=int(body["volume"]), value=int(body["value"]),
                       trades=int(body["trades"]), final=bool(body["final"]), carried=bool(body["carried"]))
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a bar body: {exc}") from None


class SessionGrid:
    """Bucket arithmetic on the calendar's sessions (hours cached per day)."""

    def __init__(self, calendar: Any = None) -> None:
        if calendar is None:
            from koabus.common.client.calendar import TradingCalendar  # pandas: only when not injected

            calendar = TradingCalendar()
        self.calendar = calendar
        self._hours: Dict[date, Optional[Hours]] = {}

    def hours(self, day: date) -> Optional[Hours]:
        if day not in self._hours:
            found = self.calendar.session_hours(day)
            self._hours[day] = None if found is None else (as_kst(found[0]), as_kst(found[1]))
        return self._hours[day]

    def bucket(self, at: datetime, interval_s: int) -> Optional[Tuple[datetime, datetime]]:
        """(start, end) of the regular bar holding `at`, None outside the session (close included)."""
        hours = self.hours(at.date())
        if hours is None or not hours[0] <= at <= hours[1]:
            return None
        open_, close = hours
        width = timedelta(seconds=interval_s)
        index = int((at - open_).total_seconds() // interval_s)
        start = open_ + index * width
        if start >= close:  # the closing print: into the last bar
            index = int(((close - open_).total_seconds() - 1e-6) // interval_s)
            start = open_ + index * width
        return start, min(start + width, close)

    def next_bucket(self, start: datetime, interval_s: int) -> Optional[Tuple[datetime, datetime]]:
        """The bar after the one starting at `start`: the same session's next, else the next session's first."""
        hours = self.hours(start.date())
        width = timedelta(seconds=interval_s)
        if hours is not None and start + width < hours[1]:
            return start + width, min(start + 2 * width, hours[1])
        day = self.next_session(start.date())
        if day is None:
            return None
        found = self.hours(day)
        assert found is not None
        return found[0], min(found[0] + width, found[1])

    def next_session(self, day: date) -> Optional[date]:
        """The first session day after `day` (None when none within a month)."""
        for offset in range(1, 32):
            candidate = day + timedelta(days=offset)
            if self.hours(candidate) is not None:
                return candidate
        return None

    def is_last(self, end: datetime) -> bool:
        hours = self.hours(end.date())
        return hours is not None and end >= hours[1]


@dataclass
class _Slot:
    """The state of one (code, interval): the next bar to finalize and what it holds so far."""

    start: datetime
    end: datetime
    last_close: int
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    volume: int = 0
    value: int = 0
    trades: int = 0
    filled: bool = False  # at least one trade (or seeded bar) in [start, end)
    dirty: bool = False  # changed since the last partial update went out
    partial_at: Optional[float] = None  # the caller's clock (s) at the last partial update

    def add(self, price: int, high: int, low: int, close: int, volume: int, value: int, trades: int) -> None:
        if not self.filled:
            self.open, self.high, self.low, self.filled = price, high, low, True
        self.high, self.low, self.close = max(self.high, high), min(self.low, low), close
        self.volume += volume
        self.value += value
        self.trades += trades
        self.dirty = True

    def bar(self, code: str, interval_s: int, final: bool) -> Bar:
        if self.filled:
            return Bar(code, interval_s, self.start, self.end, self.open, self.high, self.low, self.close,
                       self.volume, self.value, self.trades, final, False)
        c = self.last_close
        return Bar(code, interval_s, self.start, self.end, c, c, c, c, 0, 0, 0, final, True)

    def move_to(self, bucket: Tuple[datetime, datetime]) -> None:
        if self.filled:
            self.last_close = self.close
        self.start, self.end = bucket
        self.open = self.high = self.low = self.close = self.volume = self.value = self.trades = 0
        self.filled = self.dirty = False
        self.partial_at = None


class BarBuilder:
    """OHLCV bars of several intervals for any number of codes, driven by trades and a clock.

    A code starts producing bars with its first regular-session trade (or `seed`); from then on
    every interval of the session yields exactly one final bar, in order, carried when empty.
    """

    def __init__(self, intervals_s: Sequence[int], calendar: Any = None) -> None:
        intervals = sorted(set(int(i) for i in intervals_s))
        if not intervals or intervals[0] <= 0:
            raise ValueError(f"intervals must be positive seconds, not {list(intervals_s)!r}")
        self.intervals_s: Tuple[int, ...] = tuple(intervals)
        self.grid = SessionGrid(calendar)
        self._slots: Dict[str, Dict[int, _Slot]] = {}
        self._seeded_through: Dict[str, datetime] = {}
        self._now: Optional[datetime] = None
        #: trades outside the regular session (pre-market, after-hours), ignored
        self.outside_trades = 0
        #: trades older than a bar already published final, ignored
        self.late_trades = 0
        #: trades already counted by `seed`, ignored
        self.seeded_trades = 0
        self.trades = 0

    @property
    def codes(self) -> List[str]:
        return sorted(self._slots)

    @property
    def now(self) -> Optional[datetime]:
        """The latest clock time seen (on_clock), None before the first."""
        return self._now

    # ---- input ------------------------------------------------------------------------------------

    def on_trade(self, code: str, at: datetime, price: int, volume: int) -> List[Bar]:
        """Add a trade (volume signed or not: its size counts); returns the bars this trade's time closed."""
        at = as_kst(at)
        price, size = abs(int(price)), abs(int(volume))
        if self.grid.bucket(at, self.intervals_s[0]) is None:
            self.outside_trades += 1
            return []
        seeded = self._seeded_through.get(code)
        if seeded is not None and (at < seeded or (at == seeded and self.grid.is_last(seeded))):
            self.seeded_trades += 1
            return []
        closed = self._advance_code(code, at)
        slots = self._slots_of(code, at, price)
        if any(at < slot.start for slot in slots.values()):
            self.late_trades += 1
            return closed
        for slot in slots.values():
            slot.add(price, price, price, price, size, price * size, 1)
        self.trades += 1
        return closed

    def on_clock(self, now: datetime) -> List[Bar]:
        """Final bars (of every code) whose interval ended by `now`, oldest first per code."""
        now = as_kst(now)
        if self._now is None or now > self._now:
            self._now = now
        out: List[Bar] = []
        for code in sorted(self._slots):
            out.extend(self._advance_code(code, now))
        return out

    def seed(self, code: str, bars: Sequence[Bar]) -> None:
        """Fold earlier bars (the minute TR's, oldest or newest first) in; trades before their end are then
        ignored as already counted. Bars of a finer interval than every builder interval divides work."""
        for bar in sorted(bars, key=lambda b: b.start):
            start = as_kst(bar.start)
            if self.grid.bucket(start, self.intervals_s[0]) is None:
                continue
            self._advance_code(code, start)
            slots = self._slots_of(code, start, bar.close)
            for slot in slots.values():
                if start < slot.start:
                    continue
                if bar.volume or not bar.carried:
                    slot.add(bar.open, bar.high, bar.low, bar.close, bar.volume, bar.value, bar.trades)
            end = as_kst(bar.end)
            if code not in self._seeded_through or end > self._seeded_through[code]:
                self._seeded_through[code] = end

    def reset(self, code: Optional[str] = None) -> None:
        """Forget a code (all codes when None), e.g. after the broker's clock went back (a new sim day)."""
        codes = list(self._slots) if code is None else [code]
        for name in codes:
            self._slots.pop(name, None)
            self._seeded_through.pop(name, None)
        if code is None:
            self._now = None

    # ---- output -----------------------------------------------------------------------------------

    def partial(self, code: Optional[str] = None) -> List[Bar]:
        """The bars in progress that hold at least one trade (for a late joiner's snapshot)."""
        codes = sorted(self._slots) if code is None else [code]
        return [slot.bar(name, interval_s, False)
                for name in codes for interval_s, slot in sorted(self._slots.get(name, {}).items())
                if slot.filled]

    def partials_due(self, now_s: float, min_gap_s: float) -> List[Bar]:
        """Partial bars changed since their last update and not updated within `min_gap_s` of `now_s`
        (the throttle of partial updates, in seconds on any clock of the caller's); marks them sent."""
        out: List[Bar] = []
        for code in sorted(self._slots):
            for interval_s, slot in sorted(self._slots[code].items()):
                if not (slot.filled and slot.dirty):
                    continue
                if slot.partial_at is not None and now_s - slot.partial_at < min_gap_s:
                    continue
                slot.dirty, slot.partial_at = False, now_s
                out.append(slot.bar(code, interval_s, False))
        return out

    # ---- internals --------------------------------------------------------------------------------

    def _slots_of(self, code: str, at: datetime, price: int) -> Dict[int, _Slot]:
        """The code's slots, created at the buckets of `at` the first time the code is seen."""
        slots = self._slots.get(code)
        if slots is None:
            slots = {}
            for interval_s in self.intervals_s:
                bucket = self.grid.bucket(at, interval_s)
                assert bucket is not None  # callers checked `at` is in the session
                slots[interval_s] = _Slot(bucket[0], bucket[1], last_close=price)
            self._slots[code] = slots
        return slots

    def _advance_code(self, code: str, now: datetime) -> List[Bar]:
        """Finalize the code's bars that ended by `now` (the last bar of a session only after its close)."""
        out: List[Bar] = []
        for interval_s, slot in sorted(self._slots.get(code, {}).items()):
            self._skip_old_sessions(slot, now, interval_s)
            while self._ended(slot.end, now):
                out.append(slot.bar(code, interval_s, True))
                following = self.grid.next_bucket(slot.start, interval_s)
                if following is None:
                    break
                slot.move_to(following)
        return out

    def _ended(self, end: datetime, now: datetime) -> bool:
        return now > end if self.grid.is_last(end) else now >= end

    def _skip_old_sessions(self, slot: _Slot, now: datetime, interval_s: int) -> None:
        """A clock that jumped over a whole session (a stopped service, a new sim day) does not carry bars
        through it: the slot restarts at the first bar of `now`'s session (or the next one)."""
        following = self.grid.next_session(slot.start.date())
        if following is None or following >= now.date():
            return
        target = now.date() if self.grid.hours(now.date()) is not None else self.grid.next_session(now.date())
        hours = None if target is None else self.grid.hours(target)
        if hours is not None:
            slot.move_to((hours[0], min(hours[0] + timedelta(seconds=interval_s), hours[1])))
