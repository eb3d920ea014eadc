"""The catalog loader: lookups, NotFound, case-insensitivity, caching and overlay precedence."""
from __future__ import annotations

import json

import pytest

from koabus.common.errors import NotFound
from koabus.metadata import catalog, clear_cache
from koabus.metadata.catalog import DATA_DIR, Catalog

REQUIRED_TRS = (
    "opt10001 opt10004 opt10079 opt10080 opt10081 opt10082 opt10083 opt10094 opt10075 opt10076 opt10085 "
    "opt10059 opt10030 opt20006 opw00001 opw00004 opw00007 opw00018 optkwfid"
).split()
REQUIRED_SLUGS = (
    "quote trade best book afterhours_book expected brokers program vi market_status index index_breadth "
    "etf_nav order balance fo_balance stock_info"
).split()


def test_second_call_returns_the_cached_object():
    assert catalog() is catalog()


def test_required_trs_present_and_case_insensitive():
    cat = catalog()
    for code in REQUIRED_TRS:
        assert cat.tr(code) is cat.tr(code.upper())
    assert cat.tr("OPTKWFID").display_code == "OPTKWFID"
    assert cat.tr("opt10081").display_code == "opt10081"


def test_unknown_tr_raises_notfound_with_one_line_message():
    with pytest.raises(NotFound) as exc:
        catalog().tr("opt99998x")
    assert "opt99998x" in str(exc.value) and "\n" not in str(exc.value)


def test_tr_details():
    cat = catalog()
    daily = cat.tr("opt10081")
    assert daily.input_names == ("종목코드", "기준일자", "수정주가구분")
    assert daily.inputs[2].values == {"0": "raw", "1": "adjusted"}
    assert daily.rows_per_page == 600 and not daily.needs_account
    assert daily.field("현재가").kind == "price" and daily.field("date").name == "일자"
    assert cat.tr("opt10080").field("체결시간").kind == "datetime"
    bal = cat.tr("opw00018")
    assert bal.needs_account and bal.rows_per_page is None and bal.count_field == "조회건수"
    assert {i.name: i.default for i in bal.inputs}["비밀번호입력매체구분"] == "00"
    assert {i.name: i.default for i in bal.inputs}["비밀번호"] == ""
    assert cat.tr("opw00001").count_field == "출력건수"
    assert len(cat.tr("opw00001").single_outputs) >= 67
    assert len(cat.tr("optkwfid").multi_outputs) == 63
    assert cat.tr("opt10004").rows_per_page == 0
    with pytest.raises(KeyError):
        daily.field("nonexistent")


def test_realtypes_by_name_slug_gidc_and_alias():
    cat = catalog()
    assert {rt.slug for rt in cat.realtypes()} >= set(REQUIRED_SLUGS)
    trade = cat.realtype("주식체결")
    assert cat.realtype("trade") is trade and cat.realtype("0B") is trade
    assert trade.fids[:3] == (20, 10, 11) and 852 in trade.fids
    assert 852 in cat.realtype("quote").fids
    assert cat.realtype("잔고") is cat.realtype("현물잔고")
    assert cat.realtype("종목프로그램매매").slug == "program"
    assert cat.realtype("0g").slug == "stock_info" and cat.realtype("0G").slug == "etf_nav"
    for rt in cat.realtypes():
        assert rt.slug.replace("_", "").isalnum() and rt.slug.isascii() and rt.slug == rt.slug.lower()
    with pytest.raises(NotFound):
        cat.realtype("주식체결X")


