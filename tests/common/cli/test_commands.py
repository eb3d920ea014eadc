"""Every user command of `koabus` against the real broker on the simulated control (one broker per module)."""
from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from rich.cells import cell_len

from koabus.common.cli.main import main
from tests.helpers import free_tcp_port

CODE = "005930"


@pytest.fixture
def koabus(broker, capsys, monkeypatch):
    """Run `koabus ARGS... --router R --pub P`; returns (exit code, stdout, stderr).

    Output is captured (not a terminal): tables are as wide as they need (up to 240 columns) unless
    a test sets COLUMNS."""
    monkeypatch.delenv("COLUMNS", raising=False)
    def run(*args: str, connect: bool = True):
        argv = list(args) + (["--router", broker.router, "--pub", broker.pub, "--timeout", "20"] if connect else [])
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def as_json(out: str):
    return json.loads(out)


def compact_table(out: str, nth: int = 0):
    """(header labels, data lines) of the nth curated table in `out` (the lines around its header rule)."""
    lines = out.splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip() and set(line.strip()) == {"─"}]
    at = rules[nth]
    rows = []
    for line in lines[at + 1:]:
        if not line.strip() or set(line.strip()) == {"─"} or "koabus watch" in line or " rows (use " in line:
            break
        if not line.startswith("…"):  # the elided middle of a long table
            rows.append(line)
    return re.split(r"\s{2,}", lines[at - 1].strip()), rows


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
    header, lines = compact_table(out)
    assert header == ["일자", "시가", "고가", "저가", "현재가", "거래량", "거래대금"]
    assert "T00:00:00" not in out and "수정주가구분" not in out and "None" not in out
    first = rows[0]
    assert lines[0].split() == [first["일자"][:10]] + [f"{first[k]:,}" for k in ("시가", "고가", "저가", "현재가",
                                                                                 "거래량", "거래대금")]
    assert len(lines) == len(rows)
    code, out, _ = koabus("daily", CODE, "--start", "2025-05-01", "--end", "2025-05-30", "--all-columns")
    assert code == 0 and "수정주가구분" in out and "대업종구분" in out and "T00:00:00" not in out
    assert "None" not in out and "2025-05-02" in out
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
        code, out, _ = koabus(*args)
        header, lines = compact_table(out)
        assert code == 0 and header[1:6] == ["시가", "고가", "저가", "현재가", "거래량"], args
        stamp = {"minute": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}  ", "tick": r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?  "}.get(
            args[0], r"\d{4}-\d{2}-\d{2}  ")
        assert lines and all(re.match(stamp, line) for line in lines), (args, lines[:2])
        assert "+09:00" not in out and "None" not in out
    code, out, _ = koabus("minute", CODE, "--interval", "5", "--english")
    assert compact_table(out)[0] == ["time", "open", "high", "low", "close", "volume"]


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
    code, out, _ = koabus("watch", CODE, "--type", "trade", "--count", "2", "--table")
    assert code == 0 and CODE in out and "koabus watch" in out
    code, out, _ = koabus("watch", CODE, "--type", "trade", "--count", "2")  # not a terminal: lines
    assert code == 0 and out.splitlines()[0].startswith("code\tname\t") and len(out.splitlines()) == 3


