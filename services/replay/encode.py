"""Typed lake values back into the raw strings the control sends (the inverse of the broker's decoding).

The lake keeps what the broker decoded (prices without their direction prefix, times as time values);
the replay must hand the broker the control's text again so it decodes it as it would live. Prices
get the control's direction prefix against the code's reference price, signed numbers and rates
their sign, times `HHMMSS` (`000000` for a "not yet" time). Decoding the result gives back the
recorded value exactly.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Optional, Sequence, Tuple

from koabus.common.clock import KST
from koabus.metadata import catalog


def column_names(fids: Sequence[int]) -> Tuple[str, ...]:
    """The lake's column name of each FID (its English name; a repeated name gets `_<fid>`)."""
    cat = catalog()
    names, seen = [], set()
    for fid in fids:
        name = (cat.fid(fid).name_en or f"fid_{fid}") if cat.has_fid(fid) else f"fid_{fid}"
        if name in seen:
            name = f"{name}_{fid}"
        seen.add(name)
        names.append(name)
    return tuple(names)


def fid_kinds(fids: Sequence[int]) -> Tuple[str, ...]:
    cat = catalog()
    return tuple(cat.fid(f).kind if cat.has_fid(f) else "str" for f in fids)


def raw_text(kind: str, value: Any, ref: Optional[int] = None) -> str:
    """One typed value as the control's raw string; None -> '' ('000000' for a maybe_time)."""
    if value is None:
        return "000000" if kind == "maybe_time" else ""
    if kind == "price":
        price = value if isinstance(value, float) and not value.is_integer() else int(value)
        text = f"{price:.2f}" if isinstance(price, float) else str(price)  # index points carry fractions
        if ref is None or price == ref or price == 0:
            return text
        return f"+{text}" if price > ref else f"-{text}"
    if kind == "signed":
        return f"+{value}" if value > 0 else str(value)
    if kind == "float":
        number = float(value)
        if number == 0:
            return "0.00"
        if round(number, 2) == number:
            return f"{number:+.2f}"
        return ("+" if number > 0 else "") + repr(number)
    if kind in ("time", "maybe_time"):
        return value.strftime("%H%M%S") if isinstance(value, time) else str(value).replace(":", "")
    if kind == "datetime":
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(KST)
            return value.strftime("%Y%m%d%H%M%S")
        return str(value)
    if kind == "date":
        return value.strftime("%Y%m%d") if isinstance(value, date) else str(value)
    if kind == "bool":
        return "1" if value else "0"
    return str(value)


def encode_row(kinds: Sequence[str], values: Sequence[Any], ref: Optional[int]) -> Tuple[str, ...]:
    """One recorded row (typed values in FID order) as the control's raw values in FID order."""
    return tuple(raw_text(kind, value, ref) for kind, value in zip(kinds, values))
