"""`koabus meta ...` through the real entry point (main([...])) and once as a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from koabus.common.cli.main import main
from koabus.metadata import catalog

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv):
    rc = main(["meta", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_tr_json_has_the_contract_keys(capsys):
    rc, out, err = run(capsys, "tr", "OPT10081", "--json")
    assert rc == 0 and err == ""
    data = json.loads(out)
    spec = catalog().tr("opt10081")
    assert {"code", "name", "inputs", "single_outputs", "multi_outputs", "rows_per_page"} <= set(data)
    assert data["code"] == "opt10081" and data["name"] == spec.name
    assert data["inputs"] == list(spec.input_names)
    assert data["single_outputs"] == list(spec.single_names)
    assert data["multi_outputs"] == list(spec.multi_names)
    assert data["rows_per_page"] == 600


def test_tr_table_lists_inputs_and_fields(capsys):
    rc, out, _ = run(capsys, "tr", "opw00018")
    assert rc == 0
    assert "opw00018" in out and "조회건수" in out and "비밀번호입력매체구분" in out and "return_pct" in out


@pytest.mark.parametrize(
    "argv",
    [("tr", "opt00000"), ("realtype", "없는타입"), ("fid", "99999"), ("fid", "ten"), ("error", "-999"),
     ("method", "NoSuchMethod"), ("enum", "nope")],
)
def test_unknown_names_exit_nonzero_with_one_line_on_stderr(capsys, argv):
    rc, out, err = run(capsys, *argv)
    assert rc != 0 and out == ""
    assert err.count("\n") == 1 and err.startswith("koabus meta: ")


def test_other_data_commands(capsys):
    rc, out, _ = run(capsys, "realtype", "trade", "--json")
    assert rc == 0 and json.loads(out)["fids"] == list(catalog().realtype("주식체결").fids)
    rc, out, _ = run(capsys, "realtype", "주식호가잔량")
    assert rc == 0 and "0D" in out and "ask_price_10" in out
    rc, out, _ = run(capsys, "fid", "15", "--json")
    assert rc == 0 and json.loads(out)["kind"] == "signed"
    rc, out, _ = run(capsys, "error", "-200", "--json")
    assert rc == 0 and json.loads(out)["constant"] == "OP_ERR_SISE_OVERFLOW"
    rc, out, _ = run(capsys, "method", "CommKwRqData", "--json")
    assert rc == 0 and json.loads(out)["signature"] == "CommKwRqData(QString, int, int, int, QString, QString)"
    rc, out, _ = run(capsys, "list-tr", "--json")
    assert rc == 0 and {row["code"] for row in json.loads(out)} == set(catalog().tr_codes())
    rc, out, _ = run(capsys, "list-realtypes")
    assert rc == 0 and all(rt.slug in out for rt in catalog().realtypes())
    rc, out, _ = run(capsys, "enum", "hoga", "--json")
    assert rc == 0 and json.loads(out) == catalog().enum("hoga")
    rc, out, _ = run(capsys, "enum")
    assert rc == 0 and "hoga_mock" in out


def test_subprocess_entry_point():
    exe = Path(sys.executable).with_name("koabus")
    if not exe.exists():
        exe = REPO / ".venv" / "bin" / "koabus"
    if not exe.exists():
        pytest.skip("the koabus console script is not installed")
    proc = subprocess.run([str(exe), "meta", "tr", "opt10081", "--json"], capture_output=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    data = json.loads(proc.stdout.decode("utf-8"))
    assert data["multi_outputs"][:3] == ["종목코드", "현재가", "거래량"]
