"""TRs imported from an install's .enc files are served by a real broker on the simulated control and
listed by the CLI; an unknown TR is still refused with a typed error."""
from __future__ import annotations

import json

import pytest

from koabus.common.cli.main import main
from koabus.common.cli.meta import ENV_OVERLAY
from koabus.metadata import catalog, clear_cache
from koabus.metadata.importer import import_install
from tests.common.client.live import BrokerProcess
from tests.metadata.enc_from_dump import dump, write_install

IMPORTED = ("opt10003", "opw00009")


@pytest.fixture(scope="module")
def metadata_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("import")
    report = import_install(write_install(root / "OpenAPI", IMPORTED), root / "meta")
    assert sorted(report.trs) == sorted(IMPORTED) and not report.errors
    return root / "meta"


@pytest.fixture(scope="module")
def broker(tmp_path_factory, metadata_dir):
    process = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log",
                            settings={"metadata_dir": str(metadata_dir)}).start()
    yield process
    process.stop()


@pytest.fixture
def koabus(broker, capsys, monkeypatch):
    monkeypatch.delenv(ENV_OVERLAY, raising=False)  # this client has only the built-in metadata
    clear_cache()

    def run(*args: str):
        code = main(list(args) + ["--router", broker.router, "--pub", broker.pub, "--timeout", "20"])
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    clear_cache()


def test_imported_tr_is_served_with_its_fields(koabus):
    code, out, err = koabus("tr", "opt10003", "-i", "종목코드=005930", "--json")
    assert code == 0, err
    rows = json.loads(out)["multi"]
    names = [f["name"] for f in dump()["opt10003"]["multi_outputs"]]
    assert len(rows) == 20 and list(rows[0]) == names
    assert all(isinstance(r["현재가"], int) and r["현재가"] > 0 for r in rows)


def test_imported_account_tr_with_count_field(koabus):
    inputs = ["주문일자=20250602", "계좌번호=8000000011", "주식채권구분=0", "시장구분=0", "매도수구분=0",
              "조회구분=1", "종목코드=", "시작주문번호="]
    code, out, err = koabus("tr", "opw00009", *[a for i in inputs for a in ("-i", i)], "--json")
    assert code == 0, err
    body = json.loads(out)
    assert body["single"]["조회건수"] == len(body["multi"]) > 0
    assert list(body["multi"][0]) == [f["name"] for f in dump()["opw00009"]["multi_outputs"]]


def test_unknown_tr_gets_a_typed_error(koabus):
    code, _, err = koabus("tr", "opt10002", "-i", "종목코드=005930")  # in the dump, not imported
    assert code != 0 and "NotFound" in err and "opt10002" in err


def test_missing_input_of_an_imported_tr_is_refused(koabus):
    code, _, err = koabus("tr", "opw00009", "-i", "계좌번호=8000000011")
    assert code != 0 and "InvalidRequest" in err and "주문일자" in err


def test_meta_list_tr_marks_built_in_and_imported(metadata_dir, capsys, monkeypatch):
    monkeypatch.setenv(ENV_OVERLAY, str(metadata_dir))
    clear_cache()
    try:
        assert main(["meta", "list-tr", "--json"]) == 0
        listed = {row["code"]: row["source"] for row in json.loads(capsys.readouterr().out)}
        assert listed["opt10003"] == listed["opw00009"] == "imported"
        assert listed["opt10081"] == "built-in" and len(listed) == 27
        assert main(["meta", "list-tr", "--imported"]) == 0
        out = capsys.readouterr().out
        assert "opt10003" in out and "opt10081" not in out and "2 imported" in out
    finally:
        clear_cache()
    monkeypatch.delenv(ENV_OVERLAY)
    assert main(["meta", "list-tr", "--json"]) == 0
    assert "opt10003" not in {row["code"] for row in json.loads(capsys.readouterr().out)}


def test_broker_refuses_a_metadata_dir_that_is_not_there(tmp_path):
    from koabus.services.broker.app import use_metadata
    from koabus.services.broker.config import SettingsError, load_settings

    settings = load_settings(None, {"metadata_dir": str(tmp_path / "missing")})
    with pytest.raises(SettingsError, match="metadata_dir: .*does not exist"):
        use_metadata(settings)
    assert not catalog().has_tr("opt10003")  # the process's default is untouched