def test_fids_errors_methods_events():
    cat = catalog()
    assert (cat.fid(10).name, cat.fid(10).name_en, cat.fid(10).kind) == ("현재가", "current_price", "price")
    assert cat.fid(15).kind == "signed" and cat.fid(20).kind == "time" and cat.fid(567).kind == "maybe_time"
    with pytest.raises(NotFound):
        cat.fid(123456)
    err = cat.error(-200)
    assert err.constant == "OP_ERR_SISE_OVERFLOW" and err.message_ko == "시세조회 과부하"
    assert cat.error(-1).wrapper_only and not cat.error(-308).wrapper_only
    assert {e.code for e in cat.errors()} >= {1, 0, -10, -13, -22, -100, -108, -200, -211, -300, -311, -340, -500}
    with pytest.raises(NotFound):
        cat.error(-501)
    methods = cat.methods()
    assert [m.dispid for m in methods] == list(range(1, 59))
    rq = cat.method("CommRqData")
    assert rq.signature == "CommRqData(QString, QString, int, QString)" and rq.returns == "int"
    assert cat.method("commrqdata(const QString&, const QString&, int, const QString&)") is rq
    assert not cat.method("CommTerminate").supported and not cat.method("SetOutputFID").supported
    assert not cat.method("CommInvestRqData").supported
    assert cat.method("GetCommDataEx").returns == "list" and cat.method("SendCondition").returns == "bool"
    assert not cat.method("GetAPIModulePath").needs_login and cat.method("GetCodeListByMarket").needs_login
    with pytest.raises(NotFound):
        cat.method("CommRqDataX")
    events = cat.events()
    assert [e.dispid for e in events] == list(range(1, 10))
    assert len(cat.event("OnReceiveTrData").args) == 9
    assert cat.event("OnReceiveChejanData").signature == "OnReceiveChejanData(QString, int, QString)"


def test_chejan_and_enums():
    cat = catalog()
    assert len(cat.chejan_fids("0")) == 35 and cat.chejan_fids("0")[-1] == 819
    assert len(cat.chejan_fids("1")) == 34
    assert cat.chejan_fids("4")[0] == 9201
    with pytest.raises(NotFound):
        cat.chejan_fids("9")
    assert cat.enum("hoga_mock") == {"00": "limit", "03": "market"}
    assert set(cat.enum("hoga_price_zero")) <= set(cat.enum("hoga"))
    assert cat.enum("order_type")["1"] == "new buy"
    assert cat.enum("market")["10"] == "KOSDAQ"
    assert "GetServerGubun" in cat.enum("login_info") and "GetServerGubun" in cat.enum("koa_functions")
    for name in ("fo_order_kind", "fo_hoga", "credit", "chejan_gubun", "market_status", "session",
                 "change_sign", "side", "sector", "condition_search", "condition_rules"):
        assert cat.enum(name) and cat.enum_doc(name)
    enum = cat.enum("hoga")
    enum.clear()  # a copy: the catalog's table is untouched
    assert cat.enum("hoga")
    with pytest.raises(NotFound):
        cat.enum("nope")


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")


def test_overlay_takes_precedence_entry_by_entry(tmp_path):
    overlay = tmp_path / "imported"
    overlay.mkdir()
    _write(overlay / "trs.json", {"trs": {
        "OPT10081": {"name": "주식일봉차트조회요청(신)", "inputs": [{"name": "종목코드"}],
                     "single": {"record": "S", "fields": [["종목코드", "code", "code", 9001]]},
                     "multi": {"record": "M", "rows_per_page": 500, "count_field": None, "fields": []}},
        "opt99990": {"name": "새TR", "inputs": [], "single": {"record": "", "fields": []},
                     "multi": {"record": "", "rows_per_page": None, "count_field": None, "fields": []}},
    }})
    _write(overlay / "fids.json", {"fids": {"9081": ["거래소구분", "exchange", "str"], "10": ["현재가", "px", "price"]}})
    clear_cache()
    try:
        over = catalog(overlay_dir=overlay)
        assert over is catalog(overlay_dir=overlay) and over is not catalog()
        assert over.tr("opt10081").rows_per_page == 500
        assert over.tr("opt99990").name == "새TR"
        assert over.tr("opt10001").name == catalog().tr("opt10001").name  # untouched entries stay
        assert over.fid(9081).name_en == "exchange" and over.fid(10).name_en == "px"
        assert over.fid(11).name_en == "change"
        assert catalog().tr("opt10081").rows_per_page == 600
        with pytest.raises(NotFound):
            catalog().tr("opt99990")
    finally:
        clear_cache()


def test_catalog_can_be_built_directly_from_the_data_dir():
    cat = Catalog(DATA_DIR)
    assert cat.tr("opt10001").name == "주식기본정보요청"


def test_missing_overlay_folder_is_an_error(tmp_path):
    with pytest.raises(NotFound, match="overlay"):
        catalog(overlay_dir=tmp_path / "nowhere")
