"""`koabus chart CODE`: a candlestick chart with volume and moving averages, from the lake first, TRs otherwise.

    koabus chart 005930                                  # ~6 months of daily bars -> ./005930_D.png
    koabus chart 005930 --interval 5m --start 2026-11-24 --out day.html

Where the bars come from (`--source auto`, the default):
- intraday intervals: each session of the range from the recorder's ticks (resampled by the lake's
  `bars` macro) or else from the history store's N-minute bars (`koabus sync --minute N`);
- D/W/M: the history store's daily bars (`koabus sync --daily`; weeks and months are resampled from
  them), plus the day's bar resampled from recorded ticks for a session not final yet.
The lake answers when it holds every final session of the range (nothing is asked of the broker then);
otherwise the broker's chart TRs (opt10080-opt10083) do, `--cached` letting daily/minute TRs reuse and
fill the history store. When the broker cannot be reached, whatever the lake holds is drawn, with a
warning. Without `--out` the chart goes to ./<CODE>_<interval>.png; the path written is printed.
Errors are one line on stderr and exit 1.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, List, Optional, Tuple

from koabus.common.cli.commands import _client, _common, describe_error
from koabus.common.errors import InvalidRequest, KoabusError, NotFound, Timeout, Unavailable

EXIT_ERROR = 1
TZ = "Asia/Seoul"
MINUTE_INTERVALS = (1, 3, 5, 10, 15, 30, 60)
DATED = {"D": ("일봉", "daily"), "W": ("주봉", "weekly"), "M": ("월봉", "monthly")}
#: the range drawn when --start is not given (intraday: the latest session)
DEFAULT_SPAN = {"D": timedelta(days=183), "W": timedelta(days=2 * 365), "M": timedelta(days=10 * 365)}
#: sessions drawn of N-minute bars when --start is not given (about 150-400 bars)
DEFAULT_SESSIONS = {1: 1, 3: 2, 5: 2, 10: 4, 15: 6, 30: 12, 60: 24}
TR_OF = {"D": "opt10081", "W": "opt10082", "M": "opt10083"}
DEFAULT_SIZE = (1400, 800)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "chart", help="draw a candlestick chart (PNG, SVG or HTML) from the lake or the TRs",
        parents=[_common(json_output=False)],
        description="Candles with volume and moving averages. Bars come from the lake when it holds the "
                    "whole range (recorded ticks, the history store of `koabus sync`), else from the broker's TRs.")
    p.add_argument("code", metavar="CODE", help="stock code, e.g. 005930")
    p.add_argument("--interval", default="D", metavar="I",
                   help="D, W, M or minutes: 1m 3m 5m 10m 15m 30m 60m (default D)")
    p.add_argument("--start", help="oldest date/time (YYYY-MM-DD, YYYYMMDD[HHMM], ISO); default: ~6 months of "
                                   "days, 2 years of weeks, 10 years of months, the latest 1-24 sessions of "
                                   "minutes (about 150-400 bars)")
    p.add_argument("--end", help="newest date/time (default: now)")
    p.add_argument("--ma", default="5,20,60", metavar="N,N", help="moving averages in bars (%(default)s; 'none')")
    p.add_argument("--out", type=Path, metavar="FILE", help="FILE.png, .svg or .html (default ./CODE_INTERVAL.png)")
    p.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", metavar="WxH",
                   help="picture size in pixels (%(default)s)")
    p.add_argument("--lake", type=Path, default=None, help="lake root (default ./data)")
    p.add_argument("--source", choices=("auto", "lake", "tr"), default="auto",
                   help="auto: the lake when it holds the range, else TRs (default); lake: never ask the broker; "
                        "tr: always ask the broker")
    p.add_argument("--cached", action="store_true",
                   help="TRs for D and minute bars go through the history store (reuse, and keep final sessions)")
    p.add_argument("--adjusted", action="store_true", help="adjusted prices (수정주가; from TRs only)")
    p.add_argument("--now", default=None, help="chart as of this KST time (ISO; default: the wall clock)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------------- the request

@dataclass(frozen=True)
class Interval:
    """'D', 'W', 'M' (dated bars) or 'Nm' (N-minute bars, minutes=N)."""

    text: str
    minutes: int = 0

    @property
    def dated(self) -> bool:
        return self.minutes == 0

    def label(self, korean: bool) -> str:
        if self.dated:
            return DATED[self.text][0 if korean else 1]
        return f"{self.minutes}분봉" if korean else f"{self.minutes}-minute"


@dataclass(frozen=True)
class ChartRequest:
    code: str
    interval: Interval
    start: Any  # pd.Timestamp (KST) or None: the latest session (intraday only)
    end: Any    # pd.Timestamp (KST)
    now: datetime


@dataclass
class Bars:
    frame: Any          # bars as koabus.common.client.chart.ohlcv reads them
    source: str         # 'lake (history store)', 'TR opt10081', ...
    complete: bool = True


def parse_interval(text: str) -> Interval:
    raw = (text or "").strip()
    if raw.upper() in DATED:
        return Interval(raw.upper())
    match = re.fullmatch(r"(\d+)\s*(m|min|minutes?)?", raw, flags=re.IGNORECASE)
    if match and int(match.group(1)) in MINUTE_INTERVALS:
        return Interval(f"{int(match.group(1))}m", int(match.group(1)))
    allowed = " ".join(list(DATED) + [f"{n}m" for n in MINUTE_INTERVALS])
    raise InvalidRequest(f"bad interval {text!r}: use one of {allowed}")


def _parse_size(text: str) -> Tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not match or not (200 <= int(match.group(1)) <= 8000 and 150 <= int(match.group(2)) <= 8000):
        raise InvalidRequest(f"--size takes WIDTHxHEIGHT in pixels (200x150 to 8000x8000), not {text!r}")
    return int(match.group(1)), int(match.group(2))


def _timestamp(text: str, option: str, end_of_day: bool = False) -> Any:
    from koabus.common.client import frames

    try:
        return frames.to_timestamp(text, end_of_day=end_of_day)
    except (ValueError, TypeError):
        raise InvalidRequest(f"{option} takes YYYY-MM-DD, YYYYMMDD[HHMM[SS]] or an ISO time, not {text!r}") from None


def build_request(args: argparse.Namespace) -> ChartRequest:
    import pandas as pd

    from koabus.common.clock import KST

    code = (args.code or "").strip()
    if not re.fullmatch(r"[0-9A-Za-z]{4,12}", code):
        raise InvalidRequest(f"{args.code!r} is not a stock code (e.g. 005930)")
    interval = parse_interval(args.interval)
    if args.now:
        try:
            now = datetime.fromisoformat(args.now)
        except ValueError:
            raise InvalidRequest(f"--now takes an ISO time, not {args.now!r}") from None
        now = now.astimezone(KST) if now.tzinfo else now.replace(tzinfo=KST)
    else:
        now = datetime.now(KST)
    end = _timestamp(args.end, "--end", end_of_day=True) if args.end else pd.Timestamp(now).tz_convert(TZ)
    if args.start:
        start = _timestamp(args.start, "--start")
    elif interval.dated:
        start = (end - DEFAULT_SPAN[interval.text]).normalize()
    else:
        start = None
    if start is not None and start > end:
        raise InvalidRequest(f"--start {start.date()} is after --end {end.date()}")
    return ChartRequest(code, interval, start, end, now)


# ---------------------------------------------------------------------------------- the lake

def lake_bars(request: ChartRequest, root: Path, calendar: Any = None) -> Bars:
    """What the lake holds of the request; `complete` when every final session of the range is there."""
    from koabus.common.lake.history import HistoryStore, last_final_session
    from koabus.common.lake.query import Lake

    if calendar is None:
        from koabus.common.client.calendar import calendar as make_calendar

        calendar = make_calendar()
    store = HistoryStore(root, durable=False)
    final = last_final_session(request.now, calendar)
    with Lake(root) as lake:
        if request.interval.dated:
            return _lake_dated(request, store, lake, calendar, final)
        return _lake_intraday(request, store, lake, calendar, final)


def _recorded_days(lake: Any, code: str, first: date, last: date) -> List[date]:
    frame = lake.sql("SELECT DISTINCT date FROM ticks WHERE code = ? AND date BETWEEN CAST(? AS DATE) AND "
                     "CAST(? AS DATE) ORDER BY date", [code, first.isoformat(), last.isoformat()])
    return [stamp.date() for stamp in frame["date"]]


def _lake_dated(request: ChartRequest, store: Any, lake: Any, calendar: Any, final: date) -> Bars:
    import pandas as pd

    from koabus.common.lake import layout
    from koabus.common.lake.history import missing_ranges

    first, last = request.start.date(), request.end.date()
    if request.interval.text == "W":  # whole weeks and months, as the TRs give them
        first -= timedelta(days=first.weekday())
    elif request.interval.text == "M":
        first = first.replace(day=1)
    settled_until = min(last, final)
    missing = (missing_ranges(store.daily_coverage(request.code), first, settled_until, calendar)
               if first <= settled_until else [])
    stored = store.read(layout.HISTORY_DAILY, request.code, first, last).to_pandas()
    parts, sources = [], []
    if len(stored):
        stored.index = pd.DatetimeIndex(pd.to_datetime(stored["date"])).tz_localize(TZ)
        parts.append(stored[["open", "high", "low", "close", "volume"]])
        sources.append("history store")
    fresh_from = max(first, final + timedelta(days=1))
    if fresh_from <= last:  # sessions not final yet: the store never has them, recorded ticks may
        for day in _recorded_days(lake, request.code, fresh_from, last):
            bar = lake.bars(request.code, day.isoformat(), "1 day")
            if len(bar):
                bar.index = pd.DatetimeIndex([pd.Timestamp(day).tz_localize(TZ)] * len(bar))
                parts.append(bar[["open", "high", "low", "close", "volume"]])
                if "recorded ticks" not in sources:
                    sources.append("recorded ticks")
    frame = pd.concat(parts).sort_index() if parts else pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
    if request.interval.text != "D" and len(frame):
        frame = _resample(frame, request.interval.text)
    return Bars(frame, f"lake ({', '.join(sources) or 'empty'})", complete=not missing and len(frame) > 0)


def _resample(daily: Any, period: str) -> Any:
    """Daily bars as weekly ('W') or monthly ('M') bars, each dated by its first session."""
    keys = daily.index.tz_localize(None).to_period("W-SUN" if period == "W" else "M")
    grouped = daily.groupby(keys)
    out = grouped.agg(open=("open", "first"), high=("high", "max"), low=("low", "min"), close=("close", "last"),
                      volume=("volume", "sum"))
    out.index = grouped.apply(lambda g: g.index[0]).values
    return out


def _lake_intraday(request: ChartRequest, store: Any, lake: Any, calendar: Any, final: date) -> Bars:
    import pandas as pd

    from koabus.common.lake import layout

    minutes = request.interval.minutes
    table = layout.history_minute_table(minutes)
    stored_days = store.minute_days(request.code, minutes)
    if request.start is not None:
        days = calendar.sessions(request.start.date(), request.end.date())
        recorded = set(_recorded_days(lake, request.code, request.start.date(), request.end.date()))
    else:  # the latest sessions up to the newest the lake holds, when that is not older than the last final one
        end_day = request.end.date()
        recorded = set(_recorded_days(lake, request.code, end_day - timedelta(days=60), end_day))
        newest = max([d for d in stored_days if d <= end_day] + list(recorded), default=None)
        days = []
        if newest is not None and newest >= final:
            days = [newest]
            while len(days) < DEFAULT_SESSIONS[minutes]:
                days.insert(0, calendar.previous_session(days[0]))
    parts, sources, missing = [], [], 0
    for day in days:
        if day in recorded:
            part = lake.bars(request.code, day.isoformat(), f"{minutes} minutes").set_index("time")
            source = "recorded ticks"
        elif day in stored_days:
            part = store.read(table, request.code, day, day).to_pandas()
            part.index = pd.DatetimeIndex(pd.to_datetime(part["time"])).tz_convert(TZ)
            source = "history store"
        else:
            hours = calendar.session_hours(day)
            missing += day <= final or (hours is not None and hours[0] <= request.now)
            continue
        parts.append(part[["open", "high", "low", "close", "volume"]])
        if source not in sources:
            sources.append(source)
    frame = pd.concat(parts).sort_index() if parts else pd.DataFrame(columns=["open", "high", "low", "close", "volume"])
    if len(frame):
        lower = request.start if request.start is not None else frame.index[0]
        frame = frame[(frame.index >= lower) & (frame.index <= request.end)]
    return Bars(frame, f"lake ({', '.join(sources) or 'empty'})", complete=bool(days) and not missing and len(frame) > 0)


# ---------------------------------------------------------------------------------- the TRs

def tr_bars(client: Any, request: ChartRequest, cached: bool, lake: Optional[Path], adjusted: bool) -> Bars:
    interval, code = request.interval, request.code
    if cached and interval.text in ("W", "M"):
        raise InvalidRequest("--cached is for D and minute intervals (the history store keeps daily and minute bars)")
    if cached and adjusted:
        raise InvalidRequest("--cached bars are prices as traded: drop --adjusted or --cached")
    common = dict(adjusted=adjusted, english=True)
    if interval.dated:
        tr = TR_OF[interval.text]
        method = {"D": client.daily, "W": client.weekly, "M": client.monthly}[interval.text]
        extra = dict(cached=True, lake=lake) if cached else {}
        return Bars(method(code, request.start, request.end, **common, **extra),
                    f"TR {tr}" + (" + history store" if cached else ""))
    if request.start is None:  # the newest page (900 bars), cut to its latest sessions
        frame = client.minute(code, interval.minutes, None, request.end, max_pages=1, **common)
        if len(frame):
            days = sorted(set(frame.index.date))[-DEFAULT_SESSIONS[interval.minutes]:]
            frame = frame[frame.index.date >= days[0]]
        return Bars(frame, "TR opt10080")
    extra = dict(cached=True, lake=lake) if cached else {}
    return Bars(client.minute(code, interval.minutes, request.start, request.end, **common, **extra),
                "TR opt10080" + (" + history store" if cached else ""))


# ---------------------------------------------------------------------------------- names and titles

def offline_name(code: str) -> str:
    """The name in the KRX master list shipped with the simulator (names as of 2024), or ''."""
    try:
        from koabus.services.sim.market.listing import Listing
    except ImportError:
        return ""
    instrument = Listing.default().get(code)
    return instrument.name if instrument is not None else ""


def titles(request: ChartRequest, name: str, bars: Any, source: str, korean: bool) -> Tuple[str, str]:
    """(title, subtitle): name, code and interval; the period, the last close and its change, the source."""
    shown = name if name and (korean or name.isascii()) else ""
    title = f"{shown} ({request.code})" if shown else request.code
    title += f" · {request.interval.label(korean)}"
    fmt = "%Y-%m-%d" if request.interval.dated else "%Y-%m-%d %H:%M"
    first, last = bars.index[0].strftime(fmt), bars.index[-1].strftime(fmt)
    period = first if first == last else f"{first} – {last}"
    close = float(bars["Close"].iloc[-1])
    if request.interval.dated:
        base = float(bars["Close"].iloc[-2]) if len(bars) > 1 else float(bars["Open"].iloc[0])
    else:
        base = float(bars["Open"].iloc[0])
    change = (close - base) / base * 100 if base else 0.0
    arrow = "▲" if change > 0 else "▼" if change < 0 else "-"
    if korean:
        parts = [period, f"종가 {close:,.0f} {arrow}{abs(change):.2f}%", f"{len(bars)}개 봉", f"출처: {source}"]
    else:
        parts = [period, f"close {close:,.0f} {'+' if change > 0 else ''}{change:.2f}%", f"{len(bars)} bars",
                 f"source: {source}"]
    return title, " · ".join(parts)


# ---------------------------------------------------------------------------------- the command

def run(args: argparse.Namespace) -> int:
    try:
        return cmd_chart(args)
    except KoabusError as exc:
        message = str(exc) if isinstance(exc, InvalidRequest) else describe_error(exc)
        print(f"koabus chart: {message}", file=sys.stderr)
    except ImportError as exc:
        print(f"koabus chart: {exc.name or exc} is not installed (pip install 'koabus[client]' mplfinance)",
              file=sys.stderr)
    except (OSError, ValueError) as exc:
        print(f"koabus chart: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
    return EXIT_ERROR


def cmd_chart(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")  # files only: never a window, works without a display
    from koabus.common.client import chart
    from koabus.common.lake import layout

    request = build_request(args)
    averages = chart.moving_averages(args.ma)
    width, height = _parse_size(args.size)
    out = args.out if args.out is not None else Path(f"{request.code}_{request.interval.text}.png")
    if out.suffix.lower() not in chart.FORMATS:
        raise InvalidRequest(f"cannot write {out.name!r}: --out ends in .png, .svg or .html")
    if args.adjusted and args.source == "lake":
        raise InvalidRequest("--adjusted prices come from TRs only (the lake keeps prices as traded)")
    lake_root = args.lake if args.lake is not None else Path(layout.DEFAULT_ROOT)

    bars, name = _fetch(args, request, lake_root)
    frame = chart.ohlcv(bars.frame) if len(bars.frame) else None
    if frame is None or frame.empty:
        where = f"the lake at {lake_root}" if bars.source.startswith("lake") else "the broker"
        span = _span_text(request)
        raise NotFound(f"no bars of {request.code} {request.interval.text} {span} in {where}")
    font = chart.korean_font()
    if font is None:
        print("koabus chart: warning: no Korean font is installed (run deploy/install-test-tools.sh, or install "
              "fonts-nanum); the title shows the code only", file=sys.stderr)
    title, subtitle = titles(request, name, frame, bars.source, korean=font is not None)
    spec = chart.ChartSpec(title=title, subtitle=subtitle, moving_averages=averages, width_px=width,
                           height_px=height)
    path = chart.render(frame, spec, out)
    print(f"{request.code} {name or '?'} {request.interval.text}: {len(frame)} bars from {bars.source}",
          file=sys.stderr)
    print(path.resolve())
    return 0


def _span_text(request: ChartRequest) -> str:
    if request.start is None:
        return "in the latest sessions"
    return f"from {request.start.date()} to {request.end.date()}"


def _fetch(args: argparse.Namespace, request: ChartRequest, lake_root: Path) -> Tuple[Bars, str]:
    """The bars (lake first, unless told otherwise) and the stock's name."""
    from_lake: Optional[Bars] = None
    if args.source != "tr" and not args.adjusted:
        from_lake = lake_bars(request, lake_root)
        if args.source == "lake" or from_lake.complete:
            if not from_lake.complete and len(from_lake.frame):
                print(f"koabus chart: warning: the lake holds only part of the range; drawing what it has "
                      f"({from_lake.source})", file=sys.stderr)
            return from_lake, offline_name(request.code)
    try:
        with _client(args) as client:
            name = client.name(request.code)
            if not name:
                raise NotFound(f"unknown code {request.code}: the broker knows no such stock")
            return tr_bars(client, request, args.cached, args.lake, args.adjusted), name
    except (Unavailable, Timeout) as exc:
        if from_lake is None or not len(from_lake.frame):
            raise
        print(f"koabus chart: warning: {describe_error(exc)}; drawing what the lake holds ({from_lake.source}), "
              "which lacks part of the range", file=sys.stderr)
        return from_lake, offline_name(request.code)
