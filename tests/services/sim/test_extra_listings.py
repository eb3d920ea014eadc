"""The opt-in synthetic extension of the listing (`SimConfig.extra_listings`): load tests need more codes
than the ~336 real ones, so synthetic stocks must behave like listed ones everywhere a client looks
(code lists, master data, TRs, realtime registration and streaming) without touching the default."""
from __future__ import annotations

import pytest

from koabus.services.sim.config import SimConfig
from koabus.services.sim.market.listing import KOSDAQ, KOSPI, MAX_SYNTHETIC, Listing, synthetic_instruments
from koabus.services.sim.market.market import CADENCE_CACHE_BYTES
from tests.services.sim.conftest import pump, recorded_control

REG = "SetRealReg(QString, QString, QString, QString)"
CODES = "GetCodeListByMarket(QString)"
NAME = "GetMasterCodeName(QString)"
SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
GET = "GetCommData(QString, QString, int, QString)"
EXTRA = 250


@pytest.fixture
def extended(qapp):
    with recorded_control(qapp, extra_listings=EXTRA) as pair:
        yield pair


def _synthetic(listing: Listing):
    real = set(Listing.default().codes())
    return [i for i in listing.instruments() if i.code not in real]


def test_default_lists_only_the_real_codes(qapp, sim):
    assert SimConfig().extra_listings == 0
    real = Listing.default().codes()
    assert Listing.default(0).codes() == real
    assert not [c for c in real if c.startswith("99")]
    listed = sim.dynamicCall(CODES, "").split(";")
    assert [c for c in listed if c] == real
    assert sim.dynamicCall(NAME, "990001") == ""


def test_synthetic_codes_are_valid_unique_and_clear_of_the_real_ones():
    listing = Listing.default(600)
    synthetic = _synthetic(listing)
    codes = [i.code for i in synthetic]
    assert len(codes) == len(set(codes)) == 600
    assert all(len(c) == 6 and c.isdigit() and c.startswith("99") for c in codes)
    assert codes[0] == "990001" and codes[-1] == "990600"
    assert [i.name for i in synthetic[:2]] == ["합성종목0001", "합성종목0002"]
    markets = [i.market for i in synthetic]
    assert markets.count(KOSPI) == markets.count(KOSDAQ) == 300
    for inst in synthetic:
        assert inst.kind == "stock" and inst.shares >= 8_000_000 and 1_500 <= inst.base_price <= 120_000
        assert inst.listed_date.weekday() < 5 and inst.listed_date.year < 2020
        assert inst.factor == ("001" if inst.market == KOSPI else "101")
    # the real listing keeps its order in front of them
    assert listing.codes()[:len(Listing.default().codes())] == Listing.default().codes()


def test_synthetic_stocks_are_deterministic_and_prefix_stable():
    assert synthetic_instruments(40) == synthetic_instruments(600)[:40]
    synthetic_instruments.cache_clear()
    again = synthetic_instruments(40)
    assert again == synthetic_instruments(600)[:40]


@pytest.mark.parametrize("bad", [-1, MAX_SYNTHETIC + 1, 1.5, True])
def test_bad_counts_are_refused(bad):
    with pytest.raises(ValueError):
        Listing.default(bad)
    if not (isinstance(bad, int) and not isinstance(bad, bool) and bad > MAX_SYNTHETIC):
        with pytest.raises(ValueError):
            SimConfig(extra_listings=bad)


def test_code_lists_and_master_data_include_them(qapp, extended):
    control, _ = extended
    kospi = control.dynamicCall(CODES, "0").split(";")
    kosdaq = control.dynamicCall(CODES, "10").split(";")
    assert "990001" in kospi and "990002" not in kospi
    assert "990002" in kosdaq and "990001" not in kosdaq
    assert len([c for c in kospi + kosdaq if c.startswith("99")]) == EXTRA
    assert control.dynamicCall(NAME, "990250") == "합성종목0250"
    assert int(control.dynamicCall("GetMasterLastPrice(QString)", "990001")) > 0
    assert int(control.dynamicCall("GetMasterListedStockCnt(QString)", "990002")) > 0


def test_opt10001_answers_for_a_synthetic_code(qapp, extended):
    control, rec = extended
    rec.readers["OnReceiveTrData"] = lambda *a: {
        item: control.dynamicCall(GET, a[2], "", 0, item).strip() for item in ("종목코드", "종목명", "현재가", "상장주식")}
    control.dynamicCall(SET, "종목코드", "990003")
    assert control.dynamicCall(RQ, "rq", "opt10001", 0, "0101") == 0
    pump(qapp, control)
    got = rec.of("OnReceiveTrData")[0][2]
    assert got["종목코드"] == "990003" and got["종목명"] == "합성종목0003"
    assert abs(int(got["현재가"])) > 0 and int(got["상장주식"]) > 0


def test_every_synthetic_code_registers_and_streams(qapp, extended):
    control, rec = extended
    codes = [i.code for i in _synthetic(control.sim.world.listing)]
    assert len(codes) == EXTRA
    assert control.dynamicCall(REG, "2000", ";".join(codes[:101]), "10;41", "0") == -204  # 100 per screen
    for n, start in enumerate(range(0, EXTRA, 100)):
        assert control.dynamicCall(REG, f"{2000 + n:04d}", ";".join(codes[start:start + 100]), "10;41", "0") == 0
    assert set(codes) <= set(control._realtime.active_codes)
    control.sim.advance(120)
    pump(qapp, control, timeout_s=30)
    events = rec.of("OnReceiveRealData")
    by_type = {}
    for _name, (code, real_type, payload), _extra in events:
        by_type.setdefault(real_type, set()).add(code)
        if real_type == "주식체결":
            assert abs(int(payload.split("\t")[1])) > 0
    assert by_type.get("주식호가잔량", set()) >= set(codes)  # every code's book refreshes within 2 minutes
    assert len(by_type.get("주식체결", set()) & set(codes)) > EXTRA // 2


def test_the_market_keeps_every_listed_codes_path(qapp, sim, extended):
    control, _ = extended
    listing = control.sim.world.listing
    listed = len(listing.codes()) + len(listing.indices())
    market, default = control.sim.world.market, sim.sim.world.market
    assert market.config.path_cache_days >= 2 * listed
    assert market.config.path_cache_prints > default.config.path_cache_prints
    assert market._cadence_limit > CADENCE_CACHE_BYTES
    # the default stays as it was
    assert (default.config.path_cache_days, default.config.path_cache_prints) == (512, 4_000_000)
    assert default._cadence_limit == 0
