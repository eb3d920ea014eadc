"""Lake schemas and publications -> Arrow: every realtime type and value kind, real wire bodies, junk."""
from __future__ import annotations

import json
from datetime import date, datetime, time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from koabus.common.clock import KST
from koabus.common.errors import NotFound
from koabus.common.lake import schema
from koabus.common.lake.schema import arrow_schema, table_of, to_arrow, trading_date
from koabus.common.protocol.publication import Publication
from koabus.metadata import values as metadata_values
from koabus.metadata.catalog import catalog
from koabus.metadata.specs import VALUE_KINDS
from koabus.services.broker.decoding import FieldTable, parser_for

COMMON = [f.name for f in schema.COMMON_FIELDS]
EPOCH = 7_671_792_077_991_806_210
# 2026-12-03 09:00:10 KST
EVENT_NS = int(datetime(2026, 12, 3, 9, 0, 10, tzinfo=KST).timestamp()) * 1_000_000_000

# one typed sample per value kind, as the control would carry it after format_value
SAMPLES = {
    "str": "abc", "code": "005930", "int": 12345, "signed": -321, "price": 70100, "float": -0.52,
    "date": date(2026, 12, 3), "time": time(9, 0, 10), "maybe_time": time(15, 20, 0),
    "datetime": datetime(2026, 12, 3, 9, 1, 0, tzinfo=KST), "bool": True,
}


def _raw(kind: str) -> str:
    if kind == "price":  # the direction prefix the OCX puts on prices
        return metadata_values.price_text(SAMPLES[kind], SAMPLES[kind] - 100)
    if kind == "code":
        return "A" + SAMPLES[kind]
    return metadata_values.format_value(kind, SAMPLES[kind])


def _wire(pub: Publication) -> Publication:
    """The publication as a subscriber gets it: through the real frames and msgpack."""
    return Publication.from_frames(pub.to_frames())


def _rt_pub(slug: str, values: dict, seq: int = 1, code: str = "005930", event_ns=EVENT_NS) -> Publication:
    realtype = catalog().realtype(slug)
    return _wire(Publication(f"rt.{slug}.{code}", "RT", EPOCH, seq, seq, event_ns, EVENT_NS + 5_000_000 + seq,
                             {"type": realtype.name, "code": code, "values": values}))


def _expected(kind: str, wire_value):
    """What the lake must hold for a wire value of `kind`."""
    if wire_value is None:
        return None
    if kind in ("time", "maybe_time"):
        return time.fromisoformat(wire_value)
    if kind == "date":
        return date.fromisoformat(wire_value)
    if kind == "datetime":
        return datetime.fromisoformat(wire_value)
    return wire_value


def test_every_value_kind_has_an_arrow_type():
    assert set(VALUE_KINDS) <= set(schema.KIND_TYPES)
    for fid in catalog().fids():
        assert fid.kind in schema.KIND_TYPES, fid


@pytest.mark.parametrize("kind", VALUE_KINDS)
def test_every_value_kind_converts_its_wire_form(kind):
    parser = parser_for(kind)
    wire_value = parser(_raw(kind))
    array = schema.convert_column(kind, schema.KIND_TYPES[kind], [wire_value, None])
    assert array.type == schema.KIND_TYPES[kind]
    assert array.to_pylist() == [_expected(kind, wire_value), None]
    assert array.to_pylist()[0] == SAMPLES[kind]


@pytest.mark.parametrize("slug", [rt.slug for rt in catalog().realtypes()])
def test_every_realtime_type_converts_a_broker_decoded_event(slug):
    realtype = catalog().realtype(slug)
    table = FieldTable(realtype.fids, catalog())
    raws = [_raw(catalog().fid(f).kind) if catalog().has_fid(f) else "x" for f in realtype.fids]
    wire_values, failures = table.decode(raws)
    assert failures == 0
    pubs = [_rt_pub(slug, wire_values, seq=1), _rt_pub(slug, wire_values, seq=2)]
    name = table_of(pubs[0].topic)
    assert name == f"rt_{slug}"

    out = to_arrow(name, pubs)

    assert out.schema == arrow_schema(name)
    columns = schema.table_spec(name).columns
    assert [c.key for c in columns] == list(table.names)  # the broker's wire names, in payload order
    assert len(set(out.column_names)) == len(out.column_names)
    assert out.column_names[:len(COMMON)] == COMMON
    assert out.num_rows == 2
    row = out.to_pylist()[1]
    for fid, column in zip(realtype.fids, columns):
        kind = catalog().fid(fid).kind
        assert row[column.name] == _expected(kind, wire_values[column.key]), (column, kind)
    assert row["seq"] == 2 and row["epoch"] == EPOCH and row["code"] == "005930"
    assert row["topic"] == f"rt.{slug}.005930" and row["snapshot"] is False
    assert row["event_time"] == datetime(2026, 12, 3, 9, 0, 10, tzinfo=KST)


