"""The 58 dispatch members of the OCX with the argument and return types of its type library.

The simulator converts `dynamicCall` arguments to these declared types the way QAxBase does (the
type words in the caller's signature do not matter) and dispatches by name.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Tuple

S, N = "QString", "int"  # QString and int (long) arguments


@dataclass(frozen=True)
class MethodType:
    """One COM member: DISPID, argument types ("QString"/"int") and return kind."""

    name: str
    dispid: int
    args: Tuple[str, ...]
    returns: str  # "long", "BSTR", "void", "BOOL", "VARIANT"


METHOD_TYPES: Tuple[MethodType, ...] = (
    MethodType("CommConnect", 1, (), "long"),
    MethodType("CommTerminate", 2, (), "void"),
    MethodType("CommRqData", 3, (S, S, N, S), "long"),
    MethodType("GetLoginInfo", 4, (S,), "BSTR"),
    MethodType("SendOrder", 5, (S, S, S, N, S, N, N, S, S), "long"),
    MethodType("SendOrderFO", 6, (S, S, S, S, N, S, S, N, S, S), "long"),
    MethodType("SetInputValue", 7, (S, S), "void"),
    MethodType("SetOutputFID", 8, (S,), "long"),
    MethodType("CommGetData", 9, (S, S, S, N, S), "BSTR"),
    MethodType("DisconnectRealData", 10, (S,), "void"),
    MethodType("GetRepeatCnt", 11, (S, S), "long"),
    MethodType("CommKwRqData", 12, (S, N, N, N, S, S), "long"),
    MethodType("GetAPIModulePath", 13, (), "BSTR"),
    MethodType("GetCodeListByMarket", 14, (S,), "BSTR"),
    MethodType("GetConnectState", 15, (), "long"),
    MethodType("GetMasterCodeName", 16, (S,), "BSTR"),
    MethodType("GetMasterListedStockCnt", 17, (S,), "long"),
    MethodType("GetMasterConstruction", 18, (S,), "BSTR"),
    MethodType("GetMasterListedStockDate", 19, (S,), "BSTR"),
    MethodType("GetMasterLastPrice", 20, (S,), "BSTR"),
    MethodType("GetMasterStockState", 21, (S,), "BSTR"),
    MethodType("GetDataCount", 22, (S,), "long"),
    MethodType("GetOutputValue", 23, (S, N, N), "BSTR"),
    MethodType("GetCommData", 24, (S, S, N, S), "BSTR"),
    MethodType("GetCommRealData", 25, (S, N), "BSTR"),
    MethodType("GetChejanData", 26, (N,), "BSTR"),
    MethodType("GetThemeGroupList", 27, (N,), "BSTR"),
    MethodType("GetThemeGroupCode", 28, (S,), "BSTR"),
    MethodType("GetFutureList", 29, (), "BSTR"),
    MethodType("GetFutureCodeByIndex", 30, (N,), "BSTR"),
    MethodType("GetActPriceList", 31, (), "BSTR"),
    MethodType("GetMonthList", 32, (), "BSTR"),
    MethodType("GetOptionCode", 33, (S, N, S), "BSTR"),
    MethodType("GetOptionCodeByMonth", 34, (S, N, S), "BSTR"),
    MethodType("GetOptionCodeByActPrice", 35, (S, N, N), "BSTR"),
    MethodType("GetSFutureList", 36, (S,), "BSTR"),
    MethodType("GetSFutureCodeByIndex", 37, (S, N), "BSTR"),
    MethodType("GetSActPriceList", 38, (S,), "BSTR"),
    MethodType("GetSMonthList", 39, (S,), "BSTR"),
    MethodType("GetSOptionCode", 40, (S, S, N, S), "BSTR"),
    MethodType("GetSOptionCodeByMonth", 41, (S, S, N, S), "BSTR"),
    MethodType("GetSOptionCodeByActPrice", 42, (S, S, N, N), "BSTR"),
    MethodType("GetSFOBasisAssetList", 43, (), "BSTR"),
    MethodType("GetOptionATM", 44, (), "BSTR"),
    MethodType("GetSOptionATM", 45, (S,), "BSTR"),
    MethodType("GetBranchCodeName", 46, (), "BSTR"),
    MethodType("CommInvestRqData", 47, (S, S, S), "long"),
    MethodType("SendOrderCredit", 48, (S, S, S, N, S, N, N, S, S, S, S), "long"),
    MethodType("KOA_Functions", 49, (S, S), "BSTR"),
    MethodType("SetInfoData", 50, (S,), "long"),
    MethodType("SetRealReg", 51, (S, S, S, S), "long"),
    MethodType("GetConditionLoad", 52, (), "long"),
    MethodType("GetConditionNameList", 53, (), "BSTR"),
    MethodType("SendCondition", 54, (S, S, N, N), "BOOL"),
    MethodType("SendConditionStop", 55, (S, S, N), "void"),
    MethodType("GetCommDataEx", 56, (S, S), "VARIANT"),
    MethodType("SetRealRemove", 57, (S, S), "void"),
    MethodType("GetMarketType", 58, (S,), "long"),
)

METHODS_BY_NAME: Dict[str, MethodType] = {m.name: m for m in METHOD_TYPES}


def to_qstring(value) -> str:
    """QVariant -> QString as QAxBase does it: None -> '', bool -> 'true'/'false', numbers -> text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_int(value) -> int:
    """QVariant -> int: numeric strings convert, anything else becomes 0 (QVariant::toInt failing)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(round(value))
    if isinstance(value, (str, bytes)):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            return int(text.strip())
        except ValueError:
            try:
                return int(round(float(text.strip())))
            except ValueError:
                return 0
    return 0


def convert_args(method: MethodType, args) -> Tuple:
    return tuple(to_int(a) if t == N else to_qstring(a) for t, a in zip(method.args, args))


def _as_int(value) -> int:
    return value if type(value) is int else to_int(value)  # exact type: bool converts to 0/1


def _as_qstring(value) -> str:
    return value if type(value) is str else to_qstring(value)


def _return_int(result) -> int:
    return result if type(result) is int else int(result or 0)


def _return_bstr(result) -> str:
    if type(result) is str:
        return result
    return "" if result is None else str(result)


def _return_void(result) -> None:
    return None


def _return_variant(result):
    return result


_RETURNS: Dict[str, Callable[[Any], Any]] = {
    "long": _return_int, "BOOL": _return_int, "BSTR": _return_bstr, "void": _return_void,
    "VARIANT": _return_variant,
}


def make_invoker(method: MethodType, handler: Callable[..., Any]) -> Callable[[Tuple], Any]:
    """`invoke(args)`: convert `args` to the member's declared types, call `handler`, convert the
    result to the declared return kind. Same results as `convert_args` + the return rules, built
    once per member so a call costs a few attribute-free function calls (the TR-reading loop
    makes tens of thousands of them per snapshot). Arity is checked by the caller."""
    convert = tuple(_as_int if t == N else _as_qstring for t in method.args)
    returns = _RETURNS[method.returns]
    if not convert:
        return lambda args: returns(handler())
    if len(convert) == 1:
        (c0,) = convert
        return lambda args: returns(handler(c0(args[0])))
    if len(convert) == 2:
        c0, c1 = convert
        return lambda args: returns(handler(c0(args[0]), c1(args[1])))
    if len(convert) == 4:
        c0, c1, c2, c3 = convert
        return lambda args: returns(handler(c0(args[0]), c1(args[1]), c2(args[2]), c3(args[3])))
    return lambda args: returns(handler(*[c(a) for c, a in zip(convert, args)]))
