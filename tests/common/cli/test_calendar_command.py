"""`koabus calendar`: the shared calendar's answers, and no pandas or XKRX for the table years (the
command took 4-7 s building XKRX; it now answers from the stdlib tables)."""
from __future__ import annotations

import json
import subprocess
import sys

from koabus.common.cli.main import main


def run(capsys, *args: str):
    code = main(["calendar", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_special_days_through_the_cli(capsys):
    code, out, _ = run(capsys, "--date", "2026-11-19", "--json")  # 수능
    info = json.loads(out)
    assert code == 0 and (info["open"], info["close"]) == ("2026-11-19T10:00:00+09:00", "2026-11-19T16:30:00+09:00")
    code, out, _ = run(capsys, "--date", "2026-06-03", "--json")  # local elections
    info = json.loads(out)
    assert code == 0 and info["is_session"] is False and info["last_session"] == "2026-06-02"
    assert info["next_session"] == "2026-06-04"


def test_today_reports_open_now_and_the_phase(capsys):
    code, out, _ = run(capsys, "--json")
    info = json.loads(out)
    assert code == 0 and isinstance(info["open_now"], bool)
    assert info["phase_now"] in {"closed", "pre_market", "pre_open_auction", "continuous", "closing_auction",
                                 "post_close", "after_hours_close", "after_hours_single"}


def test_a_bad_date_is_refused(capsys):
    code, _, err = run(capsys, "--date", "2026-13-01")
    assert code != 0 and "expected YYYY-MM-DD" in err


CHECK = r"""
import sys
from koabus.common.cli.main import main
code = main(["calendar", "--date", "2025-11-13", "--json"]) + main(["calendar", "--date", "2015-02-18", "--json"])
heavy = sorted(m for m in ("pandas", "exchange_calendars", "numpy") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), code)
"""


def test_neither_the_table_years_nor_history_load_pandas_or_xkrx():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "HEAVY= 0"
