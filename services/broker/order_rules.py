"""Order validation (Qt thread, before anything is journaled or sent): what Kiwoom would refuse or misread.

A limit order needs a positive price on the KRX grid of its code's market (a limit order with price
0 must never travel: some paths read it as a market order); order types that take no price
(market, best, after-hours close...) need price 0; quantities are positive 32-bit ints (cancels may
say 0: everything left); the code must be listed and orderable with the order's kind; the account
must be one of this login's. A refusal is `InvalidRequest` (`NotFound` for an unknown code) whose
`details.field` names the field ("account", "qty", "code", "hoga", "price") with what is allowed.
"""
from __future__ import annotations

import dataclasses
from functools import lru_cache
from typing import FrozenSet, Sequence, Tuple

from koabus.common.errors import InvalidRequest, NotFound
from koabus.metadata import catalog
from koabus.metadata.ticks import grid_around, on_grid, tick_size

from .master import MasterList, normalize, shape_error
from .orders import OrderRequest

INT32_MAX = 2 ** 31 - 1
#: KRX hoga codes SendOrderFO has a 거래구분 for (order_desk.FO_HOGA); raw FO codes pass as they are
FO_KRX_HOGA = frozenset({"00", "03", "05", "06", "10", "13", "16", "20", "23", "26"})
FO_RAW_PRICE_ZERO = frozenset({"3", "4", "7", "8", "9", "A"})
#: kinds that cannot be ordered at all, and those only SendOrderFO takes
NOT_ORDERABLE = frozenset({"index"})
DERIVATIVE_KINDS = frozenset({"future", "derivative"})


@lru_cache(maxsize=None)
def hoga_codes() -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """(every sHogaGb code, those whose price must be 0), from the metadata enumerations (facts §8)."""
    cat = catalog()
    return frozenset(cat.enum("hoga")), frozenset(cat.enum("hoga_price_zero"))


def validate_order(request: OrderRequest, master: MasterList, accounts: Sequence[str]) -> OrderRequest:
    """The request with its code normalized, or a typed error naming the first field that is wrong.

    Unavailable before the first login (no master list, no accounts yet to check against)."""
    master.require_loaded()
    _check_account(request.account, accounts)
    _check_qty(request)
    code, kind = _check_code(request, master)
    if request.action == "cancel":
        if request.price != 0:
            raise _refused("price", "a cancel order takes price 0", price=request.price)
    else:
        takes_price = _check_hoga(request)
        _check_price(request, takes_price, kind)
    return request if code == request.code else dataclasses.replace(request, code=code)


def _check_account(account: str, accounts: Sequence[str]) -> None:
    if account not in accounts:
        raise _refused("account", f"account {account!r} is not an account of this login "
                                  f"(accounts: {', '.join(accounts) or 'none'})",
                       account=account, accounts=list(accounts))


def _check_qty(request: OrderRequest) -> None:
    qty = request.qty
    least = 0 if request.action == "cancel" else 1
    if not isinstance(qty, int) or isinstance(qty, bool) or not least <= qty <= INT32_MAX:
        allowed = "0 (all that is left) or more" if least == 0 else "a positive integer"
        raise _refused("qty", f"qty must be {allowed}, at most {INT32_MAX}", qty=qty, min=least, max=INT32_MAX)


def _check_code(request: OrderRequest, master: MasterList) -> Tuple[str, str]:
    code = normalize(request.code)
    why = shape_error(code)
    if why is not None:
        raise _refused("code", f"invalid code {request.code[:20]!r}: {why}", code=request.code[:20])
    kind = master.kind(code, exact=request.kind != "fo")
    if kind is None:
        raise NotFound(f"code {code} is not in the control's master code list",
                       details={"field": "code", "code": code, "unknown": [code]})
    if kind in NOT_ORDERABLE:
        raise _refused("code", f"{code} is a {kind}: it cannot be ordered", code=code, code_kind=kind)
    if (kind in DERIVATIVE_KINDS) != (request.kind == "fo"):
        want = "kind 'fo'" if kind in DERIVATIVE_KINDS else "kind 'stock' or 'credit'"
        raise _refused("code", f"{code} is a {kind}: order it with {want}", code=code, code_kind=kind)
    return code, kind


def _check_hoga(request: OrderRequest) -> bool:
    """Whether the request's hoga takes a price."""
    hoga = request.hoga
    if request.kind == "fo":
        raw = set(catalog().enum("fo_hoga"))
        if hoga not in FO_KRX_HOGA and hoga not in raw:
            raise _refused("hoga", f"hoga {hoga!r} has no SendOrderFO 거래구분",
                           hoga=hoga, allowed=sorted(FO_KRX_HOGA | raw))
        return hoga not in hoga_codes()[1] and hoga not in FO_RAW_PRICE_ZERO
    every, price_zero = hoga_codes()
    if hoga not in every:
        raise _refused("hoga", f"hoga {hoga!r} is not a sHogaGb code (limit 00, market 03, ...)",
                       hoga=hoga, allowed=sorted(every))
    return hoga not in price_zero


def _check_price(request: OrderRequest, takes_price: bool, kind: str) -> None:
    price, hoga = request.price, request.hoga
    if not takes_price:
        if price != 0:
            raise _refused("price", f"hoga {hoga} takes no price: send price 0", price=price, hoga=hoga)
        return
    if not isinstance(price, int) or isinstance(price, bool) or not 0 < price <= INT32_MAX:
        raise _refused("price", f"hoga {hoga} (a priced order) needs a positive price; a market order is "
                                "hoga 03 with price 0", price=price, hoga=hoga)
    if request.kind == "fo":
        return  # derivative prices are points, not on the KRX stock grid
    if not on_grid(price, kind):
        step = tick_size(price, kind)
        below, above = grid_around(price, kind)
        raise _refused("price", f"price {price} is not on the KRX tick grid: {kind} prices at this level "
                                f"step by {step} (nearest {below} or {above})",
                       price=price, tick=step, below=below, above=above, code_kind=kind)


def _refused(field: str, message: str, **details) -> InvalidRequest:
    return InvalidRequest(message, details={"field": field, **details})
