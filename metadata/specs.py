"""Typed, immutable descriptions of Kiwoom's API surface: TRs, realtime types, FIDs, errors, methods, events."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

# Every value kind `koabus.metadata.values.parse` understands (see docs/metadata.md).
VALUE_KINDS = ("str", "code", "int", "price", "signed", "float", "date", "time", "maybe_time", "datetime", "bool")


@dataclass(frozen=True)
class Field:
    """One TR output field: Korean name (what GetCommData takes), English name, value kind, FID if any."""

    name: str
    name_en: str
    kind: str
    fid: Optional[int] = None


@dataclass(frozen=True)
class TrInput:
    """One TR input, set with SetInputValue: name, allowed values {code: meaning} if known, default."""

    name: str
    values: Optional[Dict[str, str]] = None
    default: Optional[str] = None


@dataclass(frozen=True)
class TrSpec:
    """A TR (조회): inputs in declared order, the single record and the multi record with their fields.

    `rows_per_page` is the multi record's page size: an int, 0 when the record does not repeat (KOA
    shows it as single data, read it at index 0), or None when variable (the count is in
    `count_field` of the single record). `display_code` is the spelling the OCX echoes (OPTKWFID).
    """

    code: str
    name: str
    inputs: Tuple[TrInput, ...]
    single_record: str
    single_outputs: Tuple[Field, ...]
    multi_record: str
    multi_outputs: Tuple[Field, ...]
    rows_per_page: Optional[int]
    count_field: Optional[str]
    needs_account: bool
    name_en: str = ""
    display_code: str = ""
    note: str = ""

    @property
    def input_names(self) -> Tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    @property
    def single_names(self) -> Tuple[str, ...]:
        return tuple(f.name for f in self.single_outputs)

    @property
    def multi_names(self) -> Tuple[str, ...]:
        return tuple(f.name for f in self.multi_outputs)

    def field(self, name: str) -> Field:
        """The output field called `name` (Korean or English), single record first; KeyError if none."""
        for f in self.single_outputs + self.multi_outputs:
            if name in (f.name, f.name_en):
                return f
        raise KeyError(f"{self.code} has no output field {name!r}")


@dataclass(frozen=True)
class RealType:
    """A realtime type as OnReceiveRealData names it, with its FIDs in sRealData (tab-separated) order."""

    name: str
    gidc: str
    slug: str
    fids: Tuple[int, ...]
    aliases: Tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class Fid:
    """A field id (GetCommRealData / GetChejanData / SetRealReg) with its names and value kind."""

    fid: int
    name: str
    name_en: str
    kind: str


@dataclass(frozen=True)
class ErrorCode:
    """A return code of the control (0 OK, negative errors). `wrapper_only`: used by wrappers, not Kiwoom."""

    code: int
    constant: str
    message_ko: str
    message_en: str
    wrapper_only: bool = False


@dataclass(frozen=True)
class Arg:
    """One argument of a method or event: its name in Kiwoom's documentation and its Qt type word."""

    name: str
    type: str


@dataclass(frozen=True)
class Method:
    """A dispatch member of the OCX. `returns`: int, str, bool, list (VARIANT) or void.

    Unsupported members exist on the control but do nothing useful; `unsupported_return` is what a
    call gives back (None for void).
    """

    name: str
    dispid: int
    args: Tuple[Arg, ...]
    returns: str
    supported: bool
    needs_login: bool
    doc: str
    unsupported_return: object = None

    @property
    def signature(self) -> str:
        """The canonical dynamicCall spelling, e.g. `CommRqData(QString, QString, int, QString)`."""
        return f"{self.name}({', '.join(a.type for a in self.args)})"


@dataclass(frozen=True)
class Event:
    """An OCX event (a Qt signal under PyQt5) with its positional arguments."""

    name: str
    dispid: int
    args: Tuple[Arg, ...]
    doc: str = ""

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(a.type for a in self.args)})"
