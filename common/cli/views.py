"""Human views of the `koabus` commands: curated columns, readable cells and compact rich tables.

The commands hand over the SDK's DataFrames, dicts and realtime events unchanged; this module decides
what a person sees: which columns (a curated set per view, every column on request), how a cell reads
(dates without `T00:00:00+09:00`, empty for None/NaN/NaT, thousands separators, signs coloured the
Korean way: red up or bought, blue down or sold) and a table style that fits 80 columns.
Machine output (`--json`, files) never passes through here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

UP_STYLE = "red"  # up / bought, as Korean trading screens colour them
DOWN_STYLE = "bright_blue"  # down / sold
ROW_LIMIT = 40


# ---------------------------------------------------------------------------------- cells

def is_blank(value: Any) -> bool:
    """None, NaN, NaT, pd.NA and blank text: shown as an empty cell."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (int, bool, date, dtime)) and not _is_nat(value):
        return False
    try:
        import pandas as pd

        return bool(pd.isna(value)) if pd.api.types.is_scalar(value) else False
    except (ImportError, TypeError, ValueError):  # pragma: no cover
        return False


def _is_nat(value: Any) -> bool:
    return type(value).__name__ == "NaTType"


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes, date, dtime)):
        try:
            return value.item()
        except (TypeError, ValueError):
            return value
    return value


def stamp_format(stamps: Sequence[datetime]) -> str:
    """One strftime format for a column: the date alone for daily rows, minutes or seconds for intraday."""
    if all(s.hour == 0 and s.minute == 0 and s.second == 0 and s.microsecond == 0 for s in stamps):
        return "%Y-%m-%d"
    if all(s.second == 0 and s.microsecond == 0 for s in stamps):
        return "%Y-%m-%d %H:%M"
    return "%Y-%m-%d %H:%M:%S"


