"""The realtime stream between prints: book refreshes, 주식우선호가 without trades, 주식시세,
주식예상체결 in the auctions (consistent with opt10001 and the book), VI발동/해제, 장시작시간."""
from __future__ import annotations

from datetime import datetime

from koabus.common.clock import KST
from koabus.metadata import catalog, values
from koabus.services.sim.market import MarketConfig
from tests.services.sim.conftest import make_control, pump, recorded_control

REG = "SetRealReg(QString, QString, QString, QString)"
SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
GET = "GetCommData(QString, QString, int, QString)"
DAY = (2024, 6, 14)


def _at(h: int, m: int, s: int = 0) -> datetime:
    return datetime(*DAY, h, m, s, tzinfo=KST)


def _session(qapp, start: datetime, **overrides):
    return recorded_control(qapp, start=start, **overrides)


def _advance(qapp, control, seconds: float, step_s: float = 60.0) -> None:
    left = seconds
    while left > 0:
        control.sim.advance(min(step_s, left))
        pump(qapp, control)
        left -= step_s


def _real(rec, name: str, code: str = "005930"):
    """(values by FID, raw payload) of every OnReceiveRealData of one type, in order."""
    fids = catalog().realtype(name).fids
    out = []
    for _n, (c, kind, data), _x in rec.of("OnReceiveRealData"):
        if kind == name and c == code:
            fields = data.split("\t")
            assert len(fields) == len(fids), (name, len(fields))
            out.append(dict(zip(fids, fields)))
    return out


def _parses(name: str, row: dict) -> None:
    for fid, raw in row.items():
        if raw.strip():
            values.parse(catalog().fid(fid).kind if catalog().has_fid(fid) else "str", raw)


def _opt10001(qapp, control, rec, names):
    rec.readers["OnReceiveTrData"] = lambda *a: {n: control.dynamicCall(GET, a[2], "", 0, n).strip() for n in names}
    control.sim.reset_limits()
    control.dynamicCall(SET, "종목코드", "005930")
    assert control.dynamicCall(RQ, "rq", "opt10001", 0, "0101") == 0
    pump(qapp, control)
    got = rec.of("OnReceiveTrData")[-1][2]
    rec.readers.pop("OnReceiveTrData")
    return got


# 005930 prints several times a second at the realistic rate (every second has a print, and 5 s
# without one never happen at 10:00): the tests of what happens *between* prints thin them out.
SPARSE_PRINTS = {"trade_intensity": 0.05}


def test_book_refreshes_between_prints_at_a_steady_cadence(qapp):
    with _session(qapp, _at(10, 0), market_config=SPARSE_PRINTS) as (control, rec):
        assert control.dynamicCall(REG, "1000", "005930", "41;27;10", "0") == 0
        _advance(qapp, control, 30, step_s=7)
        books, trades = _real(rec, "주식호가잔량"), _real(rec, "주식체결")
        refresh_s = control.sim.market.cadence("005930", _at(10, 0).date()).interval_s
        assert refresh_s < 1.0  # an active code refreshes several times a second
        assert len(books) >= 0.9 * 30 / refresh_s, (len(books), refresh_s)
        trade_times = {t[20] for t in trades}
        assert [b for b in books if b[21] not in trade_times], "the book moves between prints"
        for b in books[:5]:
            _parses("주식호가잔량", b)
            assert b[23] == "0" and b[215] == "3"  # no indicative price in continuous trading
        # 주식우선호가 follows every change of the book's best, prints or not.
        bests = _real(rec, "주식우선호가")
        assert bests and (bests[-1][27], bests[-1][28]) == (books[-1][41], books[-1][51])
        assert len(bests) > len(trades) // 2
        # opt10004 read now shows the book of the last event.
        rec.readers["OnReceiveTrData"] = lambda *a: [control.dynamicCall(GET, a[2], "", 0, n).strip()
                                                     for n in ("매도최우선호가", "매도최우선잔량", "매수최우선호가")]
        control.dynamicCall(SET, "종목코드", "005930")
        assert control.dynamicCall(RQ, "rq", "opt10004", 0, "0102") == 0
        pump(qapp, control)
        assert rec.of("OnReceiveTrData")[-1][2] == [books[-1][41], books[-1][61], books[-1][51]]


