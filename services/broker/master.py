"""The master code list as the broker sees it (Qt thread): which codes exist and what kind each is.

Loaded from the control after every login, one call per market (GetCodeListByMarket for the KRX
markets, KOA_Functions GetUpjongCode for the sector indices, GetFutureList for index futures), so a
check is a set lookup. Subscriptions and orders are checked here before anything reaches the
control: a code must be one plain token (no `;` or other separator, whitespace or control
character, not `ALL`, which SetRealRemove reads as "every code of the screen") and must be listed.
Two lookups go to the control lazily, each cached: the exact kind of a KOSPI code an order is
priced for (ETNs are listed in market "0" but trade in 5 KRW steps), and derivative codes (options
have no cheap full list; GetMasterCodeName knows them).
"""
from __future__ import annotations

import logging
from typing import Dict, Iterable, List, Optional

from koabus.common.errors import InvalidRequest, NotFound, Unavailable

log = logging.getLogger(__name__)

#: GetCodeListByMarket market -> kind; later markets override earlier ones (ETFs are listed in "0" too)
MARKET_KINDS = (("0", "stock"), ("10", "stock"), ("50", "stock"), ("4", "fund"), ("5", "warrant"),
                ("6", "reit"), ("9", "fund"), ("3", "elw"), ("8", "etf"))
#: KOA_Functions("GetUpjongCode", m): KOSPI, KOSDAQ, KOSPI200, KOSPI100, KRX100 sector indices
INDEX_MARKETS = ("0", "1", "2", "4", "7")
#: KOA_Functions("GetStockMarketKind") results that change the price grid of a code listed as a stock
EXACT_KINDS = {"60": "etn", "3": "elw", "8": "etf"}
MARKET_WIDE = ""  # the market-wide stream's code (`_` in topics and requests)
MAX_CODE_LEN = 12  # stock codes have 6 characters, derivatives 8
DERIVATIVE_LEN = 8
#: GetMasterCodeName lookups one check may make for codes the lists do not hold (derivatives)
MAX_LOOKUPS = 100
#: offending codes listed in an error's details
MAX_LISTED = 100


def normalize(code: str) -> str:
    """Strip surrounding whitespace and the 'A' prefix GetThemeGroupCode and charts put on stock codes."""
    text = code.strip()
    if len(text) == 7 and text[0] == "A":
        text = text[1:]
    return text


def shape_error(code: str) -> Optional[str]:
    """Why `code` (normalized) cannot be a code at all; None when it can."""
    if not code:
        return "empty code"
    if code.upper() == "ALL":
        return "ALL is not a code (SetRealRemove would read it as every code)"
    if len(code) > MAX_CODE_LEN:
        return f"longer than {MAX_CODE_LEN} characters"
    if not (code.isascii() and code.isalnum()):
        return "only letters and digits (no separator, whitespace or control character)"
    return None