def cell_text(value: Any, style: str = "", stamp_fmt: Optional[str] = None) -> str:
    """A value as it reads in a table; `style` "signed" or "rate" adds an explicit + sign."""
    if is_blank(value):
        return ""
    value = _plain(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime(stamp_fmt or stamp_format([value]))
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    if isinstance(value, int):
        return f"{value:+,}" if style in ("signed", "rate") and value else f"{value:,}"
    if isinstance(value, float):
        if style == "rate":
            return f"{value:+.2f}" if value else "0.00"
        if style == "signed" and value.is_integer():
            return f"{int(value):+,}" if value else "0"
        return f"{value:+}" if style == "signed" and value else str(value)
    return str(value)


def sign_style(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not is_blank(value):
        return UP_STYLE if value > 0 else DOWN_STYLE if value < 0 else ""
    return ""


def cell(value: Any, style: str = "", stamp_fmt: Optional[str] = None) -> Any:
    """A rich Text (never markup: names and messages may hold brackets), coloured by sign when styled."""
    from rich.text import Text

    colour = sign_style(value) if style in ("signed", "rate") else ""
    return Text(cell_text(value, style, stamp_fmt), style=colour)


def is_number(value: Any) -> bool:
    value = _plain(value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def column_cells(values: Sequence[Any], style: str = "") -> Tuple[List[Any], bool]:
    """The cells of one column (dates share one format) and whether it is numeric (right-aligned)."""
    filled = [_plain(v) for v in values if not is_blank(v)]
    stamps = [v for v in filled if isinstance(v, datetime)]
    fmt = stamp_format(stamps) if stamps else None
    numeric = bool(filled) and all(is_number(v) for v in filled)
    return [cell(v, style, fmt) for v in values], numeric


# ---------------------------------------------------------------------------------- tables

def compact_table(title: str = "") -> Any:
    """A light table: a rule under the header, two spaces between columns, no outer border."""
    from rich import box
    from rich.table import Table

    return Table(title=title or None, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                 collapse_padding=True, header_style="bold")


@dataclass(frozen=True)
class Col:
    """A curated column: its name in Korean (KOA) and English frames, and shorter header labels if any.

    `style`: "" plain, "signed" (+/- and coloured by sign), "rate" (signed with two decimals).
    """

    ko: str
    en: str
    label_ko: str = ""
    label_en: str = ""
    style: str = ""
    max_width: Optional[int] = None

    def pick(self, names: Iterable[str]) -> Optional[Tuple[str, str]]:
        """(column name, header label) if the frame has this column in either language."""
        names = set(names)
        if self.ko in names:
            return self.ko, self.label_ko or self.ko
        if self.en in names:
            return self.en, self.label_en or self.en
        return None


NAME_WIDTH = 10  # cells: 삼성전자 is 8, SK하이닉스 10; longer names end in …

BAR_COLUMNS = (
    Col("일자", "date"), Col("체결시간", "trade_time", label_en="time"),
    Col("시가", "open"), Col("고가", "high"), Col("저가", "low"), Col("현재가", "current_price", label_en="close"),
    Col("거래량", "volume"), Col("거래대금", "trade_value", label_en="value"),
)
ORDER_COLUMNS = (
    Col("주문번호", "order_no", label_en="order no"), Col("시간", "time"), Col("종목코드", "code", "코드"),
    Col("종목명", "name", max_width=NAME_WIDTH), Col("주문구분", "order_kind", "구분", "kind"),
    Col("주문수량", "order_qty", "수량", "qty"), Col("주문가격", "order_price", "가격", "price"),
    Col("체결량", "fill_qty", "체결", "filled"), Col("미체결수량", "unfilled_qty", "미체결", "remaining"),
    Col("주문상태", "order_status", "상태", "status"),
)
HOLDING_COLUMNS = (
    Col("종목번호", "code", "코드"), Col("종목명", "name", max_width=NAME_WIDTH),
    Col("보유수량", "holding_qty", "수량", "qty"), Col("매입가", "avg_price", label_en="avg price"),
    Col("현재가", "current_price", label_en="price"), Col("평가손익", "pnl", label_en="P&L", style="signed"),
    Col("수익률(%)", "return_pct", "수익률%", "P&L %", style="rate"),
)
DEPOSIT_FIELDS = (
    Col("예수금", "deposit"), Col("주식증거금현금", "stock_margin_cash"), Col("주문가능금액", "orderable"),
    Col("출금가능금액", "withdrawable"), Col("d+1추정예수금", "deposit_d1"), Col("d+2추정예수금", "deposit_d2"),
)


def frame_rows(frame: Any) -> Tuple[List[str], List[Dict[str, Any]]]:
    """(columns, records) with a named index (the date of bars) as the first column."""
    data = frame.reset_index() if frame.index.name is not None else frame
    return [str(c) for c in data.columns], data.to_dict(orient="records")


def _limited(rows: List[Any], limit: int) -> List[Any]:
    return rows if len(rows) <= limit else rows[: limit // 2] + [None] + rows[-limit // 2:]


def frame_table(frame: Any, title: str = "", columns: Optional[Sequence[Col]] = None,
                limit: int = ROW_LIMIT) -> Tuple[Any, int]:
    """(table, row count): the curated `columns` that the frame has, or all of them (folded to fit)."""
    names, rows = frame_rows(frame)
    if columns is None:
        chosen = [(n, n, Col(n, n)) for n in names]
    else:
        chosen = [(*picked, c) for c in columns for picked in (c.pick(names),) if picked is not None]
    shown = _limited(rows, limit)
    if columns is None:  # wide: cells may fold, so keep the grid lines
        from rich.table import Table

        table = Table(title=title or None)
    else:
        table = compact_table(title)
    cells_by_column = []
    for name, label, col in chosen:
        cells, numeric = column_cells([r[name] if r is not None else None for r in shown], col.style)
        if columns is None:
            table.add_column(label, justify="right" if numeric else "left", overflow="fold")
        else:
            table.add_column(label, justify="right" if numeric else "left", no_wrap=True,
                             max_width=col.max_width, overflow="ellipsis")
        cells_by_column.append(cells)
    for index, row in enumerate(shown):
        table.add_row(*(["…"] * len(chosen) if row is None else [cells[index] for cells in cells_by_column]))
    return table, len(rows)


def mapping_table(mapping: Dict[str, Any], title: str = "", hide_empty: bool = False) -> Any:
    """A key/value table; `hide_empty` drops None/NaN/NaT/blank values."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title or None, show_header=False)
    table.add_column("field")
    table.add_column("value")
    for key, value in mapping.items():
        if hide_empty and (is_blank(value) if not isinstance(value, (list, tuple, dict)) else not value):
            continue
        table.add_row(Text(str(key)), _mapping_cell(value))
    return table


def _mapping_cell(value: Any) -> Any:
    """A record's value as people read it: yes/no, a list as `a, b`, a dict as a sub-table."""
    from rich.text import Text

    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, (list, tuple)):
        return Text(", ".join(cell_text(v) for v in value))
    if isinstance(value, dict):
        return mapping_table(value) if value else Text("")
    return cell(value)


def curated_mapping(mapping: Dict[str, Any], fields: Sequence[Col]) -> Dict[str, Any]:
    """The curated fields of a single record, labelled, in the curated order."""
    out: Dict[str, Any] = {}
    for col in fields:
        picked = col.pick(mapping)
        if picked is not None:
            out[picked[1]] = mapping[picked[0]]
    return out


_TOTALS = (("총매입금액", "total_purchase", "총매입", "cost"), ("총평가금액", "total_eval", "총평가", "value"),
           ("총평가손익금액", "total_pnl", "평가손익", "P&L"), ("총수익률(%)", "total_return_pct", "", ""),
           ("추정예탁자산", "estimated_assets", "추정예탁자산", "est. assets"))


def balance_summary(totals: Dict[str, Any], width: int = 80) -> Any:
    """Account totals from opw00018's single record (cost, value, P&L with its rate, estimated assets),
    on one line or, when `width` is too narrow, broken between items, never inside one."""
    from rich.text import Text

    labelled = {ko: (label_ko, totals[ko]) if ko in totals else (label_en, totals.get(en))
                for ko, en, label_ko, label_en in _TOTALS}
    items = []
    for ko in ("총매입금액", "총평가금액", "총평가손익금액", "추정예탁자산"):
        label, value = labelled[ko]
        if is_blank(value):
            continue
        item = Text()
        item.append(f"{label} ", style="bold")
        if ko == "총평가손익금액":
            item.append(cell_text(value, "signed"), style=sign_style(value))
            rate = labelled["총수익률(%)"][1]
            if not is_blank(rate):
                item.append(f" ({cell_text(rate, 'rate')}%)", style=sign_style(rate))
        else:
            item.append(cell_text(value))
        items.append(item)
    line, used = Text(), 0
    for item in items:
        if used and used + 3 + item.cell_len > width:
            line.append("\n")
            used = 0
        elif used:
            line.append("   ")
            used += 3
        line.append_text(item)
        used += item.cell_len
    return line


# ---------------------------------------------------------------------------------- realtime

# per realtime type (slug): (English FID name, header label); code and name always come first
WATCH_VIEWS: Dict[str, Tuple[Tuple[str, str], ...]] = {
    "trade": (("trade_time", "time"), ("current_price", "price"), ("change", "chg"), ("change_rate", "chg%"),
              ("volume", "vol"), ("cum_volume", "cum vol")),
    "quote": (("current_price", "price"), ("change", "chg"), ("change_rate", "chg%"), ("ask", "ask"),
              ("bid", "bid"), ("cum_volume", "cum vol")),
    "expected": (("trade_time", "time"), ("current_price", "exp price"), ("change", "chg"),
                 ("change_rate", "chg%"), ("cum_volume", "exp vol")),
    "best": (("ask", "ask"), ("bid", "bid")),
    "book": (("quote_time", "time"), ("ask_price_1", "ask"), ("ask_qty_1", "ask qty"), ("bid_price_1", "bid"),
             ("bid_qty_1", "bid qty")),
    "program": (("trade_time", "time"), ("current_price", "price"), ("sell_qty", "sell qty"),
                ("buy_qty", "buy qty"), ("net_buy_qty", "net buy")),
    "index": (("trade_time", "time"), ("current_price", "index"), ("change", "chg"), ("change_rate", "chg%"),
              ("cum_volume", "cum vol")),
    "etf_nav": (("trade_time", "time"), ("current_price", "price"), ("nav", "nav"), ("nav_change", "nav chg"),
                ("tracking_error", "track err")),
    "vi": (("vi_type", "vi"), ("vi_trigger_price", "trigger"), ("vi_trade_time", "at"),
           ("vi_release_time", "released")),
    "market_status": (("market_status", "status"), ("trade_time", "time"), ("time_to_open", "to open")),
}
FALLBACK_FIELDS = 6
_RATE_FIELDS = frozenset({"change_rate", "nav_change_rate", "expected_change_rate", "expected_change_rate_2",
                          "tracked_index_change_rate"})
_SIGNED_FIELDS = frozenset({"change", "volume", "net_buy_qty", "net_buy_amount", "nav_change", "expected_change",
                            "expected_change_2", "tracked_index_change", "net_bid_qty", "net_ask_qty",
                            "net_buy_trade_volume", "instant_trade_value"})


def field_style(name: str) -> str:
    """Signed fields (changes; trade volume, + bought / - sold) are coloured by sign; rates get 2 decimals."""
    if name in _RATE_FIELDS:
        return "rate"
    return "signed" if name in _SIGNED_FIELDS else ""


def realtype_field_names(slug: str) -> List[str]:
    """The English FID names a realtime type carries, in its sRealData order."""
    from koabus.metadata import catalog

    cat = catalog()
    return [cat.fid(f).name_en if cat.has_fid(f) else f"fid_{f}" for f in cat.realtype(slug).fids]


def watch_fields(slug: str, chosen: Optional[Sequence[str]] = None) -> Tuple[Tuple[str, str], ...]:
    """(field, label) columns of one realtime type: `chosen` (labelled by name), the preset, or the first few."""
    if chosen:
        return tuple((name, name) for name in chosen)
    if slug in WATCH_VIEWS:
        return WATCH_VIEWS[slug]
    names = [n for n in realtype_field_names(slug) if n not in ("code", "name")]
    return tuple((n, n) for n in names[:FALLBACK_FIELDS])


def resolve_watch_fields(slugs: Sequence[str], text: str) -> List[str]:
    """`--fields a,b,c` as English FID names (a number is a FID); ValueError names what is unknown."""
    from koabus.metadata import catalog

    cat = catalog()
    known = {n for slug in slugs for n in realtype_field_names(slug)}
    out: List[str] = []
    for raw in (part.strip() for part in text.split(",")):
        if not raw:
            continue
        name = raw
        if raw.isdigit():
            name = cat.fid(int(raw)).name_en if cat.has_fid(int(raw)) else f"fid_{raw}"
        if name not in known:
            raise ValueError(f"unknown field {raw!r} for {', '.join(slugs)}: one of {', '.join(sorted(known))}")
        out.append(name)
    if not out:
        raise ValueError("--fields needs at least one field name")
    return out


def watch_tables(latest: Dict[Tuple[str, str], Any], slugs: Sequence[str], codes: Sequence[str],
                 names: Dict[str, str], chosen: Optional[Sequence[str]] = None) -> Any:
    """One table per realtime type: a row per code asked (in that order), blank until its first value,
    so a quiet code is shown as waiting instead of missing."""
    from rich.console import Group
    from rich.text import Text

    asked = list(dict.fromkeys(codes))
    tables = []
    for slug in slugs:
        fields = watch_fields(slug, chosen)
        title = "koabus watch" if len(slugs) == 1 else f"koabus watch · {slug}"
        table = compact_table(title)
        table.add_column("code", no_wrap=True)
        table.add_column("name", no_wrap=True, max_width=NAME_WIDTH, overflow="ellipsis")
        for _, label in fields:
            table.add_column(label, justify="right", no_wrap=True)
        others = sorted(code for (s, code) in latest if s == slug and code not in asked)
        for code in asked + others:
            event = latest.get((slug, code))
            values = event.values if event is not None else {}
            table.add_row(Text(code), Text(names.get(code, "")),
                          *[cell(values.get(f), field_style(f)) for f, _ in fields])
        tables.append(table)
    return tables[0] if len(tables) == 1 else Group(*tables)


def watch_header(slug: str, chosen: Optional[Sequence[str]] = None, several: bool = False) -> str:
    """The header line of `watch` as lines (not a terminal): the labels of `watch_line`'s cells."""
    labels = ["code", "name"] + [label for _, label in watch_fields(slug, chosen)]
    return "\t".join((["type"] if several else []) + labels)


def watch_line(event: Any, slug: str, names: Dict[str, str], chosen: Optional[Sequence[str]] = None,
               several: bool = False) -> str:
    """One event as one tab-separated line (for a pipe): the cells the table would show."""
    values = event.values
    cells = [event.code, names.get(event.code, "")]
    cells += [cell_text(values.get(f), field_style(f)) for f, _ in watch_fields(slug, chosen)]
    return "\t".join((([slug]) if several else []) + cells)