def test_book_stream_is_deterministic_from_the_seed(qapp):
    runs = []
    for seed in (11, 11, 12):
        with _session(qapp, _at(8, 59, 30), seed=seed) as (control, rec):
            assert control.dynamicCall(REG, "1000", "000660", "41", "0") == 0
            _advance(qapp, control, 60, step_s=13)
            runs.append([e[1] for e in rec.of("OnReceiveRealData")])
    assert runs[0] == runs[1] and len(runs[0]) > 60
    assert runs[0] != runs[2]


def test_opening_auction_expected_price_converges_to_the_open(qapp):
    names = ["예상체결가", "예상체결수량", "현재가", "기준가"]
    with _session(qapp, _at(8, 29)) as (control, rec):
        assert control.dynamicCall(REG, "1000", "005930", "10;41", "0") == 0
        _advance(qapp, control, 16 * 60)  # 08:45
        expected = _real(rec, "주식예상체결")
        assert len(expected) > 100
        assert all("083000" <= e[20] <= "084500" for e in expected)
        for e in expected[:3] + expected[-3:]:
            _parses("주식예상체결", e)
        quotes = _real(rec, "주식시세")  # the indicative price moves without a print
        assert 1 <= len(quotes) <= 16
        # The book carries the same indicative price and quantity (FIDs 23/24) and the status.
        books = _real(rec, "주식호가잔량")
        auction_books = [b for b in books if b[21] >= "083000"]
        assert auction_books and all(b[215] == "0" and b[23] != "0" for b in auction_books)
        assert (books[-1][23], books[-1][24]) == (expected[-1][10], expected[-1][15].lstrip("+"))
        # opt10001 during the auction reports what the stream last said.
        info = _opt10001(qapp, control, rec, names)
        assert info["예상체결가"] == expected[-1][10]
        assert info["예상체결수량"] == expected[-1][15].lstrip("+")
        rec.clear()
        _advance(qapp, control, 16 * 60)  # 09:01
        expected += _real(rec, "주식예상체결")
        assert all(e[20] < "090000" for e in expected)
        first_print = next(t for t in _real(rec, "주식체결") if t[20] >= "090000")
        assert abs(int(expected[-1][10])) == abs(int(first_print[10]))  # converged to the open
        qtys = [int(e[15]) for e in expected]
        assert qtys[-1] >= qtys[0]
        info = _opt10001(qapp, control, rec, names)
        assert info["예상체결가"] == "-0" and info["예상체결수량"] == "0"  # as recorded outside auctions
        assert _real(rec, "주식호가잔량")[-1][23] == "0"


def test_closing_auction_expected_price_and_status(qapp):
    with _session(qapp, _at(15, 19, 30)) as (control, rec):
        assert control.dynamicCall(REG, "1000", "000660", "10", "0") == 0
        assert control.dynamicCall(REG, "1001", "", "215;20;214", "0") == 0
        _advance(qapp, control, 11 * 60)
        expected = _real(rec, "주식예상체결", "000660")
        assert expected and all("152000" <= e[20] < "153000" for e in expected)
        close_print = next(t for t in _real(rec, "주식체결", "000660") if t[20] == "153000")
        assert abs(int(expected[-1][10])) == abs(int(close_print[10]))
        status = [e[1][2].split("\t") for e in rec.of("OnReceiveRealData") if e[1][1] == "장시작시간"]
        assert [s[:2] for s in status] == [["2", f"15{m:02d}00"] for m in range(20, 30)] + [["4", "153000"]]


