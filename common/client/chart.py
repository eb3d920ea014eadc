"""Candlestick pictures of OHLCV bars (mplfinance): PNG, SVG, or one self-contained HTML page.

    from koabus.common.client.chart import ChartSpec, render

    render(client.daily("005930", "2025-01-01"), ChartSpec(title="삼성전자 (005930) 일봉"), "005930.png")

Korean conventions: a rising candle is red, a falling one blue, and the volume bars take the colour of
their candle. Text is drawn with a Korean font when one is installed (NanumGothic, Noto Sans CJK,
Malgun Gothic, ...; `korean_font()`); without one, Hangul would come out as empty boxes, so callers
should keep titles ASCII then (`deploy/install-test-tools.sh` installs fonts-nanum on Debian).
The HTML page embeds the SVG with its glyphs drawn as paths: it needs no font, script or network.
This module never picks a matplotlib backend (the CLI selects Agg); it only draws on figures it owns.
"""
from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, List, Optional, Sequence, Tuple, Union

import pandas as pd

UP_COLOR = "#e3242b"      # 상승: red
DOWN_COLOR = "#1f5bd6"    # 하락: blue
FLAT_COLOR = "#555555"    # 보합: a bar that closed where it opened and where the previous one closed
MA_COLORS = ("#f39c12", "#2ca02c", "#8e44ad", "#7f7f7f", "#8c564b", "#17becf", "#e377c2")
MAX_MOVING_AVERAGES = len(MA_COLORS)  # mplfinance draws at most 7
FORMATS = (".png", ".svg", ".html")
MIN_SLOTS = 40  # fewer bars than this are drawn as if there were this many
TZ = "Asia/Seoul"
#: font files tried in this order; the first that has Hangul glyphs wins
KOREAN_FONT_FILES = (
    "NanumGothic.ttf", "NanumBarunGothic.ttf", "NotoSansCJK-Regular.ttc", "NotoSansCJKkr-Regular.otf",
    "NotoSansKR-Regular.otf", "NotoSansKR-Regular.ttf", "malgun.ttf", "AppleSDGothicNeo.ttc", "AppleGothic.ttf",
)
_OHLCV = ("Open", "High", "Low", "Close", "Volume")
# the SDK's frames, the lake's and the TRs' (Korean and English) names for each OHLCV column
_SOURCES = {
    "Open": ("Open", "open", "시가"),
    "High": ("High", "high", "고가"),
    "Low": ("Low", "low", "저가"),
    "Close": ("Close", "close", "current_price", "현재가"),
    "Volume": ("Volume", "volume", "거래량"),
}


@dataclass(frozen=True)
class ChartSpec:
    """What to draw around the bars: titles, moving averages (in bars) and the picture's size in pixels."""

    title: str
    subtitle: str = ""
    moving_averages: Tuple[int, ...] = (5, 20, 60)
    width_px: int = 1400
    height_px: int = 800
    dpi: int = 100
    #: strftime of the x-axis labels; None: chosen from the bars (times within one day, dates otherwise)
    time_format: Optional[str] = None


@dataclass(frozen=True)
class FontChoice:
    family: str
    path: str
    bold_weight: Any = "bold"  # the heaviest weight the family has (NanumGothic's bold file says 600)


@lru_cache(maxsize=1)
def korean_font() -> Optional[FontChoice]:
    """The first installed font of KOREAN_FONT_FILES that draws Hangul, registered with matplotlib."""
    from matplotlib import font_manager

    by_name = {}
    for path in font_manager.findSystemFonts():
        by_name.setdefault(Path(path).name.lower(), path)
    for wanted in KOREAN_FONT_FILES:
        path = by_name.get(wanted.lower())
        if path is None or not _draws_hangul(path):
            continue
        family = font_manager.FontProperties(fname=path).get_name()
        # matplotlib's font cache may predate the font's install: register the family's files (bold too)
        stem = Path(path).stem.split("-")[0].lower()
        for name, other in by_name.items():
            if name.startswith(stem) and Path(other).parent == Path(path).parent:
                try:
                    if font_manager.FontProperties(fname=other).get_name() == family:
                        font_manager.fontManager.addfont(other)
                except (OSError, RuntimeError, ValueError):
                    continue
        weights = [f.weight for f in font_manager.fontManager.ttflist if f.name == family]
        numeric = [w for w in weights if isinstance(w, int)]
        return FontChoice(family, path, max(numeric) if numeric else "bold")
    return None


