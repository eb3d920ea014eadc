"""The simulated KRX listing: instruments (stocks, ETFs, sector indices) and their corporate events.

Codes, names, markets and listing dates are real; share counts, face values and price levels are
hand-written plausible values (price levels are the long-run level the simulated walk returns to).
Corporate events marked `real` happened on that date; the others are plausible inventions that give
the adjusted (수정주가) series something to adjust.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Dict, Iterable, List, Optional, Tuple

# Market codes as GetCodeListByMarket uses them.
KOSPI = "0"
KOSDAQ = "10"
ETF = "8"

# opt10081 수정주가구분 flags.
EVENT_RIGHTS_ISSUE = 1
EVENT_BONUS_ISSUE = 2
EVENT_EX_DIVIDEND = 4
EVENT_SPLIT = 8
EVENT_REVERSE_SPLIT = 16
EVENT_MERGER = 32
EVENT_CAPITAL_REDUCTION = 64
EVENT_EX_RIGHTS = 256


@dataclass(frozen=True)
class Instrument:
    """One listed instrument. Prices are KRW ints; index levels are x100 ints.

    base_price: the price level the simulated walk reverts to (in today's share terms).
    factor: the index whose market factor drives it ("001" KOSPI, "101" KOSDAQ, "201" KOSPI200).
    beta / daily_vol: exposure to that factor and idiosyncratic daily volatility (fraction).
    turnover: average daily volume as a fraction of listed shares. activity: trades-per-day weight.
    """

    code: str
    name: str
    market: str
    kind: str
    listed_date: date
    shares: int
    face_value: int
    base_price: int
    sector: str
    state: str = "증거금20%|담보대출|신용가능"
    construction: str = "정상"
    margin_rate: int = 20
    factor: str = "001"
    beta: float = 1.0
    daily_vol: float = 0.016
    turnover: float = 0.004
    activity: float = 1.0
    settle_month: str = "12"
    volume_level: int = 0

    @property
    def is_index(self) -> bool:
        return self.kind == "index"

    @property
    def avg_volume(self) -> int:
        """Typical daily volume in today's shares (indices: thousand shares)."""
        if self.volume_level:
            return self.volume_level
        return max(1_000, int(self.shares * self.turnover))


@dataclass(frozen=True)
class CorporateEvent:
    """An event effective on `day` (the first session at the new terms).

    ratio: price factor applied to earlier prices to make them comparable (1/50 for a 1:50 split).
    flags: the opt10081 수정주가구분 bits. real: the event is a real one on that date.
    """

    code: str
    day: date
    flags: int
    ratio: float
    real: bool = False


def _d(s: str) -> date:
    return date(int(s[:4]), int(s[4:6]), int(s[6:8]))


# code|name|listed|shares|face|price level|sector|options (a=activity b=beta v=vol t=turnover m=margin)
_KOSPI = """
005930|삼성전자|19750611|5969782550|100|65000|전기전자|a=2.5 b=1.0 v=0.012 t=0.0025
005935|삼성전자우|19890925|822886700|100|55000|전기전자|a=1.2 v=0.011 t=0.002
000660|SK하이닉스|19961226|728002365|5000|180000|전기전자|a=2.2 b=1.3 v=0.02 t=0.005
373220|LG에너지솔루션|20220127|234000000|500|390000|전기전자|a=1.3 b=1.2 v=0.018 t=0.0015
207940|삼성바이오로직스|20161110|71174000|2500|850000|의약품|a=0.8 b=0.8 v=0.015 t=0.001
005380|현대차|19740628|209416191|5000|220000|운수장비|a=1.3 v=0.015 t=0.003
000270|기아|19730721|397672632|5000|95000|운수장비|a=1.3 v=0.016 t=0.004
068270|셀트리온|20080801|216200000|1000|180000|의약품|a=1.3 b=0.9 v=0.018 t=0.003
005490|POSCO홀딩스|19880610|84571230|5000|380000|철강금속|a=1.2 b=1.1 v=0.018 t=0.004
035420|NAVER|20081128|158437008|100|200000|서비스업|a=1.3 v=0.018 t=0.004
051910|LG화학|20010425|70592343|5000|400000|화학|a=1.1 b=1.2 v=0.019 t=0.004
006400|삼성SDI|19790227|68764530|5000|380000|전기전자|a=1.1 b=1.2 v=0.019 t=0.005
105560|KB금융|20081010|393528423|5000|70000|금융업|a=1.1 v=0.015 t=0.003
055550|신한지주|20010910|509704584|5000|48000|금융업|a=1.0 v=0.014 t=0.003
035720|카카오|20170710|443000000|100|50000|서비스업|a=1.6 b=1.2 v=0.021 t=0.006
012330|현대모비스|19890905|93000000|5000|230000|운수장비|a=0.9 v=0.015 t=0.002
028260|삼성물산|20141218|180000000|100|130000|유통업|a=0.9 v=0.014 t=0.002
066570|LG전자|20020422|163647814|5000|95000|전기전자|a=1.1 b=1.1 v=0.018 t=0.005
003670|포스코퓨처엠|20190528|77463220|500|250000|화학|a=1.1 b=1.3 v=0.025 t=0.006
096770|SK이노베이션|20070725|94700000|5000|130000|화학|a=1.0 b=1.1 v=0.019 t=0.004
034730|SK|20091111|73000000|200|170000|기타금융|a=0.7 v=0.016 t=0.002
015760|한국전력|19890810|641964077|5000|20000|전기가스업|a=1.2 b=0.7 v=0.016 t=0.004
032830|삼성생명|20100512|200000000|500|80000|보험|a=0.7 b=0.8 v=0.014 t=0.001
086790|하나금융지주|20051212|292356598|5000|50000|금융업|a=1.0 v=0.016 t=0.004
003550|LG|19700213|157300000|5000|80000|기타금융|a=0.7 v=0.014 t=0.002
017670|SK텔레콤|19891107|214790053|100|50000|통신업|a=0.8 b=0.5 v=0.011 t=0.002
030200|KT|19981223|261111808|5000|35000|통신업|a=0.8 b=0.5 v=0.012 t=0.003
033780|KT&G|19991008|137292497|5000|90000|음식료품|a=0.7 b=0.4 v=0.011 t=0.002
009150|삼성전기|19790227|74693696|5000|140000|전기전자|a=1.0 b=1.2 v=0.019 t=0.005
018260|삼성에스디에스|20141114|77377800|500|160000|서비스업|a=0.7 v=0.016 t=0.002
010130|고려아연|19900713|20700000|5000|500000|철강금속|a=0.8 b=0.8 v=0.018 t=0.004
011200|HMM|19951025|687000000|5000|18000|운수창고|a=1.4 b=1.2 v=0.025 t=0.008
010950|S-Oil|19870527|112582792|2500|70000|화학|a=0.8 b=0.9 v=0.016 t=0.003
034020|두산에너빌리티|20001025|640000000|5000|18000|기계|a=1.6 b=1.3 v=0.025 t=0.012
009540|HD한국조선해양|19830301|70773116|5000|120000|운수장비|a=0.9 b=1.1 v=0.02 t=0.004
329180|HD현대중공업|20210917|88773116|5000|150000|운수장비|a=0.9 b=1.1 v=0.022 t=0.004
042660|한화오션|19901003|306000000|5000|30000|운수장비|a=1.3 b=1.3 v=0.027 t=0.01
012450|한화에어로스페이스|19880601|50600000|5000|250000|기계|a=1.2 b=1.1 v=0.024 t=0.008
047810|한국항공우주|20110630|97475107|5000|50000|운수장비|a=0.9 v=0.019 t=0.005
323410|카카오뱅크|20210806|476800000|5000|25000|금융업|a=1.0 b=1.1 v=0.02 t=0.004
259960|크래프톤|20210810|48300000|100|240000|서비스업|a=0.9 v=0.021 t=0.004
036570|엔씨소프트|20030512|21954022|500|250000|서비스업|a=0.8 v=0.02 t=0.006
251270|넷마블|20170512|85950000|100|55000|서비스업|a=0.8 v=0.02 t=0.004
090430|아모레퍼시픽|20060629|58500000|500|130000|화학|a=0.8 b=0.8 v=0.019 t=0.004
097950|CJ제일제당|20070928|16400000|5000|300000|음식료품|a=0.6 b=0.6 v=0.015 t=0.003
000810|삼성화재|19750630|47400000|500|280000|보험|a=0.6 b=0.6 v=0.013 t=0.002
316140|우리금융지주|20190213|742600000|5000|13000|금융업|a=1.0 b=0.9 v=0.014 t=0.003
024110|기업은행|20031224|797000000|5000|13000|은행|a=0.9 b=0.8 v=0.012 t=0.002
138040|메리츠금융지주|20110513|190000000|100|80000|금융업|a=0.7 v=0.016 t=0.002
011170|롯데케미칼|19910830|42800000|5000|120000|화학|a=0.7 b=1.1 v=0.02 t=0.004
004020|현대제철|19530620|133000000|5000|30000|철강금속|a=0.8 b=1.1 v=0.019 t=0.004
010140|삼성중공업|19940324|880000000|1000|8000|운수장비|a=1.3 b=1.3 v=0.025 t=0.01
267250|HD현대|20170510|79000000|500|65000|기타금융|a=0.7 v=0.017 t=0.003
003490|대한항공|19661001|368000000|5000|22000|운수창고|a=1.0 b=0.9 v=0.017 t=0.004
352820|하이브|20201015|41650000|500|200000|서비스업|a=0.9 v=0.024 t=0.006
302440|SK바이오사이언스|20210318|76800000|500|60000|의약품|a=0.7 v=0.022 t=0.004
377300|카카오페이|20211103|132000000|500|40000|서비스업|a=0.9 b=1.2 v=0.026 t=0.006
000100|유한양행|19620601|80000000|1000|70000|의약품|a=0.8 b=0.7 v=0.018 t=0.004
128940|한미약품|20100730|12800000|2500|300000|의약품|a=0.6 b=0.7 v=0.02 t=0.004
271560|오리온|20170707|39500000|500|95000|음식료품|a=0.6 b=0.5 v=0.014 t=0.003
006800|미래에셋증권|19880823|590000000|5000|8000|증권|a=1.1 b=1.2 v=0.018 t=0.004
"""

_KOSDAQ = """
247540|에코프로비엠|20190305|97800000|500|180000|일반전기전자|a=1.8 b=1.4 v=0.03 t=0.008
086520|에코프로|20070720|133000000|500|90000|일반전기전자|a=1.8 b=1.4 v=0.032 t=0.01
196170|알테오젠|20141212|53000000|500|250000|제약|a=1.3 b=1.0 v=0.032 t=0.008
263750|펄어비스|20170914|64000000|100|40000|디지털컨텐츠|a=1.0 v=0.027 t=0.008
293490|카카오게임즈|20200910|82000000|100|20000|디지털컨텐츠|a=1.0 v=0.026 t=0.007
028300|HLB|19960701|130000000|500|60000|제약|a=1.3 v=0.035 t=0.012
035900|JYP Ent.|20011115|35500000|500|65000|오락문화|a=0.9 v=0.025 t=0.008
041510|에스엠|20000427|23800000|500|80000|오락문화|a=0.9 v=0.026 t=0.008
058470|리노공업|20011218|15242370|500|180000|반도체|a=0.7 v=0.024 t=0.004
145020|휴젤|20151224|12000000|500|200000|제약|a=0.7 v=0.024 t=0.004
039030|이오테크닉스|20000920|12300000|500|150000|반도체|a=0.7 v=0.027 t=0.006
357780|솔브레인|20200707|7780000|500|250000|반도체|a=0.6 v=0.025 t=0.005
240810|원익IPS|20160401|49000000|500|30000|반도체|a=0.8 v=0.026 t=0.006
214150|클래시스|20071218|65500000|100|40000|의료정밀|a=0.7 v=0.024 t=0.005
112040|위메이드|20091218|34000000|500|40000|디지털컨텐츠|a=1.1 v=0.035 t=0.015
277810|레인보우로보틱스|20210203|19400000|500|150000|기계장비|a=1.0 v=0.035 t=0.012
403870|HPSP|20220715|83000000|100|35000|반도체|a=0.9 v=0.03 t=0.008
036930|주성엔지니어링|19991216|48000000|500|30000|반도체|a=0.9 v=0.028 t=0.008
005290|동진쎄미켐|19990802|51400000|500|30000|반도체|a=0.8 v=0.027 t=0.006
095340|ISC|20070215|21000000|500|60000|반도체|a=0.8 v=0.03 t=0.01
"""

# ETFs: code|name|listed|shares|price level|tracked index|beta|activity
_ETFS = """
069500|KODEX 200|20021014|180000000|35000|201|1.0|2.0
102110|TIGER 200|20080403|60000000|35000|201|1.0|0.8
114800|KODEX 인버스|20090916|500000000|4500|201|-1.0|1.5
122630|KODEX 레버리지|20100222|300000000|17000|201|2.0|2.5
252670|KODEX 200선물인버스2X|20160922|900000000|2300|201|-2.0|2.5
229200|KODEX 코스닥150|20151001|90000000|12000|101|1.0|1.0
233740|KODEX 코스닥150레버리지|20151217|150000000|9000|101|2.0|1.8
305720|KODEX 2차전지산업|20180912|60000000|17000|101|1.3|0.9
360750|TIGER 미국S&P500|20200807|200000000|17000|001|0.15|0.9
133690|TIGER 미국나스닥100|20101018|20000000|110000|001|0.15|0.6
"""

# Sector indices: code|name|market|level x100|factor|beta|idio vol|volume (thousand shares)
_INDICES = """
001|종합(KOSPI)|0|260000|001|1.0|0.0|500000
002|대형주|0|250000|001|1.05|0.002|250000
003|중형주|0|270000|001|0.9|0.003|120000
004|소형주|0|230000|001|0.8|0.004|130000
101|종합(KOSDAQ)|10|80000|101|1.0|0.0|900000
201|KOSPI200|0|35000|001|1.05|0.002|150000
"""

# Daily volatility of the two market factors (the KOSPI and KOSDAQ composite indices).
FACTOR_VOL = {"001": 0.010, "101": 0.013}

_EVENTS = (
    CorporateEvent("005930", date(2018, 5, 4), EVENT_SPLIT, 1 / 50, real=True),
    CorporateEvent("035420", date(2018, 10, 12), EVENT_SPLIT, 1 / 5, real=True),
    CorporateEvent("035720", date(2021, 4, 15), EVENT_SPLIT, 1 / 5, real=True),
    CorporateEvent("017670", date(2021, 11, 29), EVENT_SPLIT, 1 / 5, real=True),
    CorporateEvent("086520", date(2024, 4, 16), EVENT_SPLIT, 1 / 5),
    # 유한양행 pays small stock dividends; ex-dividend days near the year end.
    CorporateEvent("000100", date(2019, 12, 27), EVENT_EX_DIVIDEND, 1 / 1.05),
    CorporateEvent("000100", date(2020, 12, 29), EVENT_EX_DIVIDEND, 1 / 1.05),
    CorporateEvent("000100", date(2021, 12, 29), EVENT_EX_DIVIDEND, 1 / 1.03),
    CorporateEvent("000100", date(2022, 12, 28), EVENT_EX_DIVIDEND, 1 / 1.03),
    CorporateEvent("000100", date(2023, 12, 27), EVENT_EX_DIVIDEND, 1 / 1.03),
    CorporateEvent("196170", date(2021, 3, 25), EVENT_BONUS_ISSUE, 1 / 1.5),
)


def _options(text: str) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for item in text.split():
        key, _, value = item.partition("=")
        out[key] = float(value)
    return out


def _rows(block: str) -> Iterable[List[str]]:
    for line in block.strip().splitlines():
        yield line.split("|")


def _stock(row: List[str], market: str) -> Instrument:
    code, name, listed, shares, face, price, sector, opts = row
    o = _options(opts)
    kosdaq = market == KOSDAQ
    margin = 30 if kosdaq else 20
    return Instrument(
        code=code, name=name, market=market, kind="stock", listed_date=_d(listed),
        shares=int(shares), face_value=int(face), base_price=int(price), sector=sector,
        state=f"증거금{margin}%|담보대출|신용가능", margin_rate=margin,
        factor="101" if kosdaq else "001", beta=o.get("b", 1.0),
        daily_vol=o.get("v", 0.028 if kosdaq else 0.016), turnover=o.get("t", 0.004),
        activity=o.get("a", 1.0),
    )


def _etf(row: List[str]) -> Instrument:
    code, name, listed, shares, price, tracks, beta, activity = row
    leveraged = abs(float(beta)) > 1.5
    return Instrument(
        code=code, name=name, market=ETF, kind="etf", listed_date=_d(listed), shares=int(shares),
        face_value=0, base_price=int(price), sector="ETF",
        state="증거금100%|담보대출" if leveraged else "증거금20%|담보대출|신용가능",
        margin_rate=100 if leveraged else 20, factor=tracks, beta=float(beta), daily_vol=0.002,
        turnover=0.03 if leveraged else 0.01, activity=float(activity),
    )


def _index(row: List[str]) -> Instrument:
    code, name, market, level, factor, beta, vol, volume = row
    return Instrument(
        code=code, name=name, market=market, kind="index", listed_date=date(1980, 1, 4), shares=0,
        face_value=0, base_price=int(level), sector="업종", state="", construction="", margin_rate=0,
        factor=factor, beta=float(beta), daily_vol=float(vol), turnover=0.0, activity=0.6,
        settle_month="", volume_level=int(volume),
    )


class Listing:
    """The instruments of the simulated market, in a stable order."""

    def __init__(self, instruments: Iterable[Instrument], events: Iterable[CorporateEvent] = ()):
        self._by_code: Dict[str, Instrument] = {}
        for inst in instruments:
            if inst.code in self._by_code:
                raise ValueError(f"duplicate code {inst.code}")
            self._by_code[inst.code] = inst
        self._events: Dict[str, Tuple[CorporateEvent, ...]] = {}
        for ev in sorted(events, key=lambda e: (e.code, e.day)):
            self._events[ev.code] = self._events.get(ev.code, ()) + (ev,)

    @classmethod
    def default(cls) -> Listing:
        instruments: List[Instrument] = [_stock(r, KOSPI) for r in _rows(_KOSPI)]
        instruments += [_stock(r, KOSDAQ) for r in _rows(_KOSDAQ)]
        instruments += [_etf(r) for r in _rows(_ETFS)]
        instruments += [_index(r) for r in _rows(_INDICES)]
        return cls(instruments, _EVENTS)

    def get(self, code: str) -> Optional[Instrument]:
        return self._by_code.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def codes(self, market: Optional[str] = None) -> List[str]:
        """Tradable codes (stocks and ETFs), optionally of one market ("0", "10", "8"); "" = all."""
        return [
            c for c, i in self._by_code.items()
            if not i.is_index and (not market or i.market == market)
        ]

    def instruments(self, market: Optional[str] = None) -> List[Instrument]:
        return [self._by_code[c] for c in self.codes(market)]

    def indices(self) -> List[Instrument]:
        return [i for i in self._by_code.values() if i.is_index]

    def events(self, code: str) -> Tuple[CorporateEvent, ...]:
        """Corporate events of `code`, oldest first."""
        return self._events.get(code, ())

    def constituents(self, index_code: str) -> List[str]:
        """Stocks belonging to a sector index (by market; 002/003/004 by market-cap tercile)."""
        kospi = [i for i in self.instruments(KOSPI)]
        if index_code == "101":
            return self.codes(KOSDAQ)
        if index_code in ("001", "201"):
            return [i.code for i in kospi]
        if index_code in ("002", "003", "004"):
            ranked = sorted(kospi, key=lambda i: -i.shares * i.base_price)
            third = max(1, len(ranked) // 3)
            part = {"002": ranked[:third], "003": ranked[third:2 * third], "004": ranked[2 * third:]}
            return [i.code for i in part[index_code]]
        return []