@pytest.mark.parametrize("gubun, kind", [("0", "order"), ("1", "balance"), ("4", "fo_balance")])
def test_chejan_column_names_match_the_broker(gubun, kind):
    wire_names = FieldTable(catalog().chejan_fids(gubun), catalog()).names
    columns = schema.table_spec(f"ch_{kind}").columns
    assert [c.name for c in columns[:4]] == ["account", "gubun", "order_no", "client_order_id"]
    assert [c.key for c in columns[4:-1]] == list(wire_names) and columns[-1].name == "raw"
    names = arrow_schema(f"ch_{kind}").names
    assert len(set(names)) == len(names)  # the account / order_no / code FIDs get a _<fid> suffix
    if gubun == "0":
        assert {"account_9201", "order_no_9203", "code_9001"} <= set(names)


def test_a_simulated_trade_keeps_its_values():
    from koabus.services.sim.fidvalues import DayState, InstrumentInfo

    realtype = catalog().realtype("trade")
    day = DayState(InstrumentInfo("005930", ref=70000, upper=91000, lower=49000, shares=5_969_782_550))
    t0 = EVENT_NS / 1e9
    day.apply(t0, 70100, 10)
    day.apply(t0 + 1, 69900, -250)
    wire_values, failures = FieldTable(realtype.fids, catalog()).decode(day.trade_values(realtype.fids))
    assert failures == 0
    pub = _rt_pub("trade", wire_values)

    row = to_arrow("rt_trade", [pub]).to_pylist()[0]

    assert row["current_price"] == 69900
    assert row["volume"] == -250  # sell-initiated tick volume keeps its sign
    assert row["cum_volume"] == 260
    assert row["open"] == 70100 and row["high"] == 70100 and row["low"] == 69900
    assert row["trade_time"] == time(9, 0, 11)
    assert row["open_time"] == time(9, 0, 10)
    assert row["upper_limit_time"] is None  # '000000': not hit yet
    for col, value in wire_values.items():
        if not isinstance(value, str) or col.endswith("_time"):
            continue
        assert row[col] == value


def test_sector_index_points_keep_their_fractions():
    values = {"trade_time": "09:00:10", "current_price": 2733.31, "change": -9.47, "change_rate": -0.35,
              "volume": 357, "cum_volume": 14763, "cum_trade_value": 0, "open": 2733.7, "high": 2733.7,
              "low": 2733.31, "change_sign": "5", "volume_change": 0}
    row = to_arrow("rt_index", [_rt_pub("index", values, code="001")]).to_pylist()[0]
    assert row["current_price"] == 2733.31 and row["change"] == -9.47 and row["low"] == 2733.31
    assert row["volume"] == 357 and arrow_schema("rt_index").field("volume").type == pa.int64()


def test_none_and_garbage_become_null_without_dropping_rows():
    good = {"ask": 70100, "bid": 70000}
    pubs = [
        _rt_pub("best", good, seq=1),
        _rt_pub("best", {"ask": None, "bid": "garbage"}, seq=2),
        _rt_pub("best", {"ask": 2.5, "bid": 3.0}, seq=3),  # a fraction cannot be a KRW price
        Publication("rt.best.005930", "RT", EPOCH, 4, 4, EVENT_NS, EVENT_NS,  # msgpack cannot carry 2**70
                    {"code": "005930", "values": {"ask": 2 ** 70, "bid": True}}),
        _rt_pub("best", {"ask": [1, 2], "bid": {"x": 1}}, seq=5),
        _rt_pub("best", {"bid": " 1,234 "}, seq=6),  # a missing key, a number left as text
        _rt_pub("best", good, seq=7, event_ns=None),
    ]
    out = to_arrow("rt_best", pubs)
    assert out.num_rows == len(pubs)
    assert out.column("seq").to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert out.column("ask").to_pylist() == [70100, None, None, None, None, None, 70100]
    assert out.column("bid").to_pylist() == [70000, None, 3, None, None, 1234, 70000]
    assert out.column("event_time").null_count == 1
    body_missing = _wire(Publication("rt.best.005930", "RT", EPOCH, 8, 8, None, EVENT_NS, {"code": 5930}))
    row = to_arrow("rt_best", [body_missing]).to_pylist()[0]
    assert row["ask"] is None and row["code"] == "5930"


