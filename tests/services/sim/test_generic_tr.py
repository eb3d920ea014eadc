"""TRs imported from an install but not modelled by the simulator: placeholder rows shaped by the spec."""
from __future__ import annotations

import pytest

from koabus.metadata import catalog, clear_cache, values
from koabus.metadata.catalog import set_default_overlay
from koabus.metadata.importer import import_install
from koabus.services.sim.trs.generic import MAX_ROWS, VARIABLE_ROWS, kind_of
from tests.metadata.enc_from_dump import write_install
from tests.services.sim.conftest import pump, recorded_control

SET = "SetInputValue(QString, QString)"
RQ = "CommRqData(QString, QString, int, QString)"
GET = "GetCommData(QString, QString, int, QString)"
COUNT = "GetRepeatCnt(QString, QString)"

OPW00009_INPUTS = [("주문일자", "20240614"), ("계좌번호", "8000000011"), ("비밀번호", ""), ("비밀번호입력매체구분", "00"),
                   ("주식채권구분", "0"), ("시장구분", "0"), ("매도수구분", "0"), ("조회구분", "1"), ("종목코드", ""),
                   ("시작주문번호", "")]


@pytest.fixture
def imported(tmp_path):
    """opt10003 and opw00009 (not built in) imported from .enc files, as this process's metadata."""
    import_install(write_install(tmp_path / "OpenAPI", ["opt10003", "opw00009"]), tmp_path / "meta")
    clear_cache()
    set_default_overlay(tmp_path / "meta")
    yield catalog()
    set_default_overlay(None)
    clear_cache()


@pytest.fixture
def control(qapp, imported):
    with recorded_control(qapp) as pair:
        yield pair


def _query(qapp, sim, rec, tr, inputs):
    """(return code, page read inside OnReceiveTrData: {single, rows}) of one request."""
    spec = catalog().tr(tr) if catalog().has_tr(tr) else None
    rec.clear()

    def read(screen, rq, code, *rest):
        count = sim.dynamicCall(COUNT, code, rq)
        single = {f.name: sim.dynamicCall(GET, code, rq, 0, f.name).strip() for f in spec.single_outputs}
        rows = [{f.name: sim.dynamicCall(GET, code, rq, i, f.name).strip() for f in spec.multi_outputs}
                for i in range(count)]
        return {"single": single, "rows": rows}

    rec.readers["OnReceiveTrData"] = read
    sim.sim.reset_limits()
    for name, value in inputs:
        sim.dynamicCall(SET, name, value)
    rc = sim.dynamicCall(RQ, "rq", tr, 0, "0101")
    pump(qapp, sim)
    pages = rec.of("OnReceiveTrData")
    return rc, (pages[-1][2] if pages else None)


def _assert_format_correct(spec, page):
    for fields, rows in ((spec.single_outputs, [page["single"]]), (spec.multi_outputs, page["rows"])):
        for row in rows:
            assert list(row) == [f.name for f in fields]
            for f in fields:
                kind = kind_of(f)
                if kind in values.PARSERS:
                    values.parse(kind, row[f.name])  # raises on a value not in its kind's format
                assert row[f.name] != "", f.name


def test_imported_tr_answers_placeholders_shaped_by_its_spec(qapp, control, imported):
    sim, rec = control
    spec = imported.tr("opt10003")
    rc, page = _query(qapp, sim, rec, "opt10003", [("종목코드", "005930")])
    assert rc == 0 and page is not None
    assert len(page["rows"]) == min(spec.rows_per_page, MAX_ROWS)
    _assert_format_correct(spec, page)
    assert values.parse("price", page["rows"][0]["현재가"]) == sim.sim.world.last_price("005930", sim.sim.clock.time())
    assert len({row["시간"] for row in page["rows"]}) == len(page["rows"])  # times count back per row
    again = _query(qapp, sim, rec, "opt10003", [("종목코드", "005930")])[1]
    assert again == page  # deterministic
    msgs = [m[1][3] for m in rec.of("OnReceiveMsg")]
    assert msgs and "조회가 완료" in msgs[-1]


def test_variable_record_fills_its_count_field(qapp, control, imported):
    sim, rec = control
    spec = imported.tr("opw00009")
    rc, page = _query(qapp, sim, rec, "opw00009", OPW00009_INPUTS)
    assert rc == 0 and len(page["rows"]) == VARIABLE_ROWS
    assert page["single"][spec.count_field] == str(VARIABLE_ROWS)
    _assert_format_correct(spec, page)
    assert {values.parse("code", row["종목번호"]) for row in page["rows"]} <= set(sim.sim.world.stock_codes())


def test_unknown_tr_still_fails_request_init(qapp, control):
    sim, rec = control
    rc, page = _query(qapp, sim, rec, "opt10002", [("종목코드", "005930")])  # in the dump, not imported here
    assert rc == -201 and page is None
