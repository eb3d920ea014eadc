"""SDK answers -> KOAPY's event messages: TR pages, realtime events, condition events, order events.

Names and argument orders follow the OCX events KOAPY relayed (OnReceiveTrData, OnReceiveRealData,
OnReceiveTrCondition, OnReceiveRealCondition, OnReceiveMsg, OnReceiveChejanData). Values are text,
as GetCommData / GetCommRealData gave them to KOAPY: TR values are the control's own strings; realtime
and chejan values are the broker's typed values written back as text (no Kiwoom +/- sign prefix).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from koabus.common.client import ConditionEvent, RealtimeEvent, TrPage
from koabus.common.errors import NotFound
from koabus.metadata import catalog

from .messages import ListenResponse

#: order-event fields -> the chejan FID (gubun "0") KOAPY scripts read them under
ORDER_FIDS = (("account", 9201), ("order_no", 9203), ("code", 9001), ("status", 913), ("qty", 900),
              ("price", 901), ("remaining_qty", 902), ("order_kind", 905), ("time", 908), ("fill_no", 909),
              ("fill_price", 910), ("fill_qty", 911), ("orig_order_no", 904))
#: order lifecycle events that came from OnReceiveChejanData (gubun 0) on the control
CHEJAN_ORDER_EVENTS = ("accepted", "fill", "modified", "cancelled", "confirmed", "rejected_by_exchange")


def text(value: Any) -> str:
    """A typed value as control text: None -> "", whole floats without ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.2f}" if not value.is_integer() else str(int(value))
    value = str(value)
    if len(value) == 8 and value[2] == value[5] == ":":  # a time typed "HH:MM:SS": the control sends HHMMSS
        return value.replace(":", "")
    return value


def tr_event(page: TrPage, rqname: str, trcode: str, scrno: str, record: str) -> ListenResponse:
    names: List[str] = list(page.multi[0]) if page.multi else []
    rows = [[text(row.get(n)) for n in names] for row in page.multi]
    single = {k: text(v) for k, v in page.single.items()}
    return ListenResponse.make("OnReceiveTrData", [scrno, rqname, trcode, record, page.prev_next or "0"],
                               single, names, rows)


def _fid_names() -> Dict[int, str]:
    return {f.fid: f.name_en for f in catalog().fids()}


def real_event(event: RealtimeEvent, fids: Sequence[int], infer_fids: bool, readable_names: bool) -> ListenResponse:
    """OnReceiveRealData(code, realtype, realdata) with single_data: the type's FIDs (infer_fids) or
    the requested ones, named by FID name (readable_names) or number."""
    if infer_fids:
        try:
            fids = catalog().realtype(event.type).fids
        except NotFound:
            fids = ()
    english = _fid_names()
    values = [text(event.values.get(english.get(fid, ""), event.values.get(f"fid_{fid}"))) for fid in fids]
    if readable_names:
        names = [_name(fid) for fid in fids]
    else:
        names = [str(fid) for fid in fids]
    return ListenResponse.make("OnReceiveRealData", [event.code, event.type, "\t".join(values)],
                               dict(zip(names, values)))


def _name(fid: int) -> str:
    try:
        return catalog().fid(fid).name
    except NotFound:
        return str(fid)


def condition_events(event: ConditionEvent, scrno: str) -> List[ListenResponse]:
    if event.kind == "initial":
        codelist = "".join(f"{c};" for c in event.codes)
        return [ListenResponse.make("OnReceiveTrCondition", [scrno, codelist, event.name, event.index, 0])]
    return [ListenResponse.make("OnReceiveRealCondition", [code, event.kind, event.name, f"{event.index:03d}"])
            for code in event.codes]


def kwfid_event(frame: Any, scrno: str, rqname: str) -> ListenResponse:
    """OPTKWFID rows (a DataFrame with Korean columns) as OnReceiveTrData."""
    names = [str(c) for c in frame.columns]
    rows = [[text(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    return ListenResponse.make("OnReceiveTrData", [scrno, rqname, "OPTKWFID", "관심종목정보", "0"], {}, names, rows)


def order_events(event: Dict[str, Any], rqname: str, scrno: str) -> List[ListenResponse]:
    """One SDK order event as the OCX events KOAPY's OrderCall relayed."""
    kind = event.get("event")
    if kind == "message" or (kind == "rejected" and event.get("message")):
        return [ListenResponse.make("OnReceiveMsg", [scrno, rqname, str(event.get("trcode", "")),
                                                     str(event.get("message", ""))])]
    if kind == "order_no":
        return [ListenResponse.make("OnReceiveTrData", [scrno, rqname, str(event.get("trcode", "")), "", "0"],
                                    {"주문번호": str(event.get("order_no", ""))})]
    if kind in CHEJAN_ORDER_EVENTS:
        single = {_name(fid): text(event.get(key)) for key, fid in ORDER_FIDS if event.get(key) is not None}
        return [_chejan("0", single)]
    if kind == "balance" and isinstance(event.get("values"), dict):
        english = {name_en: fid for fid, name_en in _fid_names().items()}
        single = {_name(english[k]): text(v) for k, v in event["values"].items() if k in english}
        return [_chejan("1", single)]
    return []


def _chejan(gubun: str, single: Dict[str, str]) -> ListenResponse:
    fidlist = ";".join(str(f.fid) for f in catalog().fids() if f.name in single)
    return ListenResponse.make("OnReceiveChejanData", [gubun, len(single), fidlist], single)


def codes_of(codelist: str) -> List[str]:
    """Codes of an OnReceiveTrCondition code list ("c1;c2;" or "c1^price;...")."""
    return [item.split("^", 1)[0] for item in codelist.split(";") if item]


def first(items: Sequence[Any]) -> Optional[Any]:
    return items[0] if items else None
