"""Turning the OCX's raw strings into typed values (and back), by value kind.

Every value crosses the OCX as a string, often padded (`'  1225'`, `'-00000001234'`) and often with
a `+`/`-` prefix. For prices that prefix is the direction against the reference price, not a sign,
so kind `price` returns the absolute value; `signed`, `int` and `float` keep the real sign.

Kinds (see docs/metadata.md):
  str         stripped text
  code        stripped, leading `A` / `*A` of 7/8-character stock codes dropped ('A005930' -> '005930')
  int, signed integer; zero padding and `+` dropped, sign kept; '' -> None
  price       absolute integer ('-77000' -> 77000, '-0' -> 0); '' -> None
  float       real-signed float ('-0.52' -> -0.52); '' -> None
  date        YYYYMMDD -> datetime.date; '', '00000000' -> None
  time        HHMMSS (or HH:MM:SS) -> datetime.time; '000000' -> time(0); '' -> None
  maybe_time  like time, but '000000' means "not yet" -> None (e.g. FID 567 upper-limit time)
  datetime    YYYYMMDDHHMMSS (or YYYYMMDDHHMM) -> KST-aware datetime; '' / all zeros -> None
  bool        '1', 'Y', 'y', 'true' -> True; '0', 'N', 'n', 'false' -> False; '' -> None
Numeric kinds return a float instead of an int when the text has a fractional part (sector index
values such as '-2650.12' travel in the same FIDs as stock prices).
Unparsable text raises ValueError naming the kind and the text.
"""
from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Callable, Dict, Optional, Union

from koabus.common.clock import KST

Number = Union[int, float]


def _clean_number(raw: str) -> str:
    return raw.strip().replace(",", "")


def _number(raw: str, kind: str) -> Optional[Number]:
    text = _clean_number(raw)
    if text == "" or text in ("+", "-"):
        return None
    try:
        if "." in text or "e" in text.lower():
            value = float(text)
            return int(value) if value.is_integer() and "." not in text else value
        return int(text)
    except ValueError:
        raise ValueError(f"cannot parse {raw!r} as {kind}") from None


def _int(raw: str) -> Optional[Number]:
    return _number(raw, "int")


def _signed(raw: str) -> Optional[Number]:
    return _number(raw, "signed")


def _price(raw: str) -> Optional[Number]:
    value = _number(raw, "price")
    return None if value is None else abs(value)


def _float(raw: str) -> Optional[float]:
    text = _clean_number(raw)
    if text == "" or text in ("+", "-"):
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"cannot parse {raw!r} as float") from None


def _str(raw: str) -> str:
    return raw.strip()


def _code(raw: str) -> str:
    text = raw.strip()
    if text.startswith("*"):
        text = text[1:]
    if len(text) == 7 and text[0] == "A":
        text = text[1:]
    return text


def _digits(raw: str, kind: str) -> str:
    text = raw.strip().replace(":", "").replace("-", "").replace("/", "")
    if text and not text.isdigit():
        raise ValueError(f"cannot parse {raw!r} as {kind}")
    return text


def _date(raw: str) -> Optional[date]:
    text = _digits(raw, "date")
    if text == "" or set(text) == {"0"}:
        return None
    if len(text) != 8:
        raise ValueError(f"cannot parse {raw!r} as date (want YYYYMMDD)")
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        raise ValueError(f"cannot parse {raw!r} as date") from None


def _hms(text: str, raw: str, kind: str) -> time:
    if len(text) == 4:
        text += "00"
    if len(text) != 6:
        raise ValueError(f"cannot parse {raw!r} as {kind} (want HHMMSS)")
    try:
        return time(int(text[:2]), int(text[2:4]), int(text[4:6]))
    except ValueError:
        raise ValueError(f"cannot parse {raw!r} as {kind}") from None


def _time(raw: str) -> Optional[time]:
    text = _digits(raw, "time")
    if text == "":
        return None
    return _hms(text, raw, "time")


def _maybe_time(raw: str) -> Optional[time]:
    text = _digits(raw, "maybe_time")
    if text == "" or set(text) == {"0"}:
        return None
    return _hms(text, raw, "maybe_time")


def _datetime(raw: str) -> Optional[datetime]:
    text = _digits(raw.replace(" ", ""), "datetime")
    if text == "" or set(text) == {"0"}:
        return None
    if len(text) == 12:
        text += "00"
    if len(text) != 14:
        raise ValueError(f"cannot parse {raw!r} as datetime (want YYYYMMDDHHMMSS)")
    try:
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                        int(text[12:14]), tzinfo=KST)
    except ValueError:
        raise ValueError(f"cannot parse {raw!r} as datetime") from None


_TRUE = {"1", "y", "true", "t"}
_FALSE = {"0", "n", "false", "f"}


def _bool(raw: str) -> Optional[bool]:
    text = raw.strip().lower()
    if text == "":
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"cannot parse {raw!r} as bool")


PARSERS: Dict[str, Callable[[str], Any]] = {
    "str": _str,
    "code": _code,
    "int": _int,
    "signed": _signed,
    "price": _price,
    "float": _float,
    "date": _date,
    "time": _time,
    "maybe_time": _maybe_time,
    "datetime": _datetime,
    "bool": _bool,
}


def parse(kind: str, raw: Optional[str]) -> Any:
    """The typed value of one raw OCX string; None stays None. Unknown kind -> ValueError."""
    if raw is None:
        return None
    try:
        parser = PARSERS[kind]
    except KeyError:
        raise ValueError(f"unknown value kind {kind!r}") from None
    return parser(str(raw))


def parse_fid(fid: int, raw: Optional[str], overlay_dir=None) -> Any:
    """Parse with the FID's kind from the catalog; a FID the catalog does not know comes back stripped."""
    from koabus.metadata.catalog import catalog

    cat = catalog(overlay_dir)
    kind = cat.fid(fid).kind if cat.has_fid(int(fid)) else "str"
    return parse(kind, raw)


def format_value(kind: str, value: Any) -> str:
    """The canonical raw text for a typed value (what the simulated control sends); None -> ''."""
    if value is None:
        return ""
    if kind in ("int", "signed", "price", "float"):
        return str(value)
    if kind == "date":
        return value.strftime("%Y%m%d")
    if kind in ("time", "maybe_time"):
        return value.strftime("%H%M%S")
    if kind == "datetime":
        if value.tzinfo is not None:
            value = value.astimezone(KST)
        return value.strftime("%Y%m%d%H%M%S")
    if kind == "bool":
        return "1" if value else "0"
    if kind in ("str", "code"):
        return str(value)
    raise ValueError(f"unknown value kind {kind!r}")


def price_text(price: int, reference: Optional[int]) -> str:
    """A price as the OCX shows it: '+' above the reference price, '-' below, bare when equal or unknown."""
    if reference is None or price == reference:
        return str(price)
    return f"+{price}" if price > reference else f"-{price}"
