"""MasterList (services/broker/master.py): loading from the control's lists, normalisation, kinds, and the
code checks that guard subscriptions and orders. Fed by a fake adapter with the control's string formats."""
from __future__ import annotations

from collections import Counter

import pytest

from koabus.common.errors import InvalidRequest, NotFound, Unavailable
from koabus.services.broker.master import MAX_LOOKUPS, MasterList, normalize

LISTS = {"0": "005930;000660;069500;580001;", "10": "035720;", "8": "069500;", "3": "52K001;", "50": "", "4": "",
         "5": "", "6": "", "9": ""}
UPJONG = {"0": "0,001,종합(KOSPI)|0,002,대형주", "1": "1,101,종합(KOSDAQ)", "2": "", "4": "", "7": ""}


class FakeAdapter:
    """The four master-data members, in the control's formats (trailing ';', 'market,code,name|...')."""

    def __init__(self, futures="101V3000;", names=None, market_kinds=None):
        self.futures = futures
        self.names = names or {"201V3350": "코스피200 C 202403 335.0"}
        self.market_kinds = market_kinds or {"580001": "60"}
        self.calls = Counter()

    def get_code_list_by_market(self, market):
        self.calls["GetCodeListByMarket"] += 1
        return LISTS[market]

    def koa_functions(self, name, param):
        self.calls[name] += 1
        if name == "GetUpjongCode":
            return UPJONG[param]
        if name == "GetStockMarketKind":
            return self.market_kinds.get(param, "0")
        return ""

    def get_future_list(self):
        self.calls["GetFutureList"] += 1
        return self.futures

    def get_master_code_name(self, code):
        self.calls["GetMasterCodeName"] += 1
        return self.names.get(code, "")


@pytest.fixture
def adapter():
    return FakeAdapter()


@pytest.fixture
def master(adapter):
    m = MasterList()
    m.load(adapter)
    return m


def test_load_is_one_call_per_list(adapter, master):
    assert adapter.calls == Counter({"GetCodeListByMarket": 9, "GetUpjongCode": 5, "GetFutureList": 1})
    assert master.loaded and len(master) == 10


def test_kinds(master, adapter):
    assert master.kind("005930") == "stock" and master.kind("035720") == "stock"
    assert master.kind("069500") == "etf"  # listed in "0" and "8": the ETF list wins
    assert master.kind("52K001") == "elw"
    assert master.kind("001") == "index" and master.kind("101") == "index"
    assert master.kind("101V3000") == "future"
    # an ETN is listed in "0": only the exact kind (asked once, then cached) gives its 5 KRW grid
    assert master.kind("580001") == "stock"
    assert master.kind("580001", exact=True) == "etn" and master.kind("580001", exact=True) == "etn"
    assert adapter.calls["GetStockMarketKind"] == 1
    assert master.kind("999999") is None


def test_normalize():
    assert normalize(" A005930\t") == "005930" and normalize("005930") == "005930"
    assert normalize("A00593") == "A00593"  # only a 7-character code carries the prefix


def test_check_codes_normalizes_and_dedupes(master):
    assert master.check_codes(["A005930", " 005930 ", "000660", "001"]) == ["005930", "000660", "001"]
    assert master.check_codes(["_", "", "005930"], market_wide=True) == ["", "005930"]


@pytest.mark.parametrize("code", ["ALL", "all", "", " ", "_", "005930;000660", "005930|000660", "005930,1",
                                  "005 930", "00593\x00", "005930\n1", "삼성전자", "0" * 13, 5930, None])
def test_check_codes_refuses_what_cannot_be_a_code(master, code):
    with pytest.raises(InvalidRequest) as err:
        master.check_codes(["005930", code])
    assert not isinstance(err.value, NotFound)
    assert len(err.value.details["invalid"]) == 1 and err.value.details["unknown"] == []


def test_unknown_codes_are_not_found_and_every_offender_is_named(master):
    with pytest.raises(NotFound) as err:
        master.check_codes(["005930", "999999", "999998"])
    assert err.value.details["unknown"] == ["999999", "999998"]
    with pytest.raises(InvalidRequest) as err:
        master.check_codes(["ALL", "999999", "x" * 1000])
    assert err.value.details["invalid"] == ["ALL", "x" * 20 + "..."] and err.value.details["unknown"] == ["999999"]
    assert len(str(err.value)) < 400  # hostile input does not make a huge message


def test_shape_only_check_for_releases(master):
    assert master.check_codes(["999999", "_"], market_wide=True, listed=False) == ["999999", ""]
    with pytest.raises(InvalidRequest):
        master.check_codes(["ALL"], market_wide=True, listed=False)


def test_derivatives_are_looked_up_by_name_within_a_budget(master, adapter):
    assert master.check_codes(["201V3350"]) == ["201V3350"]
    assert master.check_codes(["201V3350"]) == ["201V3350"]
    assert adapter.calls["GetMasterCodeName"] == 1  # a known one is kept
    with pytest.raises(NotFound):
        master.check_codes([f"2{n:07d}" for n in range(5 * MAX_LOOKUPS)])
    assert adapter.calls["GetMasterCodeName"] == 1 + MAX_LOOKUPS
    # 6-character codes never go to the control
    with pytest.raises(NotFound):
        master.check_codes(["999999"])
    assert adapter.calls["GetMasterCodeName"] == 1 + MAX_LOOKUPS


def test_not_loaded_is_unavailable_and_an_empty_listing_stays_unloaded():
    master = MasterList()
    with pytest.raises(Unavailable):
        master.check_codes(["005930"])
    assert master.check_codes(["005930"], listed=False) == ["005930"]
    empty = FakeAdapter(futures="")
    empty.get_code_list_by_market = lambda market: ""
    empty.koa_functions = lambda name, param: ""
    master.load(empty)
    assert not master.loaded
    with pytest.raises(Unavailable):
        master.check_codes(["005930"])


def test_a_reload_replaces_the_list(master):
    assert master.has("005930")
    other = FakeAdapter()
    other.get_code_list_by_market = lambda market: "000660;" if market == "0" else ""
    master.load(other)
    assert not master.has("005930") and master.has("000660") and master.loads == 2
