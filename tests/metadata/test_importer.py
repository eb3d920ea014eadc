"""The importer, on an install folder the test builds in Kiwoom's formats (zip + cp949 .dat, nkrealtime.dat)."""
from __future__ import annotations

import json
import zipfile

import pytest

from koabus.common.cli.main import main
from koabus.metadata import catalog, clear_cache
from koabus.metadata.importer import FormatError, import_install, parse_nkrealtime, parse_tr_dat


def dat_text(code_name, inputs, records, gfid="3003"):
    """A .dat in Kiwoom's layout; records: (name, params, [(field, fid)])."""
    lines = ["[TRINFO]", "TRName=TESTNAME", "TRType=1", f"GFID={gfid}", "", "[INPUT]", f"@START_{code_name}"]
    start = 0
    for name, fid in inputs:
        lines.append(f"    {name} = {start}, 10, {fid}")
        start += 10
    lines += ["@END_" + code_name, "[OUTPUT]"]
    for rec, params, fields in records:
        lines.append(f"@START_{rec}={params}")
        start = 0
        for name, fid in fields:
            lines.append(f"    {name} = {start}, 20, {fid}")
            start += 20
        lines.append(f"@END_{rec}")
    return "\r\n".join(lines) + "\r\n"


def write_enc(folder, code, text, encoding="cp949"):
    with zipfile.ZipFile(folder / f"{code.lower()}.enc", "w") as z:
        z.writestr(f"{code.upper()}.dat", text.encode(encoding))


def nk_line(gidc, name, fids):
    raw_name = name.encode("cp949")
    return (gidc.encode() + raw_name + b" " * (20 - len(raw_name)) + str(len(fids)).rjust(3).encode()
            + b"".join(str(f).rjust(5).encode() for f in fids) + b"\r\n")


@pytest.fixture()
def install(tmp_path):
    data = tmp_path / "OpenAPI" / "data"
    data.mkdir(parents=True)
    # a TR we ship, with one field renamed to show the import wins
    write_enc(data, "opt10081", dat_text(
        "주식일봉차트조회요청", [("종목코드", 9001), ("기준일자", 9004), ("수정주가구분", 9055)],
        [("주식일봉차트", "*,*,*", [("종목코드", 9001)]),
         ("주식일봉차트조회", "500,4,*", [("현재가", 10), ("거래량", 13), ("일자", 22), ("신규필드", 77777)])]))
    # a TR we don't ship: multi-only, with a count field kept in single
    write_enc(data, "opt10002", dat_text(
        "주식거래원요청", [("종목코드", 9001)],
        [("주식거래원", "*,*,*", [("종목코드", 9001), ("종목명", 302), ("현재가", 10), ("매도거래원1", 141),
                                  ("알수없음", -1), ("알수없음", -1)])]))
    write_enc(data, "opw00099", dat_text(
        "계좌테스트요청", [("계좌번호", -1), ("비밀번호", -1), ("비밀번호입력매체구분", -1)],
        [("계좌합계", "*,*,*", [("조회건수", -1)]), ("계좌목록", "*,4,조회건수", [("종목번호", -1), ("보유수량", -1)])]))
    # malformed: a zip whose .dat has no [INPUT] section; and a file that is not a zip at all
    write_enc(data, "opt10003", "[TRINFO]\r\nTRName=X\r\nTRType=1\r\n[OUTPUT]\r\n")
    (data / "opt10004.enc").write_bytes(b"this is not a zip")
    nk = b";comment line\r\n" + nk_line("0B", "주식체결", [20, 10, 11, 15, 852, 9081]) + nk_line(
        "0x", "새실시간", [10, 9999]) + b"0Q\xb1\xe2\xc5\xb8 broken line\r\n"
    (data / "nkrealtime.dat").write_bytes(nk)
    return tmp_path / "OpenAPI"


def test_import_writes_our_format_and_reports_errors(install, tmp_path):
    out = tmp_path / "imported"
    report = import_install(install, out)
    assert sorted(report.trs) == ["opt10002", "opt10081", "opw00099"]
    assert report.realtypes == ["주식체결", "새실시간"]
    assert len(report.errors) == 3
    assert any("opt10003.enc" in e and "[INPUT]" in e for e in report.errors)
    assert any("opt10004.enc" in e and "not a zip" in e for e in report.errors)
    assert any("nkrealtime.dat line 4" in e for e in report.errors)
    assert all("\n" not in e for e in report.errors)
    for name in ("trs.json", "realtypes.json", "fids.json", "import_report.json"):
        json.loads((out / name).read_text(encoding="utf-8"))
    assert not (out / "trinfo_by_code.json").exists()


