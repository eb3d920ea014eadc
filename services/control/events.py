"""The nine OCX events as data: names, argument names and the PyQt5 types of their signals.

The real control exposes each event as a Qt signal carrying every argument positionally; PyQt5 lets
a slot take fewer. The simulator declares its signals from this table and the broker connects to
either control by these names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple


@dataclass(frozen=True)
class EventSpec:
    """One OCX event: its DISPID in the event interface, argument names and Python/Qt types."""

    name: str
    dispid: int
    arg_names: Tuple[str, ...]
    arg_types: Tuple[type, ...]

    @property
    def qt_signature(self) -> str:
        """`"OnReceiveMsg(QString,QString,QString,QString)"`: the SIGNAL() spelling."""
        words = ",".join("int" if t is int else "QString" for t in self.arg_types)
        return f"{self.name}({words})"


EVENTS: Tuple[EventSpec, ...] = (
    EventSpec("OnReceiveTrData", 1,
              ("sScrNo", "sRQName", "sTrCode", "sRecordName", "sPrevNext", "nDataLength",
               "sErrorCode", "sMessage", "sSplmMsg"),
              (str, str, str, str, str, int, str, str, str)),
    EventSpec("OnReceiveRealData", 2, ("sRealKey", "sRealType", "sRealData"), (str, str, str)),
    EventSpec("OnReceiveMsg", 3, ("sScrNo", "sRQName", "sTrCode", "sMsg"), (str, str, str, str)),
    EventSpec("OnReceiveChejanData", 4, ("sGubun", "nItemCnt", "sFIdList"), (str, int, str)),
    EventSpec("OnEventConnect", 5, ("nErrCode",), (int,)),
    EventSpec("OnReceiveInvestRealData", 6, ("sRealKey",), (str,)),
    EventSpec("OnReceiveRealCondition", 7,
              ("sCode", "strType", "strConditionName", "strConditionIndex"), (str, str, str, str)),
    EventSpec("OnReceiveTrCondition", 8,
              ("sScrNo", "strCodeList", "strConditionName", "nIndex", "nNext"), (str, str, str, int, int)),
    EventSpec("OnReceiveConditionVer", 9, ("lRet", "sMsg"), (int, str)),
)

EVENTS_BY_NAME: Dict[str, EventSpec] = {e.name: e for e in EVENTS}
EVENT_NAMES: Tuple[str, ...] = tuple(e.name for e in EVENTS)


def event(name: str) -> EventSpec:
    """The spec of one event; KeyError for a name the OCX does not have."""
    return EVENTS_BY_NAME[name]
