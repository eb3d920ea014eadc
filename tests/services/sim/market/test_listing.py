"""The listing: enough real instruments, stable order, indices and events."""
from __future__ import annotations

import re

import pytest

from koabus.services.sim.market.listing import ETF, EVENT_SPLIT, KOSDAQ, KOSPI, Listing


def test_default_listing_has_the_big_names_in_every_market():
    listing = Listing.default()
    assert len(listing.codes("0")) + len(listing.codes("10")) >= 220
    assert listing.get("005930").name == "삼성전자"
    assert listing.get("247540").market == "10"
    assert listing.get("069500").kind == "etf" and listing.get("069500").market == "8"
    assert {i.code for i in listing.indices()} >= {"001", "002", "101", "201"}
    assert listing.get("999999") is None


def test_enough_stocks_for_a_200_code_snapshot():
    stocks = [i for i in Listing.default().instruments() if i.kind == "stock"]
    assert len(stocks) >= 220 and len({i.code for i in stocks}) == len(stocks)
    assert sum(i.market == KOSPI for i in stocks) >= 150 and sum(i.market == KOSDAQ for i in stocks) >= 50


@pytest.mark.parametrize("code, name, market", [
    ("012330", "현대모비스", KOSPI), ("000270", "기아", KOSPI), ("055550", "신한지주", KOSPI),
    ("032830", "삼성생명", KOSPI), ("003550", "LG", KOSPI), ("034730", "SK", KOSPI),
    ("096770", "SK이노베이션", KOSPI), ("017670", "SK텔레콤", KOSPI), ("030200", "KT", KOSPI),
    ("015760", "한국전력", KOSPI), ("009150", "삼성전기", KOSPI), ("018260", "삼성에스디에스", KOSPI),
    ("010950", "S-Oil", KOSPI), ("011170", "롯데케미칼", KOSPI), ("028260", "삼성물산", KOSPI),
    ("066570", "LG전자", KOSPI), ("033780", "KT&G", KOSPI), ("086790", "하나금융지주", KOSPI),
    ("316140", "우리금융지주", KOSPI), ("024110", "기업은행", KOSPI), ("010130", "고려아연", KOSPI),
    ("005490", "POSCO홀딩스", KOSPI), ("034220", "LG디스플레이", KOSPI), ("051900", "LG생활건강", KOSPI),
    ("196170", "알테오젠", KOSDAQ), ("028300", "HLB", KOSDAQ), ("357780", "솔브레인", KOSDAQ),
    ("058470", "리노공업", KOSDAQ), ("145020", "휴젤", KOSDAQ), ("041510", "에스엠", KOSDAQ),
    ("035900", "JYP Ent.", KOSDAQ), ("122870", "와이지엔터테인먼트", KOSDAQ),
    ("036930", "주성엔지니어링", KOSDAQ), ("039030", "이오테크닉스", KOSDAQ), ("035760", "CJ ENM", KOSDAQ),
    ("091160", "KODEX 반도체", ETF),
])
def test_well_known_issues_have_their_real_code_name_and_market(code, name, market):
    inst = Listing.default().get(code)
    assert inst is not None and (inst.name, inst.market) == (name, market)


def test_rows_are_plausible():
    for inst in Listing.default().instruments():
        assert re.fullmatch(r"\d{6}", inst.code) and inst.name.strip() == inst.name
        assert inst.shares > 0 and inst.base_price > 0 and inst.sector
        assert 1950 <= inst.listed_date.year <= 2024
        if inst.kind == "stock":
            assert inst.face_value in (0, 1, 100, 200, 500, 1000, 2500, 5000), inst.code
            assert inst.state.startswith("증거금30%" if inst.market == KOSDAQ else "증거금20%")


def test_codes_are_stable_and_exclude_indices():
    a, b = Listing.default().codes(), Listing.default().codes()
    assert a == b and "001" not in a and len(set(a)) == len(a)
    assert set(Listing.default().codes("")) == set(a)
    assert a[:3] == ["005930", "005935", "000660"]  # the first-written names keep their places


def test_samsung_split_is_recorded():
    (split,) = Listing.default().events("005930")
    assert split.flags == EVENT_SPLIT and split.ratio == 1 / 50 and split.real
    assert str(split.day) == "2018-05-04"