def test_overlay_catalog_prefers_imported_entries(install, tmp_path):
    out = tmp_path / "imported"
    import_install(install, out)
    clear_cache()
    try:
        cat = catalog(overlay_dir=out)
        daily = cat.tr("OPT10081")
        assert daily.rows_per_page == 500
        assert daily.multi_names == ("현재가", "거래량", "일자", "신규필드")
        assert daily.field("현재가").name_en == "current_price" and daily.field("일자").kind == "date"
        assert daily.field("신규필드").name_en == "field_3"
        assert daily.inputs[2].values == {"0": "raw", "1": "adjusted"}  # kept from the built-in spec
        new = cat.tr("opt10002")
        assert new.name == "주식거래원요청" and new.single_record == "주식거래원"
        assert new.rows_per_page is None and new.multi_outputs == ()
        assert [f.name_en for f in new.single_outputs][:4] == ["code", "name", "current_price", "sell_broker_1"]
        assert len({f.name_en for f in new.single_outputs}) == 6
        acct = cat.tr("opw00099")
        assert acct.needs_account and acct.count_field == "조회건수" and acct.rows_per_page is None
        assert {i.name: i.default for i in acct.inputs} == {"계좌번호": None, "비밀번호": "", "비밀번호입력매체구분": "00"}
        trade = cat.realtype("trade")
        assert trade.fids == (20, 10, 11, 15, 852, 9081) and trade.gidc == "0B"
        assert cat.realtype("새실시간").slug.startswith("rt_")
        assert cat.fid(9081).name_en == "fid_9081" and cat.fid(10).name_en == "current_price"
        assert cat.tr("opt10001").name == "주식기본정보요청"  # built-in entries still there
        assert catalog().tr("opt10081").rows_per_page == 600
    finally:
        clear_cache()


def test_cli_import(install, tmp_path, capsys):
    out = tmp_path / "cli-out"
    rc = main(["meta", "import", str(install / "data"), "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert rc == 0 and "imported 3 TRs, 2 realtime types" in stdout
    assert stderr.count("skipped:") == 3
    rc = main(["meta", "import", str(install), "--out", str(out), "--strict"])
    capsys.readouterr()
    assert rc == 1
    clear_cache()
    try:
        rc = main(["meta", "tr", "opt10002", "--json", "--overlay", str(out)])
        assert rc == 0 and json.loads(capsys.readouterr().out)["name"] == "주식거래원요청"
    finally:
        clear_cache()
    rc = main(["meta", "import", str(tmp_path / "empty-nowhere"), "--out", str(out)])
    assert rc == 1 and "koabus meta:" in capsys.readouterr().err


def test_parse_tr_dat_errors_name_the_problem():
    with pytest.raises(FormatError, match=r"opt1: .*\[TRINFO\]"):
        parse_tr_dat("hello", "opt1")
    bad_field = dat_text("X", [("a", 1)], [("R", "*,*,*", [("b", 2)])]).replace("b = 0, 20, 2", "b 0 20 2")
    with pytest.raises(FormatError, match="expected 'name = start, length, fid'"):
        parse_tr_dat(bad_field, "opt2")
    with pytest.raises(FormatError, match="rows"):
        parse_tr_dat(dat_text("X", [("a", 1)], [("R", "x,4,*", [("b", 2)])]), "opt3")


def test_parse_nkrealtime_skips_comments_and_bad_lines():
    types, errors = parse_nkrealtime(b";c\r\n" + nk_line("0A", "주식시세", [10, 11]) + b"\r\n0Z" + b"x" * 20 + b"  2   10\r\n")
    assert types == [("0A", "주식시세", [10, 11])]
    assert len(errors) == 1 and "line 4" in errors[0]


def test_import_round_trips_every_builtin_tr(tmp_path):
    """Writing our built-in specs in Kiwoom's .dat layout and importing them gives the same specs back."""
    data = tmp_path / "data"
    data.mkdir()
    base = catalog()
    for code in base.tr_codes():
        spec = base.tr(code)
        records = []
        if spec.single_outputs:
            records.append((spec.single_record, "*,*,*", [(f.name, f.fid or -1) for f in spec.single_outputs]))
        if spec.multi_outputs:
            rows = "*" if spec.rows_per_page is None else str(spec.rows_per_page)
            records.append((spec.multi_record, f"{rows},4,{spec.count_field or '*'}",
                            [(f.name, f.fid or -1) for f in spec.multi_outputs]))
        write_enc(data, code, dat_text(spec.name, [(i, -1) for i in spec.input_names], records))
    out = tmp_path / "out"
    report = import_install(data, out)
    assert report.errors == [] and sorted(report.trs) == base.tr_codes()
    clear_cache()
    try:
        over = catalog(overlay_dir=out)
        for code in base.tr_codes():
            assert over.tr(code) == base.tr(code), code
    finally:
        clear_cache()
