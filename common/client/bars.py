"""Bars from the bars service (`koabus bars`) as typed events: `BarEvent` and the stream that yields them.

The bars service speaks the broker's protocol on its own endpoints (ROUTER 5596, PUB 5592), so a client
of it is an ordinary `AsyncClient`:

    async with AsyncClient("tcp://127.0.0.1:5596", "tcp://127.0.0.1:5592") as bars:
        async for bar in bars.bars(["005930"], "1m"):
            ...   # the partial bars in progress first (from_snapshot), then live partial and final ones
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional, Union

from koabus.common.clock import KST
from koabus.common.protocol import Publication

from .core import Connection
from .streams import TopicStream

#: the bars service's endpoints (services/bars/config.py)
BARS_ROUTER = "tcp://127.0.0.1:5596"
BARS_PUB = "tcp://127.0.0.1:5592"


def _kst(text: Any) -> datetime:
    at = datetime.fromisoformat(str(text))
    return at.replace(tzinfo=KST) if at.tzinfo is None else at.astimezone(KST)


def interval_seconds(interval: Union[str, int]) -> int:
    """"5m" -> 300, 5 -> 300 (minutes), "1h" -> 3600."""
    if isinstance(interval, int) and not isinstance(interval, bool):
        return interval * 60
    text = str(interval).strip().lower()
    for unit, factor in (("m", 60), ("h", 3600), ("s", 1)):
        if text.endswith(unit) and text[:-1].isdigit():
            return int(text[:-1]) * factor
    raise ValueError(f"not a bar interval: {interval!r} (use e.g. '1m', '5m', '60m')")


def interval_name(interval: Union[str, int]) -> str:
    seconds = interval_seconds(interval)
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


@dataclass(frozen=True)
class BarEvent:
    """One OHLCV bar over [start, end) (KST). `final` False: the bar in progress; `carried` True: no trade
    in the interval (OHLC the previous close, volume 0). `value` is KRW traded, `trades` the prints."""

    code: str
    interval: str
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
    topic: str = ""
    epoch: int = 0
    seq: int = 0
    #: True when the bar came from the service's snapshot (a late join), not live
    from_snapshot: bool = False

    @property
    def interval_s(self) -> int:
        return interval_seconds(self.interval)

    @classmethod
    def from_body(cls, body: Mapping[str, Any], topic: str = "", epoch: int = 0, seq: int = 0,
                  from_snapshot: bool = False) -> BarEvent:
        """A BAR body (docs/protocol.md §4.2); ValueError when it is not one."""
        try:
            return cls(str(body["code"]), str(body["interval"]), _kst(body["start"]), _kst(body["end"]),
                       int(body["open"]), int(body["high"]), int(body["low"]), int(body["close"]),
                       int(body["volume"]), int(body["value"]), int(body["trades"]), bool(body["final"]),
                       bool(body["carried"]), topic, epoch, seq, from_snapshot)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a bar body: {exc}") from None

    @classmethod
    def from_publication(cls, pub: Publication, from_snapshot: bool = False) -> BarEvent:
        return cls.from_body(pub.body, pub.topic, pub.epoch, pub.seq, from_snapshot)


def bar_stream(conn: Connection, codes: Union[str, Iterable[str], None] = None, interval: Union[str, int] = "1m",
               *, snapshot: bool = True, max_queue: Optional[int] = None) -> TopicStream:
    """`BarEvent`s of `codes` (every code the service builds when None) at `interval`."""
    name = interval_name(interval)
    if codes is None:
        topics, prefixes = [], [f"bar.{name}."]
    else:
        codes = [codes] if isinstance(codes, str) else list(codes)
        topics, prefixes = [f"bar.{name}.{code}" for code in codes], []
    return TopicStream(conn, topics=topics, prefixes=prefixes, snapshot=snapshot, max_queue=max_queue,
                       convert=BarEvent.from_publication)
