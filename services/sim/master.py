"""Master data, code lists, themes, derivatives helpers and KOA_Functions (facts §3.5, §3.6, §3.8).

All of them need login: before OnEventConnect(0) they return "" or 0, as the real control does.
The simulated market lists stocks, ETFs and sector indices but no derivatives, so the
futures/options helpers return "" (what the control gives for an empty list).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List

from .core import SimCore

_INT32 = 2 ** 31
# GetUpjongCode market codes -> index codes of the simulated listing.
_UPJONG_MARKETS = {"0": ("001", "002", "003", "004"), "1": ("101",), "2": ("201",), "4": (), "7": ()}
# A small member-firm list for GetBranchCodeName (codes are illustrative).
_BRANCHES = (("001", "교보증권"), ("002", "신한투자증권"), ("003", "한국투자증권"), ("005", "미래에셋증권"),
             ("030", "NH투자증권"), ("050", "키움증권"), ("056", "삼성증권"))


def _int32(value: int) -> int:
    """A long return value that overflows like the real GetMasterListedStockCnt."""
    return ((int(value) + _INT32) % (2 * _INT32)) - _INT32


class MasterData:
    """Read-only lookups over the simulated listing."""

    def __init__(self, core: SimCore):
        self._core = core

    def handlers(self) -> Dict[str, Callable[..., Any]]:
        return {
            "GetCodeListByMarket": self.get_code_list_by_market,
            "GetMarketType": self.get_market_type,
            "GetMasterCodeName": self.get_master_code_name,
            "GetMasterListedStockCnt": self.get_master_listed_stock_cnt,
            "GetMasterConstruction": self.get_master_construction,
            "GetMasterListedStockDate": self.get_master_listed_stock_date,
            "GetMasterLastPrice": self.get_master_last_price,
            "GetMasterStockState": self.get_master_stock_state,
            "GetBranchCodeName": self.get_branch_code_name,
            "GetThemeGroupList": self.get_theme_group_list,
            "GetThemeGroupCode": self.get_theme_group_code,
            "KOA_Functions": self.koa_functions,
            "GetFutureList": self._empty,
            "GetFutureCodeByIndex": self._empty,
            "GetActPriceList": self._empty,
            "GetMonthList": self._empty,
            "GetOptionCode": self._empty,
            "GetOptionCodeByMonth": self._empty,
            "GetOptionCodeByActPrice": self._empty,
            "GetSFutureList": self._empty,
            "GetSFutureCodeByIndex": self._empty,
            "GetSActPriceList": self._empty,
            "GetSMonthList": self._empty,
            "GetSOptionCode": self._empty,
            "GetSOptionCodeByMonth": self._empty,
            "GetSOptionCodeByActPrice": self._empty,
            "GetSFOBasisAssetList": self._empty,
            "GetOptionATM": self._empty,
            "GetSOptionATM": self._empty,
        }

    # -- helpers -------------------------------------------------------------------------------
    @property
    def _listing(self):
        return self._core.world.listing

    def _inst(self, code: str):
        if not self._core.connected:
            return None
        inst = self._listing.get(code.strip())
        return None if inst is None or inst.is_index else inst

    @staticmethod
    def _empty(*_args: Any) -> str:
        return ""

    # -- members -------------------------------------------------------------------------------
    def get_code_list_by_market(self, market: str) -> str:
        if not self._core.connected:
            return ""
        market = market.strip()
        if market in ("", "0"):
            # ETFs are listed on KOSPI and show up in "0" as well as in "8".
            codes = [i.code for i in self._listing.instruments()
                     if market == "" or i.market in ("0", "8")]
        else:
            codes = self._listing.codes(market)
        return "".join(c + ";" for c in codes)

    def get_market_type(self, code: str) -> int:
        inst = self._inst(code)
        return int(inst.market) if inst is not None else 0

    def get_master_code_name(self, code: str) -> str:
        inst = self._inst(code)
        return inst.name if inst is not None else ""

    def get_master_listed_stock_cnt(self, code: str) -> int:
        inst = self._inst(code)
        return _int32(inst.shares) if inst is not None else 0

    def get_master_construction(self, code: str) -> str:
        inst = self._inst(code)
        return inst.construction if inst is not None else ""

    def get_master_listed_stock_date(self, code: str) -> str:
        inst = self._inst(code)
        return inst.listed_date.strftime("%Y%m%d") if inst is not None else ""

    def get_master_last_price(self, code: str) -> str:
        inst = self._inst(code)
        if inst is None:
            return ""
        return str(self._core.world.reference_price(inst.code, self._core.now())).zfill(8)

    def get_master_stock_state(self, code: str) -> str:
        inst = self._inst(code)
        return inst.state if inst is not None else ""

    def get_branch_code_name(self) -> str:
        if not self._core.connected:
            return ""
        return "".join(f"{code}|{name};" for code, name in _BRANCHES)

    def _themes(self) -> List[tuple]:
        sectors: Dict[str, List[str]] = {}
        for inst in self._listing.instruments():
            if inst.kind == "stock":
                sectors.setdefault(inst.sector, []).append(inst.code)
        return [(str(100 + i), name, codes) for i, (name, codes) in enumerate(sorted(sectors.items()))]

    def get_theme_group_list(self, sort_type: int) -> str:
        if not self._core.connected:
            return ""
        themes = self._themes()
        if sort_type == 1:
            themes.sort(key=lambda t: t[1])
        return ";".join(f"{code}|{name}" for code, name, _ in themes)

    def get_theme_group_code(self, theme: str) -> str:
        if not self._core.connected:
            return ""
        for code, _name, codes in self._themes():
            if code == theme.strip():
                return ";".join("A" + c for c in codes)
        return ""

    # -- KOA_Functions -------------------------------------------------------------------------
    def koa_functions(self, name: str, param: str) -> str:
        core = self._core
        name, param = name.strip(), param.strip()
        if name == "ShowAccountWindow":
            return ""  # the real one opens the account-password window; passwords are not modelled
        if not core.connected:
            return ""
        if name == "GetServerGubun":
            return core.config.server_gubun
        if name == "SetConditionSearchFlag":
            if param == "AddPrice":
                core.condition_add_price = True
            elif param == "DelPrice":
                core.condition_add_price = False
            return ""
        if name == "GetUpjongCode":
            rows = []
            for code in _UPJONG_MARKETS.get(param, ()):
                inst = self._listing.get(code)
                if inst is not None:
                    rows.append(f"{param},{code},{inst.name}")
            return "|".join(rows)
        if name == "GetUpjongNameByCode":
            inst = self._listing.get(param)
            return inst.name if inst is not None and inst.is_index else ""
        inst = self._inst(param)
        if inst is None:
            return ""
        if name == "GetMasterStockInfo":
            return self._stock_info(inst)
        if name == "GetMasterListedStockCntEx":
            return str(inst.shares)
        if name == "GetStockMarketKind":
            return inst.market
        if name == "IsOrderWarningETF":
            return "1" if inst.kind == "etf" and abs(inst.beta) > 1.5 else "0"
        if name == "IsOrderWarningStock":
            return "0"
        return ""

    def _stock_info(self, inst) -> str:
        if inst.market == "10":
            return f"시장구분0|코스닥|벤처기업;시장구분1|{self._size_class(inst)};업종구분|{inst.sector};"
        return f"시장구분0|거래소;시장구분1|{self._size_class(inst)};업종구분|{inst.sector};"

    def _size_class(self, inst) -> str:
        peers = sorted((i for i in self._listing.instruments(inst.market) if i.kind == "stock"),
                       key=lambda i: -i.shares * i.base_price)
        rank = next((n for n, i in enumerate(peers) if i.code == inst.code), len(peers))
        third = max(1, len(peers) // 3)
        return "대형주" if rank < third else ("중형주" if rank < 2 * third else "소형주")