@pytest.mark.parametrize("kind, junk, expected", [
    ("time", ["09:00:10", "090010", "0900", "25:00:00", "12:61:00", "abc", 900, None, ["x"]],
     [time(9, 0, 10), time(9, 0, 10), time(9, 0), None, None, None, None, None, None]),
    ("date", ["2026-12-03", "20261203", "00000000", "2026-02-30", 5, None],
     [date(2026, 12, 3), date(2026, 12, 3), None, None, None, None]),
    ("float", [1, 2.5, "3.5", "x", None, True], [1.0, 2.5, 3.5, None, None, None]),
    ("str", ["a", 5, 1.5, None, b"\x00", {"k": 1}], ["a", "5", "1.5", None, None, None]),
    ("bool", [True, False, "1", "N", 1, 7, None], [True, False, True, False, True, None, None]),
    ("datetime", ["2026-12-03T09:01:00+09:00", "20261203090100", "202612030901", "00000000000000", "x"],
     [datetime(2026, 12, 3, 9, 1, tzinfo=KST)] * 3 + [None, None]),
])
def test_unfit_values_of_each_kind_become_null(kind, junk, expected):
    array = schema.convert_column(kind, schema.KIND_TYPES[kind], junk)
    assert len(array) == len(junk)
    assert array.to_pylist() == expected


def test_snapshot_flags_and_empty_batches():
    pubs = [_rt_pub("best", {"ask": 1, "bid": 2}, seq=i) for i in (1, 2, 3)]
    out = to_arrow("rt_best", pubs, snapshot_flags=[True, False, True])
    assert out.column("snapshot").to_pylist() == [True, False, True]
    with pytest.raises(ValueError):
        to_arrow("rt_best", pubs, snapshot_flags=[True])
    empty = to_arrow("rt_trade", [])
    assert empty.num_rows == 0 and empty.schema == arrow_schema("rt_trade")


def test_chejan_cond_and_sys_bodies():
    ch = _wire(Publication("ch.8000000011.order", "CHEJAN", EPOCH, 10, 1, EVENT_NS, EVENT_NS, {
        "gubun": "0", "account": "8000000011", "code": "005930", "order_no": "0012345",
        "client_order_id": "c-1", "values": {"account": "8000000011", "order_no": "0012345",
                                             "code": "005930", "order_price": 70100, "fill_qty": 3,
                                             "order_time": "09:00:10"},
        "raw": {"9203": "0012345", "901": "+70100"}}))
    cond = _wire(Publication("cond.3", "COND", EPOCH, 11, 1, None, EVENT_NS,
                             {"index": 3, "name": "breakout", "code": "000660", "kind": "I"}))
    sysmsg = _wire(Publication("sys.throttle", "SYS", EPOCH, 12, 1, None, EVENT_NS,
                               {"state": "start", "kind": "tr", "queue_depth": 2, "wait_s": 0.5}))

    row = to_arrow(table_of(ch.topic), [ch]).to_pylist()[0]
    assert table_of(ch.topic) == "ch_order"
    assert (row["account"], row["gubun"], row["order_no"], row["client_order_id"]) == (
        "8000000011", "0", "0012345", "c-1")
    assert (row["account_9201"], row["order_no_9203"], row["code_9001"]) == ("8000000011", "0012345", "005930")
    assert row["order_price"] == 70100.0 and row["fill_qty"] == 3 and row["order_time"] == time(9, 0, 10)
    assert row["fill_price"] is None
    assert json.loads(row["raw"]) == {"9203": "0012345", "901": "+70100"}

    row = to_arrow(table_of(cond.topic), [cond]).to_pylist()[0]
    assert (row["index"], row["name"], row["kind"], row["code"]) == (3, "breakout", "I", "000660")
    assert arrow_schema("cond").field("index").type == pa.int32()

    row = to_arrow(table_of(sysmsg.topic), [sysmsg]).to_pylist()[0]
    assert row["kind"] == "throttle" and row["code"] == "" and row["event_time"] is None
    assert json.loads(row["body"]) == sysmsg.body


