"""KOAPY's metadata look-ups (`KiwoomOpenApiPlusTrInfo`, `KiwoomOpenApiPlusRealType`, the older
`RealType`) answered from koabus's own catalog (koabus.metadata), not from KOAPY's data files."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

from koabus.common.errors import NotFound
from koabus.metadata import catalog
from koabus.metadata.specs import TrSpec


@dataclass(frozen=True)
class TrField:
    """One TR input or output: its Korean name (what SetInputValue / GetCommData take), the FID
    when it has one (-1 when not, as KOAPY wrote it), its English name and value kind."""

    name: str
    fid: int = -1
    name_en: str = ""
    kind: str = "str"


@dataclass(frozen=True)
class KiwoomOpenApiPlusTrInfo:
    """A TR's inputs and outputs: `KiwoomOpenApiPlusTrInfo.get_trinfo_by_code("opt10001")`."""

    tr_code: str
    name: str
    tr_name: str
    inputs: List[TrField] = field(default_factory=list)
    single_outputs_name: str = ""
    single_outputs: List[TrField] = field(default_factory=list)
    multi_outputs_name: str = ""
    multi_outputs: List[TrField] = field(default_factory=list)

    Field = TrField

    def get_input_names(self) -> List[str]:
        return [f.name for f in self.inputs]

    def get_single_output_names(self) -> List[str]:
        return [f.name for f in self.single_outputs]

    def get_multi_output_names(self) -> List[str]:
        return [f.name for f in self.multi_outputs]

    @classmethod
    def get_trinfo_by_code(cls, trcode: str) -> Optional[KiwoomOpenApiPlusTrInfo]:
        """The TR's info, None for an unknown code (as KOAPY)."""
        try:
            spec = catalog().tr(trcode)
        except NotFound:
            return None
        return cls.of(spec)

    @classmethod
    def get_trinfo_codes(cls) -> List[str]:
        return catalog().tr_codes()

    @classmethod
    def of(cls, spec: TrSpec) -> KiwoomOpenApiPlusTrInfo:
        return cls(spec.code, spec.name, spec.name, [TrField(i.name) for i in spec.inputs],
                   spec.single_record, [_field(f) for f in spec.single_outputs],
                   spec.multi_record, [_field(f) for f in spec.multi_outputs])


def _field(f: Any) -> TrField:
    return TrField(f.name, f.fid if f.fid is not None else -1, f.name_en, f.kind)


class _Fid:
    """FID look-ups: `KiwoomOpenApiPlusRealType.Fid.get_name_by_fid(10)` -> "현재가"."""

    @staticmethod
    def get_name_by_fid(fid: Any, default: Optional[str] = None) -> Optional[str]:
        try:
            return catalog().fid(int(fid)).name
        except (NotFound, ValueError, TypeError):
            return default

    @staticmethod
    def get_fid_by_name(name: str, default: Optional[int] = None) -> Optional[int]:
        for f in catalog().fids():
            if name in (f.name, f.name_en):
                return f.fid
        return default


@dataclass(frozen=True)
class KiwoomOpenApiPlusRealType:
    """A realtime type (주식체결, 주식시세, ...) with its FIDs in the order OnReceiveRealData sends them."""

    gidc: str
    name: str
    nfid: int
    fids: List[int]

    Fid = _Fid

    @classmethod
    def get_realtype_info_by_realtype_name(cls, realtype: str) -> Optional[KiwoomOpenApiPlusRealType]:
        try:
            rt = catalog().realtype(realtype)
        except NotFound:
            return None
        return cls(rt.gidc, rt.name, len(rt.fids), list(rt.fids))

    get_realtype_info_by_gidc = get_realtype_info_by_realtype_name

    @classmethod
    def get_fids_by_realtype_name(cls, realtype: str) -> List[int]:
        """The FIDs of a realtime type; [] for an unknown one."""
        info = cls.get_realtype_info_by_realtype_name(realtype)
        return list(info.fids) if info is not None else []

    get_fids_by_realtype = get_fids_by_realtype_name

    @classmethod
    def get_field_names_by_realtype_name(cls, realtype: str) -> List[str]:
        return [_Fid.get_name_by_fid(fid, str(fid)) or str(fid) for fid in cls.get_fids_by_realtype_name(realtype)]

    get_field_names_by_realtype = get_field_names_by_realtype_name

    @classmethod
    def get_realtype_names(cls) -> List[str]:
        return [rt.name for rt in catalog().realtypes()]


#: the name KOAPY's first releases used (`from koapy import RealType`; `RealType.get_fids_by_realtype`)
RealType = KiwoomOpenApiPlusRealType
