"""HistoryStore: the lake's TR history (`koabus sync`) as the bars the simulator's chart TRs page through.

Daily bars from `history/daily/code=<code>/`, minute bars from `history/minute<N>/code=<code>/date=*/`
(`common.lake.layout`, schemas `history_daily` / `history_minute<N>` of `common.lake.schema`: `date` or
`time`, `open`, `high`, `low`, `close`, `volume`, `value` in million KRW, `prev_close`). A code or interval the lake does not hold gives no bars: the replay then refuses the TR
(`trs.py`) instead of inventing prices.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Optional, Sequence, Tuple

from koabus.common.clock import KST
from koabus.common.lake import layout
from koabus.services.sim.market.models import DailyBar, IntradayBar

_ALIASES: Dict[str, Tuple[str, ...]] = {
    "date": ("date", "일자", "trade_date", "day"),
    "time": ("time", "datetime", "체결시간", "bar_time", "t", "timestamp"),
    "open": ("open", "시가"),
    "high": ("high", "고가"),
    "low": ("low", "저가"),
    "close": ("close", "현재가", "종가"),
    "volume": ("volume", "거래량"),
    "value": ("value", "거래대금", "trade_value"),
    "ref": ("ref", "전일종가", "prev_close"),
}


class HistoryStore:
    """Bars of the lake's history tables, newest first (None root: an empty store)."""

    def __init__(self, root: Optional[str]):
        self.root = root
        self._daily: Dict[str, List[DailyBar]] = {}
        self._minutes: Dict[Tuple[str, int], List[IntradayBar]] = {}

    def has_daily(self, code: str) -> bool:
        return bool(self._load_daily(code))

    def has_minutes(self, code: str, interval: int) -> bool:
        return bool(self._load_minutes(code, interval))

    def daily(self, code: str, end: date, count: int) -> List[DailyBar]:
        """Up to `count` daily bars on or before `end`, newest first."""
        return [b for b in self._load_daily(code) if b.date <= end][:count]

    def minutes(self, code: str, interval: int, end_t: float, count: int) -> List[IntradayBar]:
        """Up to `count` minute bars labelled at or before `end_t`, newest first."""
        return [b for b in self._load_minutes(code, interval) if b.t <= end_t][:count]

    # -- reading ---------------------------------------------------------------------------------
    def _load_daily(self, code: str) -> List[DailyBar]:
        bars = self._daily.get(code)
        if bars is None:
            rows = self._rows(layout.HISTORY_DAILY, code)
            bars = []
            for r in rows:
                day = _as_date(_get(r, "date"))
                if day is None:
                    continue
                bars.append(DailyBar(date=day, open=_int(r, "open"), high=_int(r, "high"), low=_int(r, "low"),
                                     close=_int(r, "close"), volume=_int(r, "volume"),
                                     value=_int(r, "value") * 1_000_000, ref=_int(r, "ref")))
            bars = sorted({b.date: b for b in bars}.values(), key=lambda b: b.date, reverse=True)
            self._daily[code] = bars
        return bars

    def _load_minutes(self, code: str, interval: int) -> List[IntradayBar]:
        key = (code, int(interval))
        bars = self._minutes.get(key)
        if bars is None:
            bars = []
            for r in self._rows(layout.history_minute_table(interval), code):
                t = _as_epoch(_get(r, "time"))
                if t is None:
                    continue
                bars.append(IntradayBar(t=t, open=_int(r, "open"), high=_int(r, "high"), low=_int(r, "low"),
                                        close=_int(r, "close"), volume=_int(r, "volume"),
                                        value=_int(r, "value") * 1_000_000, ref=_int(r, "ref")))
            bars = sorted({b.t: b for b in bars}.values(), key=lambda b: b.t, reverse=True)
            self._minutes[key] = bars
        return bars

    def _rows(self, table: str, code: str) -> List[Dict[str, Any]]:
        if self.root is None:
            return []
        try:
            files = layout.list_files(self.root, table, code=code)
        except Exception:  # an invalid code for a partition name: nothing stored
            return []
        if not files:
            return []
        from koabus.common.lake import schema  # noqa: PLC0415 (pyarrow: only the replay backend reads Parquet)

        return schema.read_table(files, table).to_pylist()


def _get(row: Dict[str, Any], field: str) -> Any:
    for name in _ALIASES[field]:
        if row.get(name) is not None:
            return row[name]
    return None


def _int(row: Dict[str, Any], field: str) -> int:
    value = _get(row, field)
    try:
        return abs(int(str(value).strip().replace(",", ""))) if value is not None else 0
    except ValueError:
        return 0


def _as_date(value: Any) -> Optional[date]:
    if isinstance(value, datetime):
        return value.astimezone(KST).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").replace("-", "").strip()
    if len(text) == 8 and text.isdigit():
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    return None


def _as_epoch(value: Any) -> Optional[float]:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=KST)).timestamp()
    text = "".join(ch for ch in str(value or "") if ch.isdigit())
    if len(text) == 14:
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                        int(text[12:14]), tzinfo=KST).timestamp()
    return None


__all__: Sequence[str] = ("HistoryStore",)
