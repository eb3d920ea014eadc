"""Every user command of `koabus` against the real broker on the simulated control (one broker per module)."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from koabus.common.cli.main import main
from tests.common.client.live import BrokerProcess
from tests.helpers import free_tcp_port

CODE = "005930"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield process
    process.stop()


@pytest.fixture
def koabus(broker, capsys):
    """Run `koabus ARGS... --router R --pub P`; returns (exit code, stdout, stderr)."""
    def run(*args: str, connect: bool = True):
        argv = list(args) + (["--router", broker.router, "--pub", broker.pub, "--timeout", "20"] if connect else [])
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def as_json(out: str):
    return json.loads(out)


def test_login_codes_name_code(koabus):
    code, out, _ = koabus("login", "--json")
    assert code == 0 and as_json(out)["simulation"] is True and as_json(out)["accounts"]
    code, out, _ = koabus("codes", "--market", "kospi", "--json")
    assert code == 0 and CODE in as_json(out)
    code, out, _ = koabus("codes", "--market", "0", "--names")
    assert f"{CODE}\t삼성전자" in out.splitlines()
    assert koabus("name", CODE)[1].strip() == "삼성전자"
    assert as_json(koabus("code", "삼성전자", "--json")[1]) == [CODE]
    code, _, err = koabus("name", "999999")
    assert code == 1 and err.startswith("koabus: NotFound")


def test_info_and_call(koabus):
    code, out, _ = koabus("info", CODE, "--json")
    info = as_json(out)
    assert code == 0 and info["종목명"] == "삼성전자" and isinstance(info["현재가"], int)
    code, out, _ = koabus("info", CODE)
    assert code == 0 and "삼성전자" in out
    assert as_json(koabus("call", "GetMasterCodeName", CODE, "--json")[1])["result"] == "삼성전자"
    assert koabus("call", "GetConnectState")[1].strip() == "1"


def test_daily_json_table_and_files(koabus, tmp_path):
    code, out, _ = koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30", "--json")
    rows = as_json(out)
    assert code == 0 and 15 < len(rows) < 25
    assert rows[0]["일자"].startswith("2025-05-0") and rows == sorted(rows, key=lambda r: r["일자"])
    code, out, _ = koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30")
    assert code == 0 and "현재가" in out
    target = tmp_path / "one.parquet"
    assert koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30", "--out", str(target))[0] == 0
    frame = pd.read_parquet(target)
    assert len(frame) == len(rows) and str(frame.index.tz) == "Asia/Seoul"
    code, _, err = koabus("daily", CODE, "--start", "2025-05-01", "--out", str(tmp_path / "x.txt"))
    assert code == 1 and "unknown output format" in err
    code, _, err = koabus("daily", CODE, "--out", str(tmp_path / "x.xlsx"))
    try:
        import openpyxl  # noqa: F401
        assert code == 0
    except ImportError:
        assert code == 1 and "openpyxl" in err


def test_daily_many_codes_resumes_into_out_dir(koabus, tmp_path):
    args = ("daily", CODE, "000660", "035420", "--start", "2025-05-01", "--end", "2025-05-30",
            "--out-dir", str(tmp_path), "--json")
    (tmp_path / "000660.csv").write_text("already here")  # saved by an earlier, interrupted run
    code, out, _ = koabus(*args)
    summary = as_json(out)
    assert code == 0 and summary["saved"] == [CODE, "035420"] and summary["skipped"] == ["000660"]
    assert (tmp_path / "000660.csv").read_text() == "already here"
    saved = pd.read_csv(tmp_path / f"{CODE}.csv", index_col=0)
    assert 15 < len(saved) < 25
    code, out, _ = koabus(*args)
    assert as_json(out)["saved"] == []


def test_minute_tick_weekly_monthly(koabus):
    for args in (("minute", CODE, "--interval", "5"), ("tick", CODE, "--interval", "10"),
                 ("weekly", CODE, "--start", "2025-01-01", "--end", "2025-05-30"),
                 ("monthly", CODE, "--start", "2024-01-01", "--end", "2025-05-30")):
        code, out, _ = koabus(*args, "--json")
        rows = as_json(out)
        assert code == 0 and rows and "현재가" in rows[0], args


def test_tr(koabus):
    code, out, _ = koabus("tr", "opt10001", "--input", f"종목코드={CODE}", "--json")
    assert code == 0 and as_json(out)["single"]["종목명"] == "삼성전자"
    code, out, _ = koabus("tr", "opt10081", "-i", f"종목코드={CODE}", "-i", "기준일자=20250530",
                          "--all-pages", "--max-pages", "2", "--json")
    assert code == 0 and len(as_json(out)["multi"]) == 1200
    code, _, err = koabus("tr", "opt10001", "--input", "종목코드")
    assert code == 1 and "NAME=VALUE" in err


def test_watch(koabus):
    code, out, _ = koabus("watch", CODE, "000660", "--count", "4", "--json")
    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(events) == 4
    assert {e["code"] for e in events} <= {CODE, "000660"} and all(e["type"] == "주식체결" for e in events)
    code, out, _ = koabus("watch", CODE, "--type", "trade", "--count", "2")
    assert code == 0 and CODE in out and "koabus watch" in out


def test_orders_deposit_balance(koabus):
    code, out, _ = koabus("order", "buy", CODE, "1", "--market", "--json")
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["final"]["state"] == "filled"
    low = as_json(koabus("info", CODE, "--json")[1])["하한가"]
    code, out, _ = koabus("order", "buy", CODE, "1", "--price", str(low), "--wait", "1", "--json")
    order_no = as_json(out.splitlines()[-1])["final"]["order_no"]
    assert code == 0 and order_no
    code, out, _ = koabus("orders", "--json")
    assert code == 0 and order_no in {str(r["주문번호"]).zfill(7) for r in as_json(out)}
    code, out, _ = koabus("order", "modify", order_no, "--price", str(low + 100), "--qty", "1", "--json")
    assert code == 0 and as_json(out)["event"] == "confirmed"
    new_no = as_json(out)["order_no"]
    code, out, _ = koabus("order", "cancel", new_no, "--json")
    assert code == 0 and as_json(out)["event"] in ("confirmed", "cancelled")
    code, out, _ = koabus("deposit", "--json")
    assert code == 0 and as_json(out)["예수금"] > 0
    code, out, _ = koabus("balance", "--json")
    assert code == 0 and CODE in {h["종목번호"] for h in as_json(out)["holdings"]}
    assert koabus("balance")[0] == 0 and koabus("deposit")[0] == 0


def test_failed_orders_are_one_line_and_exit_1(koabus):
    code, _, err = koabus("order", "buy", CODE, "1", "--price", "100", "--account", "0000000000")
    assert code == 1 and err.count("\n") == 1
    assert err.startswith("koabus: Kiwoom error -302: 타인계좌 사용오류"), err  # the code's meaning, from the metadata
    code, _, err = koabus("order", "buy", CODE, "1", "--price", "100")  # under the lower price limit
    assert code == 1 and err.count("\n") == 1 and err.startswith("koabus: order rejected: ") and "RC4027" in err


def test_order_retry_reattaches_and_a_reused_id_is_refused(koabus):
    cid = "cli-retry-1"
    code, out, err = koabus("order", "buy", CODE, "1", "--market", "--client-order-id", cid, "--json")
    first = json.loads(out.splitlines()[-1])["final"]
    assert code == 0 and first["state"] == "filled" and err == ""
    code, out, err = koabus("order", "buy", CODE, "1", "--market", "--client-order-id", cid, "--json")
    again = json.loads(out.splitlines()[-1])["final"]
    assert code == 0 and "already known" in err  # a retry is not sent again: the same order, replayed
    assert again["order_no"] == first["order_no"] and again["state"] == "filled"
    code, _, err = koabus("order", "buy", CODE, "2", "--market", "--client-order-id", cid)
    assert code == 1 and err.count("\n") == 1 and err.startswith("koabus: DuplicateOrder: "), err


def test_daily_raw_by_default_and_adjusted_on_request(koabus):
    span = ("--start", "2018-04-27", "--end", "2018-05-08", "--json")
    default, raw, adjusted = (as_json(koabus("daily", CODE, *flags, *span)[1]) for flags in ((), ("--raw",),
                                                                                             ("--adjusted",)))
    assert default == raw and len(raw) == len(adjusted) >= 5
    for r, a in zip(raw, adjusted):
        if r["일자"] < "2018-05-04":  # before the 1:50 split
            assert 49 <= r["현재가"] / a["현재가"] <= 51
        else:
            assert r["현재가"] == a["현재가"]


def test_condition_list_search(koabus):
    code, out, _ = koabus("condition", "list", "--json")
    conditions = as_json(out)
    assert code == 0 and conditions
    name, other = conditions[0]["name"], conditions[1]["name"]
    code, out, _ = koabus("condition", "search", name, "--json")
    assert code == 0 and all(len(c) == 6 for c in as_json(out))
    # another condition: a repeat within the minute rides on the broker pacer's timing (see test_sdk_live)
    code, out, _ = koabus("condition", "search", other, "--realtime", "--seconds", "1", "--json")
    first = json.loads(out.splitlines()[0])
    assert code == 0 and first["kind"] == "initial"


def test_calendar_offline(koabus):
    code, out, _ = koabus("calendar", "--date", "2024-11-14", "--json", connect=False)
    info = as_json(out)
    assert code == 0 and info["open"] == "2024-11-14T10:00:00+09:00" and info["next_session"] == "2024-11-15"
    code, out, _ = koabus("calendar", "--date", "2024-12-25", "--json", connect=False)
    assert as_json(out)["is_session"] is False and as_json(out)["last_session"] == "2024-12-24"


def test_unreachable_broker_is_one_line_and_non_zero(capsys):
    port = free_tcp_port()
    code = main(["name", CODE, "--router", f"tcp://127.0.0.1:{port}", "--pub", f"tcp://127.0.0.1:{port + 1}",
                 "--timeout", "0.5"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1 and err.startswith("koabus: Unavailable")