def _alert_pub(seq: int, **fields) -> Publication:
    from koabus.services.alerting.alert import Alert

    alert = Alert(**{"rule": "samsung_drop", "kind": "price", "severity": "warning", "title": "삼성전자 급락",
                     "text": "005930 fell 3.1%", "code": "005930", "time_ns": EVENT_NS, "dedup_key": "005930",
                     "values": {"price": 68900, "change_pct": -3.1, "name": "삼성전자", "levels": [1, 2]},
                     "notify": ("log", "telegram"), **fields})
    return _wire(Publication(f"alert.{alert.rule}", "ALERT", EPOCH, seq, seq, alert.time_ns or None,
                             EVENT_NS + 1_000_000, alert.to_body()))


def test_alerts_keep_the_alert_body_with_its_values_as_json():
    pub = _alert_pub(4)
    assert table_of(pub.topic) == "alerts"
    assert arrow_schema("alerts").names == COMMON + ["rule", "kind", "severity", "title", "text", "dedup_key",
                                                      "values", "notify"]
    assert all(arrow_schema("alerts").field(n).type == pa.string() for n in arrow_schema("alerts").names[8:])
    row = to_arrow("alerts", [pub, _alert_pub(5, notify=(), values={}, code="")]).to_pylist()
    first = row[0]
    assert first["event_time"] == datetime(2026, 12, 3, 9, 0, 10, tzinfo=KST)
    assert (first["topic"], first["topic_seq"], first["code"], first["snapshot"]) == (
        "alert.samsung_drop", 4, "005930", False)
    body = pub.body
    assert {k: first[k] for k in ("rule", "kind", "severity", "title", "text", "dedup_key")} == {
        k: body[k] for k in ("rule", "kind", "severity", "title", "text", "dedup_key")}
    assert json.loads(first["values"]) == body["values"] and first["notify"] == "log,telegram"
    assert (row[1]["values"], row[1]["notify"], row[1]["code"]) == ("{}", "", "")


def test_a_malformed_alert_body_is_a_row_of_nulls_not_a_lost_row():
    pub = _wire(Publication("alert.odd", "ALERT", EPOCH, 1, 1, None, EVENT_NS,
                            {"rule": 7, "notify": "log", "values": [1, 2]}))
    row = to_arrow("alerts", [pub]).to_pylist()[0]
    assert (row["rule"], row["notify"], row["values"], row["title"]) == ("7", "log", "[1,2]", None)


def test_a_realtime_type_the_catalog_lacks_is_kept_whole():
    pub = _wire(Publication("rt.newtype.005930", "RT", EPOCH, 1, 1, None, EVENT_NS,
                            {"type": "새타입", "code": "005930", "values": {"a": 1, "b": "x"}}))
    assert table_of(pub.topic) == "rt_newtype"
    row = to_arrow("rt_newtype", [pub]).to_pylist()[0]
    assert json.loads(row["values"]) == {"a": 1, "b": "x"}


@pytest.mark.parametrize("topic, table", [
    ("rt.trade.005930", "rt_trade"), ("rt.index.001", "rt_index"), ("rt.market_status._", "rt_market_status"),
    ("ch.8000000011.balance", "ch_balance"), ("ch.8000000011.fo_balance", "ch_fo_balance"),
    ("cond.12", "cond"), ("sys.conn", "sys"), ("sys.msg", "sys"), ("sys.throttle", "sys"), ("sys.reject", "sys"),
    ("alert.samsung_drop", "alerts"), ("alert.x.y", "alerts"), ("alert.", None), ("alert", None),
    ("sys.hb", None), ("sys.hb.recorder", None), ("sys.status", None), ("sys.other", None),
    ("rt..x", None), ("rt.a/b.x", None), ("ch.order", None), ("ch.1.cash", None), ("cond", None),
    ("misc.x", None), ("", None),
])
def test_table_of(topic, table):
    assert table_of(topic) == table