class MasterList:
    """Code -> kind ("stock", "etf", "etn", "elw", "fund", "warrant", "reit", "index", "future",
    "derivative") for everything the control lists; `check_codes` refuses the rest."""

    def __init__(self) -> None:
        self._kinds: Dict[str, str] = {}
        self._exact: Dict[str, str] = {}  # codes whose kind was asked of the control
        self._adapter = None
        self.loaded = False
        self.loads = 0

    # -- loading (Qt thread, after each login) -------------------------------------------------
    def load(self, adapter) -> None:
        """Rebuild from the control: ~15 calls, each a string split."""
        kinds: Dict[str, str] = {}
        for market, kind in MARKET_KINDS:
            for code in _split(adapter.get_code_list_by_market(market), ";"):
                kinds[code] = kind
        for market in INDEX_MARKETS:
            for row in _split(adapter.koa_functions("GetUpjongCode", market), "|"):
                fields = row.split(",")
                if len(fields) >= 2 and fields[1].strip():
                    kinds.setdefault(fields[1].strip(), "index")
        for code in _split(adapter.get_future_list(), ";"):
            kinds.setdefault(code, "future")
        self._adapter = adapter
        self._exact = {}
        self._kinds = kinds
        self.loads += 1
        self.loaded = bool(kinds)
        if not kinds:
            log.error("the control listed no codes: subscriptions and orders are refused until the next login")
        else:
            log.info("master list: %d codes", len(kinds))

    # -- lookups ---------------------------------------------------------------------------------
    def has(self, code: str) -> bool:
        return self.kind(code) is not None

    def kind(self, code: str, exact: bool = False) -> Optional[str]:
        """The code's kind, None when unknown. `exact` asks the control once whether a KOSPI-listed
        code is an ETN/ETF/ELW (what its price grid depends on)."""
        code = normalize(code)
        kind = self._kinds.get(code)
        if kind is None:
            return self._lookup_derivative(code)
        if exact and kind == "stock" and self._adapter is not None:
            kind = self._exact_kind(code)
        return kind

    def codes(self) -> List[str]:
        return list(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def check_codes(self, codes: Iterable[str], *, market_wide: bool = False, listed: bool = True) -> List[str]:
        """The normalized codes (duplicates dropped, order kept), or a typed error naming every offender.

        `market_wide`: "" and "_" stand for the market-wide stream. `listed`: codes must be in the
        master list (False: only their shape is checked, e.g. to release a subscription).
        InvalidRequest `details.invalid` (and `details.unknown`), NotFound `details.unknown` when
        only unknown codes are wrong; Unavailable before the first login.
        """
        invalid: Dict[str, None] = {}  # dicts: ordered sets
        reasons: Dict[str, None] = {}
        unknown: Dict[str, None] = {}
        result: Dict[str, None] = {}
        budget = [MAX_LOOKUPS]
        kinds = self._kinds
        if listed:
            self.require_loaded()
        for raw in codes:
            if isinstance(raw, str) and raw in kinds:  # the common case: a listed code as listed
                result[raw] = None
                continue
            code = normalize(raw) if isinstance(raw, str) else raw
            if market_wide and code in ("", "_"):
                result[MARKET_WIDE] = None
                continue
            why = shape_error(code) if isinstance(code, str) else "not text"
            if why is not None:
                invalid[_shown(raw)] = None
                reasons[why] = None
                continue
            if listed and not self._listed(code, budget):
                unknown[code] = None
                continue
            result[code] = None
        bad, missing = list(invalid), list(unknown)
        if bad:
            raise InvalidRequest(_message("invalid", bad, missing, list(reasons)),
                                 details={"invalid": bad[:MAX_LISTED], "unknown": missing[:MAX_LISTED],
                                          "count": len(bad) + len(missing)})
        if missing:
            raise NotFound(_message("unknown", missing, []),
                           details={"unknown": missing[:MAX_LISTED], "count": len(missing)})
        return list(result)

    def require_loaded(self) -> None:
        if not self.loaded:
            raise Unavailable("the master code list is not loaded yet (it is read from the control at login)",
                              details={"loads": self.loads})

    def state(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for kind in self._kinds.values():
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    # -- internals -------------------------------------------------------------------------------
    def _listed(self, code: str, budget: List[int]) -> bool:
        if code in self._kinds:
            return True
        if len(code) != DERIVATIVE_LEN or budget[0] <= 0:
            return False
        budget[0] -= 1
        return self._lookup_derivative(code) is not None

    def _lookup_derivative(self, code: str) -> Optional[str]:
        """Options (and futures beyond GetFutureList) by name: known codes are kept, unknown ones are not."""
        if self._adapter is None or len(code) != DERIVATIVE_LEN or shape_error(code) is not None:
            return None
        if not self._adapter.get_master_code_name(code).strip():
            return None
        self._kinds[code] = "derivative"
        return "derivative"

    def _exact_kind(self, code: str) -> str:
        kind = self._exact.get(code)
        if kind is None:
            market = self._adapter.koa_functions("GetStockMarketKind", code).strip()
            kind = self._exact[code] = EXACT_KINDS.get(market, "stock")
        return kind


def _split(text: str, sep: str) -> List[str]:
    return [part.strip() for part in (text or "").split(sep) if part.strip()]


def _shown(raw) -> str:
    """An offending code as it can be shown back: text, cut to 20 characters."""
    text = raw if isinstance(raw, str) else repr(raw)
    return text if len(text) <= 20 else text[:20] + "..."


def _message(what: str, codes: List[str], unknown: List[str], reasons: Iterable[str] = ()) -> str:
    listed = ", ".join(repr(c) for c in codes[:10]) + (", ..." if len(codes) > 10 else "")
    text = f"{what} code(s): {listed}"
    if what == "invalid":
        text += f" ({'; '.join(reasons)})"
    else:
        text += " (not in the control's master code list)"
    if unknown:
        text += f"; also unknown: {', '.join(repr(c) for c in unknown[:10])}"
    return text