def _draws_hangul(path: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(path)
    except (OSError, RuntimeError, ValueError):
        return False
    return all(font.get_char_index(ord(ch)) for ch in "한글봉")


def ohlcv(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` as mplfinance wants it: Open/High/Low/Close/Volume floats on a naive KST DatetimeIndex, oldest
    first. Accepts the SDK's bar frames (Korean or English names), the lake's bars, or this shape."""
    columns = {}
    for target, names in _SOURCES.items():
        name = next((n for n in names if n in frame.columns), None)
        if name is None:
            raise ValueError(f"the bars have no {target.lower()} column (columns: {', '.join(map(str, frame.columns))})")
        columns[target] = pd.to_numeric(frame[name], errors="coerce").abs().astype("float64").to_numpy()
    index = frame.index
    if not isinstance(index, pd.DatetimeIndex):
        time_column = next((c for c in ("time", "date") if c in frame.columns), None)
        if time_column is None:
            raise ValueError("the bars have no time: neither a DatetimeIndex nor a time/date column")
        index = pd.DatetimeIndex(pd.to_datetime(frame[time_column]))
    if index.tz is not None:
        index = index.tz_convert(TZ).tz_localize(None)
    out = pd.DataFrame(columns, index=index.rename("time"), columns=list(_OHLCV))
    out = out.dropna(subset=["Open", "High", "Low", "Close"]).sort_index(kind="stable")
    out["Volume"] = out["Volume"].fillna(0.0)
    return out[~out.index.duplicated(keep="last")]


def render(frame: pd.DataFrame, spec: ChartSpec, path: Union[str, Path]) -> Path:
    """Draw `frame`'s bars to `path` (.png, .svg or .html by suffix); returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"cannot write {path.name!r}: a chart file ends in {', '.join(FORMATS)}")
    bars = ohlcv(frame)
    if bars.empty:
        raise ValueError("no bars to draw")
    figure = draw(bars, spec)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        if suffix == ".html":
            tmp.write_text(html_page(svg_text(figure), spec), encoding="utf-8")
        else:
            figure.savefig(str(tmp), format=suffix[1:], dpi=spec.dpi, facecolor=figure.get_facecolor(),
                           metadata=_NO_METADATA[suffix])
        tmp.replace(path)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)
    return path


# SVG: no <metadata> block (it links the Dublin Core vocabulary over http); PNG: no "Software" text chunk
_NO_METADATA = {".svg": {"Creator": None, "Date": None, "Format": None, "Type": None}, ".png": {"Software": None}}


def draw(bars: pd.DataFrame, spec: ChartSpec) -> Any:
    """The figure: candles with moving averages above, volume below, titles and a legend."""
    import mplfinance as mpf
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    font = korean_font()
    # an average longer than the bars has no point to draw: left out of the legend too
    averages = tuple(n for n in spec.moving_averages if 1 < n <= len(bars))[:MAX_MOVING_AVERAGES]
    colors = mpf.make_marketcolors(up=UP_COLOR, down=DOWN_COLOR, edge="inherit", wick="inherit",
                                   volume="inherit", ohlc="inherit", alpha=1.0)
    rc = {"axes.unicode_minus": False, "font.size": 10, "font.weight": "normal", "axes.labelweight": "normal",
          "axes.linewidth": 0.8, "axes.edgecolor": "#c8c8c8", "axes.labelcolor": "#444444",
          "xtick.color": "#444444", "ytick.color": "#444444", "lines.linewidth": 1.3}
    if font is not None:
        rc["font.family"] = font.family
    style = mpf.make_mpf_style(base_mpf_style="default", marketcolors=colors, mavcolors=list(MA_COLORS),
                               facecolor="#ffffff", figcolor="#ffffff", gridcolor="#e6e6e6", gridstyle="-",
                               y_on_right=True, rc=rc)
    kwargs = dict(type="candle", style=style, volume=True, returnfig=True, panel_ratios=(3.2, 1),
                  figsize=(spec.width_px / spec.dpi, spec.height_px / spec.dpi), tight_layout=False,
                  datetime_format=spec.time_format or _time_format(bars.index), xrotation=0,
                  ylabel="", ylabel_lower="", warn_too_much_data=len(bars) + 1, volume_exponent=0,
                  scale_width_adjustment=dict(candle=1.2, volume=0.8), update_width_config=dict(candle_linewidth=0.9))
    if averages:
        kwargs["mav"] = averages
    candle_colors = bar_colors(bars)
    kwargs["marketcolor_overrides"] = candle_colors
    figure, axes = mpf.plot(bars, **kwargs)
    price_ax, volume_ax = axes[0], axes[2]
    for container in volume_ax.containers:  # mplfinance colours volume by open/close alone
        if len(container.patches) == len(bars):
            for patch, color in zip(container.patches, candle_colors):
                patch.set_facecolor(color)
                patch.set_edgecolor(color)
    _layout(axes, top=0.87 if spec.subtitle else 0.9)
    price_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    volume_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short_volume(v)))
    volume_ax.set_ylim(0, max(1.0, float(bars["Volume"].max())) * 1.12)
    volume_ax.yaxis.set_major_locator(MaxNLocator(3))
    low, high = float(bars["Low"].min()), float(bars["High"].max())
    pad = (high - low) or high * 0.01 or 1.0
    price_ax.set_ylim(low - pad * 0.04, high + pad * 0.1)  # room above for the legend
    if len(bars) < MIN_SLOTS:  # a few bars keep a candle's usual width, from the left as a new listing's do
        for ax in (price_ax, volume_ax):
            ax.set_xlim(-1.0, MIN_SLOTS)
    for position in _day_starts(bars.index):  # intraday over several days: a line where each day starts
        for ax in (price_ax, volume_ax):
            ax.axvline(position - 0.5, color="#9a9a9a", linewidth=0.8, linestyle=(0, (4, 3)), zorder=0)
    figure.text(0.035, 0.955, spec.title, fontsize=16, fontweight=font.bold_weight if font else "bold", color="#222222", ha="left", va="center")
    if spec.subtitle:
        figure.text(0.035, 0.912, spec.subtitle, fontsize=10.5, color="#555555", ha="left", va="center")
    if averages:
        handles = [Line2D([], [], color=MA_COLORS[i], linewidth=1.6, label=f"MA{n}")
                   for i, n in enumerate(averages)]
        price_ax.legend(handles=handles, loc="upper left", frameon=False, fontsize=9, ncol=len(handles))
    return figure


def bar_colors(bars: pd.DataFrame) -> List[str]:
    """Red when the bar closed above its open, blue below; a bar that closed at its open is coloured
    against the previous close (the Korean terminals' convention), grey when that is unchanged too."""
    colors = []
    previous = None
    for opened, closed in zip(bars["Open"].tolist(), bars["Close"].tolist()):
        reference = opened if closed != opened or previous is None else previous
        colors.append(UP_COLOR if closed > reference else DOWN_COLOR if closed < reference else FLAT_COLOR)
        previous = closed
    return colors


def _layout(axes: Sequence[Any], top: float, left: float = 0.035, right: float = 0.925, bottom: float = 0.065,
            gap: float = 0.012, volume_share: float = 0.22) -> None:
    """Fill the figure: mplfinance places its panels for a generic title; ours sits in the top band."""
    height = top - bottom - gap
    volume_height = height * volume_share
    price_rect = [left, bottom + volume_height + gap, right - left, height - volume_height]
    volume_rect = [left, bottom, right - left, volume_height]
    for index, ax in enumerate(axes):  # [price, price twin, volume, volume twin]
        ax.set_position(price_rect if index < 2 else volume_rect)


def _day_starts(index: pd.DatetimeIndex) -> Sequence[int]:
    """Bar positions (mplfinance draws bar i at x = i) where a new day starts, for intraday bars only."""
    if _time_format(index) == "%Y-%m-%d":
        return []
    days = index.normalize()
    return [i for i in range(1, len(days)) if days[i] != days[i - 1]]


def _time_format(index: pd.DatetimeIndex) -> str:
    if len(index) == 0:
        return "%Y-%m-%d"
    intraday = any(t.hour or t.minute for t in index[:50])
    if not intraday:
        return "%Y-%m-%d"
    return "%H:%M" if index[0].date() == index[-1].date() else "%m-%d %H:%M"


def _short_volume(value: float) -> str:
    for limit, unit in ((1e8, "억"), (1e4, "만")) if korean_font() else ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= limit:
            return f"{value / limit:,.0f}{unit}" if value / limit >= 10 else f"{value / limit:,.1f}{unit}"
    return f"{value:,.0f}"


def svg_text(figure: Any) -> str:
    """The figure as SVG text without the XML prolog and DOCTYPE (the DOCTYPE names a DTD URL)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "koabus"}):
        figure.savefig(buffer, format="svg", facecolor=figure.get_facecolor(), metadata=_NO_METADATA[".svg"])
    text = buffer.getvalue()
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def html_page(svg: str, spec: ChartSpec) -> str:
    """One self-contained page around an inline SVG: no script, stylesheet, font or image from elsewhere."""
    svg = re.sub(r'(<svg\b[^>]*?)\swidth="[^"]*"\s+height="[^"]*"', r'\1 width="100%"', svg, count=1)
    title = html.escape(" · ".join(t for t in (spec.title, spec.subtitle) if t))
    return (
        "<!DOCTYPE html>\n<html lang=\"ko\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{title}</title>\n"
        "<style>body{margin:0;padding:16px;background:#fff;color:#222;font-family:sans-serif}"
        "main{max-width:" + str(spec.width_px) + "px;margin:0 auto}"
        "svg{display:block;width:100%;height:auto}</style>\n</head>\n<body>\n<main>\n"
        f"{svg}\n</main>\n</body>\n</html>\n"
    )


def moving_averages(text: str) -> Tuple[int, ...]:
    """`--ma 5,20,60` -> (5, 20, 60); '' or 'none' -> (); each a window of 2 bars or more, at most 7."""
    text = (text or "").strip().lower()
    if text in ("", "none", "0", "off"):
        return ()
    values: Sequence[str] = [t for t in re.split(r"[,\s]+", text) if t]
    out = []
    for item in values:
        if not item.isdigit() or int(item) < 2:
            raise ValueError(f"--ma takes window lengths of 2 bars or more, like 5,20,60; not {item!r}")
        out.append(int(item))
    if len(out) > MAX_MOVING_AVERAGES:
        raise ValueError(f"--ma takes at most {MAX_MOVING_AVERAGES} windows")
    return tuple(dict.fromkeys(out))