def test_trading_date_is_the_kst_date_of_exchange_time_else_receive_time():
    # 2026-12-02 23:30 UTC is 2026-12-03 08:30 KST
    utc_late = int(datetime(2026, 12, 3, 8, 30, tzinfo=KST).timestamp()) * 10 ** 9
    before_midnight = int(datetime(2026, 12, 2, 23, 59, 59, tzinfo=KST).timestamp()) * 10 ** 9
    pub = Publication("rt.best.005930", "RT", EPOCH, 1, 1, before_midnight, utc_late, {})
    assert trading_date(pub) == "2026-12-02"
    pub = Publication("rt.best.005930", "RT", EPOCH, 1, 1, None, utc_late, {})
    assert trading_date(pub) == "2026-12-03"


def test_group_publications_by_table_and_date():
    late = int(datetime(2026, 12, 4, 0, 0, 1, tzinfo=KST).timestamp()) * 10 ** 9
    pubs = [_rt_pub("best", {"ask": 1, "bid": 1}, seq=1), _rt_pub("trade", {}, seq=2),
            _rt_pub("best", {"ask": 1, "bid": 1}, seq=3, event_ns=late),
            Publication("sys.hb", "HB", EPOCH, 4, 1, None, EVENT_NS, {}),
            _rt_pub("best", {"ask": 1, "bid": 1}, seq=5)]
    groups = schema.group_publications(pubs)
    assert {k: [p.seq for p in v] for k, v in groups.items()} == {
        ("rt_best", "2026-12-03"): [1, 5], ("rt_trade", "2026-12-03"): [2], ("rt_best", "2026-12-04"): [3]}


def test_unknown_tables_raise():
    for table in ("rt_", "ch_cash", "history_weekly", "nope"):
        with pytest.raises(NotFound):
            arrow_schema(table)
    with pytest.raises(NotFound):
        to_arrow("gaps", [])


def test_gaps_rows():
    rows = [{"detected_time": EVENT_NS, "topic": "rt.trade.005930", "epoch": EPOCH, "first_seq": 5,
             "last_seq": 9, "missing": 5, "kind": "gap", "cause": "subscriber high-water mark",
             "repaired": True, "from_time": EVENT_NS - 10 ** 9, "to_time": None},
            {"detected_time": datetime(2026, 12, 3, 9, 5, tzinfo=KST), "topic": "", "epoch": EPOCH,
             "first_seq": 100, "last_seq": 100, "missing": 1, "kind": "restart", "repaired": False}]
    out = schema.rows_to_arrow("gaps", rows)
    assert out.schema == arrow_schema("gaps")
    got = out.to_pylist()
    assert got[0]["detected_time"] == datetime(2026, 12, 3, 9, 0, 10, tzinfo=KST)
    assert got[0]["from_time"] == datetime(2026, 12, 3, 9, 0, 9, tzinfo=KST) and got[0]["to_time"] is None
    assert got[1]["detected_time"] == datetime(2026, 12, 3, 9, 5, tzinfo=KST) and got[1]["cause"] is None
    assert [r["kind"] for r in got] == ["gap", "restart"]


def test_history_rows_from_tr_pages():
    daily_rows = [  # typed TR rows keyed by the Korean field names, as the broker's `tr` op sends them
        {"종목코드": "005930", "현재가": 70000, "거래량": 1000, "거래대금": 70, "일자": "2026-12-03", "시가": 69000,
         "고가": 71000, "저가": 68000, "수정주가구분": None, "수정비율": None, "수정주가이벤트": "", "전일종가": 69500},
        {"종목코드": "", "현재가": "-69500", "거래량": "900", "거래대금": "", "일자": "20261202", "시가": "+69000",
         "고가": "70000", "저가": "68500", "수정주가구분": "", "수정비율": "", "수정주가이벤트": "", "전일종가": ""},
    ]
    out = schema.history_to_arrow("history_daily", "005930", daily_rows, adjusted=True)
    assert out.schema == arrow_schema("history_daily")
    got = out.to_pylist()
    assert [(r["code"], r["date"], r["open"], r["high"], r["low"], r["close"], r["volume"], r["value"])
            for r in got] == [("005930", date(2026, 12, 3), 69000, 71000, 68000, 70000, 1000, 70),
                              ("005930", date(2026, 12, 2), 69000, 70000, 68500, 69500, 900, None)]
    assert got[0]["adjusted"] is True and got[0]["prev_close"] == 69500

    minute_rows = [{"current_price": 70100, "volume": 10, "trade_time": "2026-12-03T09:01:00+09:00",
                    "open": 70000, "high": 70200, "low": 69900}]
    out = schema.history_to_arrow("history_minute1", "005930", minute_rows)
    row = out.to_pylist()[0]
    assert out.schema == arrow_schema("history_minute1")
    assert row["time"] == datetime(2026, 12, 3, 9, 1, tzinfo=KST) and row["close"] == 70100
    assert row["value"] is None and row["adjusted"] is None


