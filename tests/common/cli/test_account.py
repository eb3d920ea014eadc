"""`koabus orders`/`fills` with date ranges (opw00007 per day) and `koabus credit`/`fo` orders, against the
real broker on the simulated control; history across two sessions comes from a broker restarted on the
same state a session later."""
from __future__ import annotations

import json
from datetime import date

import pytest

from koabus.common.cli.account import RangeError, history_days
from koabus.common.cli.main import main
from tests.common.client.live import BrokerProcess

CODE = "005930"
DAY1, DAY2 = "2025-06-02", "2025-06-04"  # a Monday and the Wednesday after (06-03 was election day)


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    process = BrokerProcess(speed=20.0, start=f"{DAY1}T09:05:00+09:00",
                            log_path=tmp_path_factory.mktemp("broker") / "broker.log",
                            settings={"pacing": {"tr_windows": [[5, 1.1]]}}).start()
    yield process
    process.stop()


@pytest.fixture
def koabus(broker, capsys):
    def run(*args: str):
        code = main(list(args) + ["--router", broker.router, "--pub", broker.pub, "--timeout", "20"])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _json(out: str):
    return json.loads(out)


def _final(out: str):
    return _json(out.splitlines()[-1])["final"]


@pytest.fixture(scope="module")
def day1_orders(broker):
    """A filled market buy and a resting limit buy at the lower limit, both on DAY1."""
    def run(*args):
        return main(list(args) + ["--router", broker.router, "--pub", broker.pub, "--timeout", "20", "--json"])

    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("order", "buy", CODE, "2", "--market") == 0
    filled = _final(out.getvalue())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("info", CODE) == 0
    low = _json(out.getvalue())["하한가"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("order", "buy", CODE, "1", "--price", str(low), "--wait", "1") == 0
    resting = _final(out.getvalue())
    assert filled["state"] == "filled" and resting["order_no"]
    return filled["order_no"], resting["order_no"]


def _numbers(rows):
    return {str(r["주문번호"]).zfill(7) for r in rows}


def test_orders_without_range_are_the_open_ones(koabus, day1_orders):
    filled, resting = day1_orders
    code, out, _ = koabus("orders", "--json")
    assert code == 0 and resting in _numbers(_json(out)) and filled not in _numbers(_json(out))


def test_orders_today_lists_every_order_of_the_day(koabus, day1_orders):
    filled, resting = day1_orders
    code, out, err = koabus("orders", "--today", "--json")
    rows = _json(out)
    assert code == 0, err
    assert {filled, resting} <= _numbers(rows) and {r["일자"][:10] for r in rows} == {DAY1}
    assert all(r["대출일"] is None for r in rows) and "NaT" not in out
    code, out, _ = koabus("orders", "--today")
    assert code == 0 and f"orders, {DAY1}" in out and "삼성전자" in out


def test_fills_are_only_orders_with_fills(koabus, day1_orders):
    filled, resting = day1_orders
    code, out, _ = koabus("fills", "--json")
    rows = _json(out)
    assert code == 0 and filled in _numbers(rows) and resting not in _numbers(rows)
    assert all(r["체결수량"] > 0 for r in rows)
    code, out, _ = koabus("fills", "--side", "sell", "--json")
    assert code == 0 and _json(out) == []


def test_empty_and_impossible_ranges(koabus, day1_orders):
    code, out, _ = koabus("fills", "--from", "2025-05-26", "--to", "2025-05-30")
    assert code == 0 and out.strip() == "no fills from 2025-05-26 to 2025-05-30"
    code, _, err = koabus("orders", "--from", "2025-06-02", "--to", "2025-05-30")
    assert code == 2 and "is after --to" in err
    code, _, err = koabus("orders", "--from", "2025-05-31", "--to", "2025-06-01")
    assert code == 1 and "no trading day" in err
    code, _, err = koabus("orders", "--from", "2025-06-09")
    assert code == 2 and "after the broker's today (2025-06-02)" in err
    code, _, err = koabus("orders", "--from", "June 2")
    assert code == 2 and "not a date" in err


def test_credit_and_fo_orders(koabus, day1_orders):
    code, out, err = koabus("credit", "buy", CODE, "1", "--market", "--json")
    assert code == 0, err
    assert _final(out)["state"] == "filled"
    code, _, err = koabus("credit", "sell", CODE, "1", "--market", "--type", "33")
    assert code == 1 and "--loan-date" in err
    code, _, err = koabus("fo", "buy", "101W9000", "1", "--price", "350")
    assert code == 1 and "NotFound" in err and "101W9000" in err  # the simulator lists no derivatives


def test_history_across_sessions(koabus, broker, day1_orders):
    """Restarted a session later on the same state: a range holds both days, a narrower one only its day."""
    broker.stop()
    broker.sim_start = f"{DAY2}T09:05:00+09:00"
    broker.start()
    code, out, _ = koabus("order", "buy", CODE, "1", "--market", "--json")
    day2 = _final(out)["order_no"]
    code, out, err = koabus("orders", "--from", DAY1, "--to", DAY2, "--json")
    rows = _json(out)
    assert code == 0, err
    assert {r["일자"][:10] for r in rows} == {DAY1, DAY2}
    assert set(day1_orders) <= {str(r["주문번호"]).zfill(7) for r in rows if r["일자"].startswith(DAY1)}
    assert [r["일자"][:10] for r in rows] == sorted((r["일자"][:10] for r in rows), reverse=True)
    assert (DAY2, day2) in _dated(rows)
    code, out, _ = koabus("orders", "--from", DAY2, "--json")
    rows = _json(out)
    assert code == 0 and {r["일자"][:10] for r in rows} == {DAY2} and day2 in _numbers(rows)
    code, out, _ = koabus("fills", "--from", DAY1, "--to", DAY1, "--json")
    assert code == 0 and (DAY1, day1_orders[0]) in _dated(_json(out)) and {d for d, _ in _dated(_json(out))} == {DAY1}


def _dated(rows):
    """(day, order number) pairs: order numbers start again each day."""
    return {(r["일자"][:10], str(r["주문번호"]).zfill(7)) for r in rows}


def test_history_days():
    assert history_days(date(2025, 5, 30), date(2025, 6, 2), date(2025, 6, 2)) == [date(2025, 6, 2),
                                                                                   date(2025, 5, 30)]
    assert history_days(date(2025, 6, 2), date(2025, 6, 9), date(2025, 6, 3)) == [date(2025, 6, 3),
                                                                                  date(2025, 6, 2)]
    with pytest.raises(RangeError):
        history_days(date(2025, 6, 7), date(2025, 6, 8), date(2025, 6, 9))