def test_watch_table_fits_80_columns(koabus, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = koabus("watch", CODE, "000660", "035420", "--count", "6", "--table")
    header, rows = compact_table(out)
    assert code == 0 and header == ["code", "name", "time", "price", "chg", "chg%", "vol", "cum vol"]
    assert max(cell_len(line) for line in out.splitlines()) <= 80
    assert "…" not in out and "주식체결" not in out
    names = {CODE: "삼성전자", "000660": "SK하이닉스", "035420": "NAVER"}
    codes = [row.split()[0] for row in rows]
    assert codes == list(names)  # a row for every code asked, in the order asked
    traded = [row.split() for row in rows if len(row.split()) == 8]  # not a placeholder or an opt10001 seed
    assert traded
    for cells in traded:
        assert cells[1] == names[cells[0]] and re.fullmatch(r"\d{2}:\d{2}:\d{2}", cells[2]), cells
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", cells[3]) and re.fullmatch(r"[+-]?[\d,]+", cells[6]), cells


def test_watch_book_and_chosen_fields(koabus, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = koabus("watch", CODE, "--type", "book", "--count", "1", "--table")
    header, rows = compact_table(out)
    assert code == 0 and header == ["code", "name", "time", "ask", "ask qty", "bid", "bid qty"]
    ask, bid = (int(x.replace(",", "")) for x in rows[0].split()[3::2])
    assert ask > bid > 0
    code, out, _ = koabus("watch", CODE, "--fields", "current_price,trade_strength,10", "--count", "1", "--table")
    assert code == 0 and compact_table(out)[0] == ["code", "name", "current_price", "trade_strength",
                                                   "current_price"]
    code, _, err = koabus("watch", CODE, "--fields", "nonsense", "--count", "1")
    assert code == 1 and err.startswith("koabus: unknown field 'nonsense'") and err.count("\n") == 1


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
    code, out, _ = koabus("orders")
    header, rows = compact_table(out)
    assert code == 0 and header == ["주문번호", "시간", "코드", "종목명", "구분", "수량", "가격", "체결", "미체결", "상태"]
    mine = [row.split() for row in rows if row.split()[0] == order_no]
    assert mine and mine[0][2:4] == [CODE, "삼성전자"] and mine[0][6] == f"{low:,}"
    assert "None" not in out and "NaT" not in out
    code, out, _ = koabus("orders", "--english")
    assert compact_table(out)[0] == ["order no", "time", "code", "name", "kind", "qty", "price", "filled",
                                     "remaining", "status"]
    code, out, _ = koabus("orders", "--all-columns")
    assert code == 0 and "계좌번" in out and "None" not in out
    code, out, _ = koabus("order", "modify", order_no, "--price", str(low + 100), "--qty", "1", "--json")
    assert code == 0 and as_json(out)["event"] == "confirmed"
    new_no = as_json(out)["order_no"]
    code, out, _ = koabus("order", "cancel", new_no, "--json")
    assert code == 0 and as_json(out)["event"] in ("confirmed", "cancelled")
    if not as_json(koabus("orders", "--json")[1]):
        assert koabus("orders")[1].strip() == "no open orders"
    code, out, _ = koabus("deposit", "--json")
    assert code == 0 and as_json(out)["예수금"] > 0
    code, out, _ = koabus("balance", "--json")
    assert code == 0 and CODE in {h["종목번호"] for h in as_json(out)["holdings"]}
    assert koabus("balance")[0] == 0 and koabus("deposit")[0] == 0
    code, out, _ = koabus("balance")
    header, rows = compact_table(out)
    assert header == ["코드", "종목명", "수량", "매입가", "현재가", "평가손익", "수익률%"]
    assert any(row.split()[:2] == [CODE, "삼성전자"] for row in rows)
    totals = as_json(koabus("balance", "--json")[1])["totals"]
    summary = next(line for line in out.splitlines() if line.startswith("총매입"))
    assert f"총매입 {totals['총매입금액']:,}" in summary and "추정예탁자산" in out
    assert "NaT" not in out and "매입수수료" not in out
    code, out, _ = koabus("balance", "--all-columns")
    assert code == 0 and "매입금액" in out and "대출일" in out and "NaT" not in out
    code, out, _ = koabus("deposit")
    assert code == 0 and "주문가능금액" in out and "코넥스기본예탁금" not in out
    assert "코넥스기본예탁금" in koabus("deposit", "--all-columns")[1]


def test_order_table_hides_empty_fields(koabus):
    code, out, _ = koabus("order", "buy", CODE, "1", "--market")
    assert code == 0 and "filled" in out and "avg_fill_price" in out
    assert "error_code" not in out and "state= " not in out and "None" not in out


def test_info_hides_empty_fields(koabus):
    info = as_json(koabus("info", CODE, "--json")[1])
    empty = [k for k, v in info.items() if v in (None, "")]
    out = koabus("info", CODE)[1]
    assert all(f"│ {k} " not in out for k in empty) and "│ 종목명 " in out
    out = koabus("info", CODE, "--all-columns")[1]
    assert all(f"│ {k} " in out for k in info)


def test_failed_orders_are_one_line_and_exit_1(koabus):
    code, _, err = koabus("order", "buy", CODE, "1", "--price", "100", "--account", "0000000000")
    assert code == 1 and err.count("\n") == 1
    # refused by the broker before anything is sent (the control's -302 with its meaning: test_order_errors.py)
    assert err.startswith("koabus: InvalidRequest: account '0000000000' is not an account of this login"), err
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
