"""The lake as SQL: record a day through the ParquetSink, then ask for ticks, bars and gaps."""
from __future__ import annotations

import pandas as pd
import pytest

from koabus.common.lake import layout
from koabus.common.lake.query import Lake
from koabus.common.lake.schema import rows_to_arrow, to_arrow
from koabus.services.recorder.sinks import make_sink
from tests.common.lake.query_lake import DAY, NEXT_DAY, record_day, trade


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    root = tmp_path_factory.mktemp("lake")
    return root, record_day(root)


@pytest.fixture
def lake(recorded):
    with Lake(recorded[0]) as opened:
        yield opened


def expected_ticks(recorded, code: str, day: str) -> pd.DataFrame:
    frame = pd.DataFrame(recorded[1].trade_rows(code, day))
    frame["time"] = pd.to_datetime(frame["time"]).dt.tz_convert("Asia/Seoul")
    return frame


def test_ticks_of_a_code_on_a_date(lake, recorded):
    got = lake.ticks("005930", DAY)
    want = expected_ticks(recorded, "005930", DAY)
    assert len(got) == len(want) > 300
    assert set(got["code"]) == {"005930"}
    assert (got["date"] == pd.Timestamp(DAY, tz="Asia/Seoul")).all()
    for column in ("price", "volume", "side", "epoch", "seq", "snapshot"):
        assert got[column].tolist() == want[column].tolist(), column
    assert got["time"].tolist() == want["time"].tolist()
    assert str(got["time"].dtype) == "datetime64[ns, Asia/Seoul]"
    # the repaired hole is there once, as a snapshot row; the repeated message is there once, live
    assert got["snapshot"].sum() == 1
    assert len(lake.ticks("005930", NEXT_DAY)) == len(expected_ticks(recorded, "005930", NEXT_DAY))


def test_ticks_take_their_arguments_as_parameters_not_sql(lake):
    assert lake.ticks("005930' OR '1'='1", DAY).empty
    assert lake.ticks("005930", DAY).shape[1] == lake.ticks("none", DAY).shape[1]


