"""KOAPY's metadata look-ups answered from koabus's catalog."""
from __future__ import annotations

from koabus.common.koapy import KiwoomOpenApiPlusRealType, KiwoomOpenApiPlusTrInfo, RealType
from koabus.metadata import catalog


def test_trinfo_by_code():
    info = KiwoomOpenApiPlusTrInfo.get_trinfo_by_code("OPT10001")
    spec = catalog().tr("opt10001")
    assert info.tr_code == "opt10001" and info.get_input_names() == ["종목코드"]
    assert info.get_single_output_names() == list(spec.single_names) and info.multi_outputs == []
    assert info.single_outputs[0].name == "종목코드" and info.single_outputs[0].fid == spec.single_outputs[0].fid
    daily = KiwoomOpenApiPlusTrInfo.get_trinfo_by_code("opt10081")
    assert "일자" in daily.get_multi_output_names()
    assert KiwoomOpenApiPlusTrInfo.get_trinfo_by_code("opt99999") is None


def test_realtype_fids_and_fid_names():
    fids = KiwoomOpenApiPlusRealType.get_fids_by_realtype_name("주식시세")
    assert fids == list(catalog().realtype("주식시세").fids) and fids[0] == 10
    assert RealType.get_fids_by_realtype("주식체결") == list(catalog().realtype("주식체결").fids)
    assert KiwoomOpenApiPlusRealType.get_fids_by_realtype_name("없는타입") == []
    assert KiwoomOpenApiPlusRealType.Fid.get_name_by_fid(10) == "현재가"
    assert KiwoomOpenApiPlusRealType.Fid.get_name_by_fid(987654, "987654") == "987654"
    assert KiwoomOpenApiPlusRealType.get_field_names_by_realtype_name("주식시세")[0] == "현재가"
