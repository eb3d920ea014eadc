"""Topic names on the PUB socket: ASCII, dot-separated, most general part first (docs/protocol.md §4.2).

    rt.<slug>.<code>                    realtime, e.g. rt.trade.005930 (code '' is written '_')
    ch.<account>.<order|balance|fo_balance>   chejan (order/fill and balance events)
    cond.<index>                        realtime condition membership (I/D)
    sys.<kind>                          hb, conn, throttle, msg, reject, status
    alert.<rule_id>                     an alert (on the alerting service's own PUB)
    bar.<interval>.<code>               an OHLCV bar, e.g. bar.5m.005930 (on the bars service's own PUB)
    strat.<name>.<event>                a strategy host's events (on its own PUB): order, fill, error, stopped

ZeroMQ filters by byte prefix, so `rt.trade.00593` also matches `rt.trade.005930`; subscribers that want
one exact code compare the whole topic (`Topic.parse(t).code == code`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Tuple

from ..errors import ProtocolError

_PART = re.compile(r"^[A-Za-z0-9_\-]+$")
CHEJAN_KINDS = {"0": "order", "1": "balance", "4": "fo_balance"}
FAMILIES = ("rt", "ch", "cond", "sys", "alert", "bar", "strat")


def _check(part: str, what: str) -> str:
    if not isinstance(part, str) or not _PART.match(part):
        raise ProtocolError(f"{what} {part!r} cannot be a topic part (ASCII letters, digits, _ and - only)")
    return part


def realtime_topic(slug: str, code: str) -> str:
    return f"rt.{_check(slug, 'realtime type')}.{_check(code or '_', 'code')}"


def chejan_topic(account: str, kind: str) -> str:
    """`kind` is order/balance/fo_balance, or a chejan gubun ("0", "1", "4")."""
    kind = CHEJAN_KINDS.get(kind, kind)
    return f"ch.{_check(account, 'account')}.{_check(kind, 'chejan kind')}"


def condition_topic(index: int) -> str:
    return f"cond.{int(index)}"


def system_topic(kind: str) -> str:
    return f"sys.{_check(kind, 'system kind')}"


def alert_topic(rule_id: str) -> str:
    return f"alert.{_check(rule_id, 'rule id')}"


def bar_topic(interval: str, code: str) -> str:
    """`interval` as named on the wire: "1m", "5m", "60m"."""
    return f"bar.{_check(interval, 'bar interval')}.{_check(code, 'code')}"


@dataclass(frozen=True)
class Topic:
    """A parsed topic: family (rt/ch/cond/sys/alert/bar/strat) and its remaining parts."""

    family: str
    parts: Tuple[str, ...]

    @classmethod
    def parse(cls, topic: str) -> Topic:
        pieces = topic.split(".")
        if len(pieces) < 2 or pieces[0] not in FAMILIES:
            raise ProtocolError(f"unknown topic {topic!r}")
        return cls(pieces[0], tuple(pieces[1:]))

    @property
    def code(self) -> str:
        """The instrument code of a realtime topic ('' for the market-wide stream)."""
        if self.family != "rt" or len(self.parts) < 2:
            return ""
        return "" if self.parts[1] == "_" else self.parts[1]

    @property
    def slug(self) -> str:
        return self.parts[0] if self.family == "rt" else ""