def pandas_bars(ticks: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The reference: pandas resampling of the same ticks, buckets from midnight KST, empty ones dropped."""
    series = ticks.set_index("time")
    bars = series["price"].resample(rule).ohlc()
    bars["volume"] = series["volume"].resample(rule).sum()
    bars["trades"] = series["price"].resample(rule).count()
    bars = bars[bars["trades"] > 0].astype("int64")
    bars.index.name = "time"
    return bars


@pytest.mark.parametrize("interval, rule", [("1 minute", "1min"), ("5 minutes", "5min"), ("1 hour", "1h")])
def test_bars_equal_a_pandas_resample_of_the_ticks(lake, recorded, interval, rule):
    want = pandas_bars(expected_ticks(recorded, "005930", DAY), rule)
    got = lake.bars("005930", DAY, interval)
    assert len(got) == len(want) > 5
    assert got["time"].tolist() == want.index.tolist()
    for column in ("open", "high", "low", "close", "volume", "trades"):
        assert got[column].tolist() == want[column].tolist(), column
    assert (got["value"] >= got["volume"] * got["low"]).all()
    assert set(got["code"]) == {"005930"}


def test_bars_and_gaps_are_table_macros_in_sql(lake):
    method = lake.bars("000660", DAY, "5 minutes")
    macro = lake.sql("SELECT * FROM bars('000660', DATE '2026-11-24', '5 minutes')")
    pd.testing.assert_frame_equal(method, macro)
    assert lake.sql("SELECT * FROM bars('000660', '2026-11-24', INTERVAL 1 HOUR)").shape[0] == len(
        lake.bars("000660", DAY, "1 hour"))
    assert lake.sql("SELECT count(*) AS n FROM gaps_of('2026-11-24')")["n"].tolist() == [2]


def test_gaps_of_a_day(lake, recorded):
    got = lake.gaps(DAY)
    assert got["kind"].tolist() == ["gap", "restart"]
    assert got["topic"].tolist() == ["rt.trade.005930", ""]
    assert got[["first_seq", "last_seq", "missing"]].values.tolist() == [[40, 40, 1], [1, 7, 7]]
    assert got["repaired"].tolist() == [True, False]
    assert got["detected_time"].iloc[0] == pd.Timestamp(f"{DAY} 10:15:00", tz="Asia/Seoul")
    assert got["to_time"].isna().tolist() == [False, True]
    assert len(lake.gaps(NEXT_DAY)) == 1 and len(lake.gaps()) == 3
    assert lake.gaps("2026-11-26").empty


def test_tables_list_what_is_on_disk_and_skip_litter(lake, recorded):
    tables = lake.tables().set_index("table")
    assert tables.index.tolist() == ["gaps", "rt_trade"]  # no _recorder, nothing from the *.tmp file
    assert tables.loc["rt_trade", "rows"] == len(recorded[1].trades)
    assert tables.loc["rt_trade", "first_date"] == pd.Timestamp(DAY, tz="Asia/Seoul")
    assert tables.loc["rt_trade", "last_date"] == pd.Timestamp(NEXT_DAY, tz="Asia/Seoul")
    assert tables.loc["gaps", "rows"] == 3 and tables.loc["gaps", "files"] == 2
    assert lake.sql("SELECT count(*) AS n FROM rt_trade")["n"].iloc[0] == len(recorded[1].trades)


def test_an_empty_or_missing_lake_answers_with_empty_frames(tmp_path):
    with Lake(tmp_path / "nothing") as lake:
        assert lake.empty and lake.tables().empty and lake.table_names() == []
        ticks = lake.ticks("005930", DAY)
        assert ticks.empty and {"time", "price", "volume", "side"} <= set(ticks.columns)
        assert lake.bars("005930", DAY, "5 minutes").empty
        assert lake.gaps(DAY).empty


def test_new_files_are_seen_and_new_tables_after_refresh(tmp_path):
    root = tmp_path / "lake"
    sink = make_sink("parquet", root=str(root), durable=False)
    moment = pd.Timestamp(f"{DAY} 09:00:05", tz="Asia/Seoul").to_pydatetime()
    sink.write("rt_trade", DAY, to_arrow("rt_trade", [trade("005930", moment, 60_000, 7, 1, 1, 1)]),
               layout.batch_key(1, 0, 0))
    with Lake(root) as lake:
        assert len(lake.ticks("005930", DAY)) == 1
        sink.write("rt_trade", DAY, to_arrow("rt_trade", [trade("005930", moment, 60_100, -3, 1, 2, 2)]),
                   layout.batch_key(1, 1, 1))
        assert lake.ticks("005930", DAY)["price"].tolist() == [60_000, 60_100]  # no refresh needed
        sink.write("rt_trade", DAY, to_arrow("rt_trade", [trade("005930", moment, 60_200, 1, 1, 2, 2)]),
                   layout.batch_key(1, 1, 1))
        assert lake.ticks("005930", DAY)["price"].tolist() == [60_000, 60_200]  # a re-roll replaced its file
        assert "gaps" not in lake.table_names()
        gap = {"detected_time": 0, "topic": "", "epoch": 1, "first_seq": 3, "last_seq": 3, "missing": 1,
               "kind": "gap", "repaired": False}
        sink.write("gaps", DAY, rows_to_arrow("gaps", [gap]), layout.batch_key(1, 3, 3))
        assert lake.gaps(DAY).empty  # a table folder that appeared after opening needs a refresh
        lake.refresh()
        assert lake.table_names() == ["gaps", "rt_trade"] and lake.gaps(DAY)["first_seq"].tolist() == [3]
    sink.close()


def test_a_bad_statement_raises_a_duckdb_error(lake):
    import duckdb

    with pytest.raises(duckdb.Error):
        lake.sql("SELECT * FROM no_such_table")
    with pytest.raises(duckdb.Error):
        lake.sql("SELEC 1")


def test_history_tables_keep_codes_as_text(tmp_path):
    from koabus.common.lake.schema import history_to_arrow

    sink = make_sink("parquet", root=str(tmp_path), durable=False)
    daily = [{"date": "20261124", "open": 60_000, "high": 61_000, "low": 59_000, "current_price": 60_500,
              "volume": 1_000, "trade_value": 60}]
    sink.write("history_daily", "", history_to_arrow("history_daily", "005930", daily), "d-1")
    minute = [dict(daily[0], trade_time=f"20261124{hhmm}00") for hhmm in ("0901", "0902")]
    sink.write("history_minute1", "", history_to_arrow("history_minute1", "000660", minute), "m-1")
    with Lake(tmp_path) as lake:
        tables = lake.tables().set_index("table")
        assert tables["rows"].to_dict() == {"history_daily": 1, "history_minute1": 2}
        assert tables.loc["history_daily", "first_date"] == pd.Timestamp(DAY, tz="Asia/Seoul")
        assert lake.sql("SELECT code, close FROM history_daily").values.tolist() == [["005930", 60_500]]
        minutes = lake.sql("SELECT code, date, time FROM history_minute1 ORDER BY time")
        assert minutes["code"].tolist() == ["000660", "000660"]
        assert minutes["time"].tolist() == [pd.Timestamp(f"{DAY} 09:0{m}", tz="Asia/Seoul") for m in (1, 2)]
    sink.close()
