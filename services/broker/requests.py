"""Request operations as data: which ops exist, their argument types, and the checker the I/O thread runs.

A request with an unknown op, a missing argument or a wrongly typed one is answered with
InvalidRequest before it reaches the Qt thread. Checks here are structural; the Qt side still
validates meaning (TR input names, condition pairs, order risk).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from koabus.common.errors import InvalidRequest
from koabus.common.protocol.constants import (
    MAX_CODE_CHARS,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    MAX_TOPIC_CHARS,
)

MAX_LIST_ITEMS = 20_000
MAX_TEXT = MAX_TEXT_CHARS
#: arguments with a tighter bound than MAX_TEXT (for a list: each item); docs/protocol.md §9
MAX_ARG_CHARS: Dict[str, int] = {
    "client_order_id": MAX_ID_CHARS, "client_order_id_new": MAX_ID_CHARS, "order_no": MAX_ID_CHARS,
    "account": MAX_ID_CHARS, "code": MAX_CODE_CHARS, "codes": MAX_CODE_CHARS, "prefix": MAX_TOPIC_CHARS,
}

# arg -> (kind, required); kinds: str, int, bool, map, list, strlist, intlist, scalar, any
_Spec = Dict[str, Tuple[str, bool]]

_ORDER_TARGET: _Spec = {
    "account": ("str", True), "order_no": ("str", False), "client_order_id": ("str", False),
    "client_order_id_new": ("str", False), "code": ("str", False), "side": ("str", False),
    "kind": ("str", False),
}

OPS: Dict[str, _Spec] = {
    "status": {},
    "snapshot": {"prefix": ("str", False)},
    "meta": {"kind": ("str", True), "key": ("scalar", False)},
    "login": {},
    "call": {"method": ("str", True), "args": ("list", False)},
    "tr": {"code": ("str", True), "inputs": ("map", False), "all_pages": ("bool", False),
           "max_pages": ("int", False), "stop": ("map", False), "screen": ("str", False),
           "typed": ("bool", False)},
    "kwfid": {"codes": ("strlist", True), "typed": ("bool", False), "futures": ("bool", False)},
    "subscribe": {"codes": ("strlist", True), "types": ("strlist", False), "fids": ("intlist", False)},
    "unsubscribe": {"codes": ("strlist", False), "types": ("strlist", False)},
    "order": {"account": ("str", True), "side": ("str", True), "code": ("str", True), "qty": ("int", True),
              "price": ("int", False), "hoga": ("str", False), "client_order_id": ("str", False),
              "kind": ("str", False), "credit_gb": ("str", False), "loan_date": ("str", False)},
    "cancel_order": {**_ORDER_TARGET, "qty": ("int", False)},
    "modify_order": {**_ORDER_TARGET, "qty": ("int", True), "price": ("int", True), "hoga": ("str", False)},
    "order_status": {"client_order_id": ("str", False), "order_no": ("str", False)},
    "condition_load": {},
    "condition_list": {},
    "condition_search": {"name": ("str", True), "index": ("int", True)},
    "condition_watch": {"name": ("str", True), "index": ("int", True)},
    "condition_stop": {"name": ("str", True), "index": ("int", True)},
    "shutdown": {},
}

#: the one role each op needs (docs/protocol.md §7, §10); a key holds every role up to its own
#: (read < trade < admin). Without CURVE every client is admin. `status` answers a read key with its
#: summary (STATUS_SUMMARY_KEYS) and an admin with everything.
ROLE_OF: Dict[str, str] = {
    "status": "read", "snapshot": "read", "meta": "read", "call": "read", "tr": "read", "kwfid": "read",
    "subscribe": "read", "unsubscribe": "read", "condition_load": "read", "condition_list": "read",
    "order": "trade", "cancel_order": "trade", "modify_order": "trade", "order_status": "trade",
    "condition_search": "trade", "condition_watch": "trade", "condition_stop": "trade",
    "login": "admin", "shutdown": "admin",
}
#: what `status` tells a key below admin
STATUS_SUMMARY_KEYS = ("connected", "server", "state", "epoch", "seq", "broker", "pid", "host", "uptime_s",
                       "security", "accounts", "account", "market_phase", "market_session")

#: answered by the I/O thread itself
LOCAL_OPS = frozenset({"status", "snapshot", "meta"})

# -- the generic `call` op: what it must never reach ---------------------------------------------
#: control members `call` refuses: name -> (op to use instead or None, why). Event-bound readers only
#: work inside the broker's own handlers; the TR/realtime/order/condition members would bypass the
#: pacer, the screen allocator and the order journal; the session members would change or end the
#: one login every client shares (facts §3.1).
REFUSED_CALLS: Dict[str, Tuple[Optional[str], str]] = {
    **{m: ("tr", "TR queries are paced and read inside OnReceiveTrData by the broker")
       for m in ("CommRqData", "SetInputValue", "GetCommData", "GetCommDataEx", "GetRepeatCnt", "GetDataCount",
                 "GetOutputValue", "CommGetData", "SetOutputFID", "CommInvestRqData")},
    "CommKwRqData": ("kwfid", "OPTKWFID is paced and chunked by the broker"),
    **{m: ("subscribe", "realtime registrations are shared and refcounted by the broker")
       for m in ("SetRealReg", "SetRealRemove", "DisconnectRealData", "GetCommRealData")},
    **{m: ("order", "orders are journaled, risk-checked and paced by the broker")
       for m in ("SendOrder", "SendOrderCredit", "SendOrderFO", "GetChejanData")},
    **{m: ("condition_search", "condition searches are paced (once a minute per condition) by the broker")
       for m in ("SendCondition", "SendConditionStop")},
    "GetConditionLoad": ("condition_load", "the broker loads the condition list and answers its event"),
    "CommConnect": ("login", "the broker logs in (and in again after a loss) by itself"),
    "CommTerminate": (None, "not supported by the control; the session ends with the broker (op 'shutdown')"),
    "SetInfoData": (None, "it picks the auto-login user of the shared session; configure auto-login on the "
                          "broker's host"),
}
_REFUSED_BY_KEY = {name.lower(): (name, use, why) for name, (use, why) in REFUSED_CALLS.items()}

#: KOA_Functions helpers `call` may run: the documented read-only ones (facts §3.8). Others are
#: refused: ShowAccountWindow opens a modal dialog that blocks the control's thread on the real
#: control; SetConditionSearchFlag changes the condition result format for every client; an
#: undocumented name may do either.
KOA_READERS = ("GetServerGubun", "GetMasterStockInfo", "GetUpjongCode", "GetUpjongNameByCode",
               "IsOrderWarningETF", "IsOrderWarningStock", "GetMasterListedStockCntEx", "GetStockMarketKind")
_KOA_READERS_BY_KEY = {name.lower(): name for name in KOA_READERS}
KOA_REFUSED = {
    "showaccountwindow": "it opens a modal dialog that would block the control's thread; save the account "
                         "password once in the OpenAPI tray menu on the broker's host",
    "setconditionsearchflag": "it changes the condition result format for every client of the shared session",
}


def check_call(method: str, args: List[Any]) -> None:
    """Refuse a generic `call` that bypasses the broker, opens UI, or changes the shared session.

    Names are matched like the catalog matches them (case-insensitive, a full signature allowed);
    an unknown name passes here and gets NotFound from the catalog on the Qt thread.
    """
    key = str(method).split("(", 1)[0].strip().lower()
    refused = _REFUSED_BY_KEY.get(key)
    if refused is not None:
        name, use, why = refused
        hint = f"; use op '{use}'" if use else ""
        raise InvalidRequest(f"{name} cannot be called with 'call': {why}{hint}",
                             details={"method": name, "use": use})
    if key == "koa_functions":
        function = args[0] if args and isinstance(args[0], str) else None
        fkey = (function or "").strip().lower()
        if fkey in _KOA_READERS_BY_KEY:
            return
        why = KOA_REFUSED.get(fkey, "only the documented read-only helpers are allowed")
        raise InvalidRequest(f"KOA_Functions({function!r}) cannot be called with 'call': {why}",
                             details={"method": "KOA_Functions", "function": function, "valid": list(KOA_READERS)})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check(kind: str, value: Any) -> bool:
    if kind == "str":
        return isinstance(value, str) and len(value) <= MAX_TEXT
    if kind == "int":
        return _is_int(value)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "map":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if kind == "list":
        return isinstance(value, list) and len(value) <= MAX_LIST_ITEMS
    if kind == "strlist":
        return (isinstance(value, list) and len(value) <= MAX_LIST_ITEMS
                and all(isinstance(v, str) and len(v) <= 64 for v in value))
    if kind == "intlist":
        return isinstance(value, list) and len(value) <= MAX_LIST_ITEMS and all(_is_int(v) for v in value)
    if kind == "scalar":
        return (isinstance(value, str) and len(value) <= MAX_TEXT) or _is_int(value)
    return True


_KIND_TEXT = {"str": "text", "int": "an integer", "bool": "true/false", "map": "a map with text keys",
              "list": "a list", "strlist": "a list of text", "intlist": "a list of integers",
              "scalar": "text or an integer"}


def _check_length(op: str, name: str, value: Any) -> None:
    limit = MAX_ARG_CHARS.get(name)
    if limit is None:
        return
    items = value if isinstance(value, list) else [value]
    longest = max((len(v) for v in items if isinstance(v, str)), default=0)
    if longest > limit:
        raise InvalidRequest(f"{op}.{name} must be at most {limit} characters, not {longest}",
                             details={"arg": name, "limit": limit})


def validate(op: str, args: Dict[str, Any]) -> Dict[str, Any]:
    """Check `args` against the op's spec; returns the args without nil values. Unknown keys are ignored."""
    spec = OPS.get(op)
    if spec is None:
        raise InvalidRequest(f"unknown op {op!r}", details={"valid": sorted(OPS)})
    clean: Dict[str, Any] = {}
    for name, (kind, required) in spec.items():
        value = args.get(name)
        if value is None:
            if required:
                raise InvalidRequest(f"{op} needs '{name}' ({_KIND_TEXT[kind]})", details={"arg": name})
            continue
        if not _check(kind, value):
            raise InvalidRequest(f"{op}.{name} must be {_KIND_TEXT[kind]}", details={"arg": name})
        _check_length(op, name, value)
        clean[name] = value
    if op == "call":
        check_call(clean["method"], clean.get("args") or [])
    return clean
