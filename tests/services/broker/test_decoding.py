"""Unit tests of event decoding: realtime payloads and chejan FIDs to typed, wire-ready values."""
from __future__ import annotations

import json

from koabus.common.clock import KST, VirtualClock
from koabus.metadata import catalog
from koabus.services.broker.decoding import (
    ChejanDecoder,
    RealtimeDecoder,
    parse_fid_list,
    typed_fields,
    wire_value,
)


def _trace(shared_reference, name):
    path = shared_reference / "recorded-traces" / "mock-server-2022-01-18.json"
    return json.loads(path.read_text(encoding="utf-8"))["traces"][name]


def test_recorded_trade_payload_decodes_with_signs_resolved(shared_reference):
    from datetime import datetime

    event = _trace(shared_reference, "realtime_005930")[0]
    code, type_name, payload = event["args"]
    clock = VirtualClock(datetime(2022, 1, 18, 14, 30, tzinfo=KST), speed=0)
    decoder = RealtimeDecoder(catalog(), clock)
    slug, table = decoder.table(type_name)
    assert slug == "trade"
    raws = payload.split("\t")
    values = decoder.decode_fids(table, dict(zip(table.fids, raws)))
    assert values["current_price"] == 77100  # '-77100': below the reference, not negative
    assert values["change"] == -400 and values["change_rate"] == -0.52
    assert values["open"] == 77600 and values["volume"] == 3
    assert values["trade_time"] == "14:29:42"
    ns = decoder.event_ns(values)
    assert datetime.fromtimestamp(ns / 1e9, KST).strftime("%Y-%m-%d %H:%M:%S") == "2022-01-18 14:29:42"
    assert decoder.parse_failures == 0


def test_recorded_chejan_decodes_by_english_name(shared_reference):
    accepted = _trace(shared_reference, "order_market_buy_1_share")[2]
    fids = parse_fid_list(accepted["args"][2])
    assert len(fids) == accepted["args"][1] == 35
    values = ChejanDecoder(catalog()).decode(fids, dict(zip(fids, accepted["single"].values())))
    names = {catalog().fid(f).name_en for f in (9203, 9001, 913) if catalog().has_fid(f)}
    assert names <= set(values)
    assert values[catalog().fid(9001).name_en] == "005930"  # 'A' prefix dropped
    assert values[catalog().fid(10).name_en] == 77000


def test_typed_fields_and_wire_values():
    spec = catalog().tr("opt10081")
    row = typed_fields(spec.multi_outputs, ["005930", "-77000", "123", "", "20240105"] + [""] * 10, True)
    assert row["현재가"] == 77000 and row["일자"] == "2024-01-05" and row["거래대금"] is None
    raw = typed_fields(spec.multi_outputs, ["  005930 ", "-77000"], False)
    assert raw == {"종목코드": "005930", "현재가": "-77000"}
    assert parse_fid_list("9201;9203;;x;") == [9201, 9203]
    assert wire_value(3) == 3