def test_quote_type_fires_without_prints_at_a_low_rate(qapp):
    with _session(qapp, _at(10, 0), market_config=SPARSE_PRINTS) as (control, rec):
        assert control.dynamicCall(REG, "1000", "005930", "10;27", "0") == 0
        _advance(qapp, control, 20 * 60)
        quotes = _real(rec, "주식시세")
        assert 0 < len(quotes) <= 20, len(quotes)  # at most one a minute
        stream = [(e[1][1], e[1][2].split("\t")) for e in rec.of("OnReceiveRealData")]
        best = None
        for kind, fields in stream:
            if kind == "주식우선호가":
                best = (fields[0], fields[1])
            elif kind == "주식시세":
                row = dict(zip(catalog().realtype("주식시세").fids, fields))
                _parses("주식시세", row)
                assert (row[27], row[28]) == best  # the quote it reports is the current best
        assert len(_real(rec, "주식체결")) > 5 * len(quotes)


def test_vi_trigger_and_release(qapp):
    config = MarketConfig(seed=5, vi_static_pct=1.0)  # frequent VIs, to see the mechanism
    with _session(qapp, _at(9, 0), seed=5, market_config=config) as (control, rec):
        assert control.dynamicCall(REG, "1000", "035720", "9068", "0") == 0
        _advance(qapp, control, 3600, step_s=300)
        vis = _real(rec, "VI발동/해제", "035720")
        assert vis and {e[1][:2] for e in rec.of("OnReceiveRealData")} == {("035720", "VI발동/해제")}
        on = [v for v in vis if v[9068] == "1"]
        off = [v for v in vis if v[9068] == "2"]
        assert on and len(off) >= len(on) - 1
        for v in on:
            _parses("VI발동/해제", v)
            assert v[9001] == "035720" and v[302] == "카카오" and v[1224] == "000000"
            assert abs(float(v[1238])) >= 1.0 or v[1225] == "2"
        for a, b in zip(on, off):
            assert b[1223] == a[1223] and b[1221] == a[1221]
            release = datetime.strptime(b[1224], "%H%M%S") - datetime.strptime(a[1223], "%H%M%S")
            assert 120 <= release.total_seconds() <= 151
        assert [int(v[1490]) for v in on] == list(range(1, len(on) + 1))
    # Market-wide: an empty code with a VI FID streams every stock's VIs.
    with _session(qapp, _at(9, 0), seed=5, market_config=config) as (control, rec):
        assert control.dynamicCall(REG, "1000", "", "9068", "0") == 0
        _advance(qapp, control, 600, step_s=300)
        codes = {e[1][0] for e in rec.of("OnReceiveRealData")}
        assert len(codes) > 3 and {e[1][1] for e in rec.of("OnReceiveRealData")} == {"VI발동/해제"}


def test_vi_is_rare_and_deterministic_by_default(qapp):
    with _session(qapp, _at(16, 0)) as (control, _rec):
        market = control.sim.market
        day = _at(0, 0).date()
        stocks = control.sim.world.stock_codes()
        events = [e for c in stocks for e in market.vi_events(c, day)]
        assert len(events) <= len(stocks) // 5
        for e in events:
            assert abs(e.static_gap_pct) >= 10.0 or abs(e.dynamic_gap_pct) >= 3.0
        again = make_control(qapp, start=_at(16, 0))
        try:
            assert [e for c in stocks for e in again.sim.market.vi_events(c, day)] == events
        finally:
            again.deleteLater()


def test_market_status_schedule(qapp):
    with _session(qapp, _at(7, 59)) as (control, rec):
        assert control.dynamicCall(REG, "1000", "", "215;20;214", "0") == 0
        _advance(qapp, control, 10 * 3600 + 120, step_s=300)
        status = [e[1][2].split("\t") for e in rec.of("OnReceiveRealData")]
        assert all(e[1][0] == "" and e[1][1] == "장시작시간" for e in rec.of("OnReceiveRealData"))
        pre = [["0", f"08{m:02d}00", f"00{60 - m:02d}00"] for m in range(40, 60)]
        assert status[:2] == [["0", "080000", "010000"], ["0", "083000", "003000"]]
        assert status[2:22] == pre
        assert status[22] == ["3", "090000", "000000"]
        assert [s[0] for s in status[23:]] == ["2"] * 10 + ["4", "a", "b", "8", "9"]
        assert [s[1] for s in status[-5:]] == ["153000", "154000", "160000", "160000", "180000"]