def test_history_schemas():
    daily, minute = arrow_schema("history_daily"), arrow_schema("history_minute3")
    assert daily.names[:2] == ["code", "date"] and daily.field("date").type == pa.date32()
    assert minute.names[:2] == ["code", "time"] and minute.field("time").type == pa.timestamp("s", tz="Asia/Seoul")
    for name in ("open", "high", "low", "close", "volume", "value"):
        assert daily.field(name).type == pa.int64() and minute.field(name).type == pa.int64()


def test_parquet_round_trip_restores_the_exact_schema(tmp_path):
    values = {"trade_time": "09:00:10", "current_price": 70000, "open_time": "09:00:00"}
    pubs = [_rt_pub("trade", values, seq=i) for i in range(1, 4)]
    out = to_arrow("rt_trade", pubs, snapshot_flags=[False, True, False])
    path = tmp_path / "x.parquet"
    pq.write_table(out, path, compression="zstd")
    assert pq.read_table(path).schema.field("trade_time").type == pa.time32("ms")  # Parquet's own
    back = schema.read_table([path], "rt_trade")
    assert back.schema == arrow_schema("rt_trade")
    assert back.equals(out)
    older = out.drop_columns(["current_price"])  # as if written before the catalog had that FID
    pq.write_table(older, tmp_path / "old.parquet")
    both = schema.read_table([tmp_path / "old.parquet", path], "rt_trade")
    assert both.schema == arrow_schema("rt_trade")
    assert both.column("current_price").to_pylist() == [None] * 3 + [70000] * 3


def _reference(table: str, pubs) -> list:
    """Rows converted the slow way: one Python list per column through convert_column."""
    columns = schema.table_spec(table).columns
    maps = [p.body.get("values") or {} for p in pubs]
    return [schema.convert_column(c.kind, c.type, [m.get(c.key) for m in maps]).to_pylist() for c in columns]


@pytest.mark.parametrize("rows", [
    [{"ask": 70100, "bid": 70000}, {"ask": 2.5, "bid": 3.0}, {"bid": 5}],  # one column falls back
    [{"ask": 70100, "bid": 70000}, {"ask": 2 ** 60, "bid": 1}],
    [{"ask": 1, "bid": 2}, {"ask": None, "bid": None}],
    [{"ask": 1, "bid": 2}, {"ask": "7", "bid": 2}],  # text in a number field: the Python path
    [{"ask": -(2 ** 53), "bid": 2 ** 53 - 1}],
])
def test_the_fast_and_the_python_paths_agree(rows):
    pubs = [_rt_pub("best", values, seq=i + 1) for i, values in enumerate(rows)]
    out = to_arrow("rt_best", pubs)
    assert out.num_rows == len(rows)
    assert [out.column(c.name).to_pylist() for c in schema.table_spec("rt_best").columns] == _reference(
        "rt_best", pubs)


def test_times_parse_the_same_on_both_paths():
    values = [{"trade_time": t, "current_price": 1} for t in ("09:00:10", "090011", "", "99:99:99", None)]
    pubs = [_rt_pub("trade", v, seq=i + 1) for i, v in enumerate(values)]
    out = to_arrow("rt_trade", pubs)
    assert out.column("trade_time").to_pylist() == [time(9, 0, 10), time(9, 0, 11), None, None, None]
    assert out.column("trade_time").to_pylist() == _reference("rt_trade", pubs)[0]


def test_json_columns_keep_odd_maps():
    pub = Publication("sys.msg", "SYS", EPOCH, 1, 1, None, EVENT_NS,
                      {"message": "x", 7: b"\x01\x02", "nested": {"b": 1, "a": [1, 2]}})
    row = to_arrow("sys", [pub]).to_pylist()[0]
    assert json.loads(row["body"]) == {"message": "x", "7": "0102", "nested": {"a": [1, 2], "b": 1}}
