"""Every value in the recorded real-control traces parses with our kinds to the value a human reads."""
from __future__ import annotations

import json
from datetime import date, time

import pytest

from koabus.metadata import catalog, values


@pytest.fixture(scope="module")
def traces(shared_reference):
    path = shared_reference / "recorded-traces" / "mock-server-2022-01-18.json"
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)["traces"]


def test_opt10001_single_values(traces):
    spec = catalog().tr("opt10001")
    single = traces["tr_opt10001"][0]["single"]
    assert tuple(single) == spec.single_names
    parsed = {spec.field(k).name_en: values.parse(spec.field(k).kind, v) for k, v in single.items()}
    assert parsed["current_price"] == 77000
    assert parsed["change"] == -500
    assert parsed["change_rate"] == -0.65
    assert parsed["open"] == 77600 and parsed["lower_limit"] == 54300 and parsed["reference_price"] == 77500
    assert parsed["expected_price"] == 0
    assert parsed["high_250d_date"] == date(2021, 1, 15)
    assert parsed["code"] == "005930" and parsed["par_value_unit"] == "원"
    assert parsed["market_cap_weight"] is None


def test_optkwfid_rows(traces):
    event = traces["condition_search_with_optkwfid"][1]
    spec = catalog().tr(event["args"][2])
    assert event["multi"]["names"] == list(spec.multi_names)
    for row in event["multi"]["rows"]:
        parsed = {f.name_en: values.parse(f.kind, raw) for f, raw in zip(spec.multi_outputs, row)}
        assert isinstance(parsed["current_price"], int) and parsed["current_price"] > 0
        assert parsed["elw_expiry"] is None
        assert isinstance(parsed["trade_time"], time)
    first = dict(zip(spec.multi_names, event["multi"]["rows"][0]))
    assert values.parse(spec.field("체결량").kind, first["체결량"]) == -130


def test_realtime_payloads_split_onto_fids(traces):
    cat = catalog()
    for event in traces["realtime_005930"]:
        code, real_type, payload = event["args"]
        rt = cat.realtype(real_type)
        raw = payload.split("\t")
        assert len(raw) <= len(rt.fids)
        parsed = {fid: values.parse_fid(fid, text) for fid, text in zip(rt.fids, raw)}
        if rt.slug == "trade":
            assert len(raw) == len(rt.fids) - 1  # the 2022-01 module predates FID 852
            assert parsed[20] == time(14, 29, 42) or isinstance(parsed[20], time)
            assert parsed[10] > 0 and parsed[13] > 0
            assert parsed[567] is None and parsed[568] is None
            assert isinstance(parsed[15], int)


def test_chejan_values(traces):
    cat = catalog()
    for event in traces["order_market_buy_1_share"]:
        if event["event"] != "OnReceiveChejanData":
            continue
        gubun, count, fid_list = event["args"]
        fids = tuple(int(f) for f in fid_list.strip(";").split(";"))
        assert fids == cat.chejan_fids(gubun) and count == len(fids)
        parsed = {fid: values.parse_fid(fid, raw) for fid, raw in zip(fids, event["single"].values())}
        assert parsed[9001] == "005930"
        assert parsed[10] == 77000
        if gubun == "0":
            assert parsed[9203] == "0163911" and parsed[904] == "0000000"
            assert isinstance(parsed[908], time)
        else:
            assert parsed[931] == 77150 and parsed[11] == -500 and parsed[916] is None
