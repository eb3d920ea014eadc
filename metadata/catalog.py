"""The metadata catalog: loads the JSON tables in `metadata/data/` (plus an optional imported overlay) once.

Loading is lazy and cached: `catalog()` reads the JSON files on first use; TR specs are turned into
dataclasses only when asked for. An overlay folder written by `koabus meta import` takes precedence
over the built-in tables entry by entry (a TR, a realtime type, a FID...). With no folder given,
`catalog()` uses the process's default overlay, which an entry point sets with `set_default_overlay`
(the broker does, from its `metadata_dir` setting, so its simulated control serves the same TRs); none
otherwise. The library never reads the environment.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from koabus.common.errors import NotFound
from koabus.metadata.specs import (
    Arg,
    ErrorCode,
    Event,
    Fid,
    Field,
    Method,
    RealType,
    TrInput,
    TrSpec,
)

DATA_DIR = Path(__file__).resolve().parent / "data"
TR_BUILT_IN, TR_IMPORTED, TR_REIMPORTED = "built-in", "imported", "re-imported"

# file name -> top-level key holding the table; tables are merged key by key with the overlay's first
TABLES = {
    "trs.json": "trs",
    "realtypes.json": "realtypes",
    "fids.json": "fids",
    "chejan.json": "gubun",
    "errors.json": "errors",
    "methods.json": "methods",
    "events.json": "events",
    "enums.json": "enums",
}


def _read_json(path: Path) -> Dict[str, Any]:
    with path.open("r", encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object at the top level")
    return data


def _keyed(table: Any, key_of) -> Dict[Any, Any]:
    """A table as a dict: dicts stay, lists are keyed by `key_of(row)`."""
    if isinstance(table, dict):
        return dict(table)
    return {key_of(row): row for row in table}


class Catalog:
    """Kiwoom described as data. Build with `koabus.metadata.catalog()`, not directly.

    Lookups raise `NotFound` (a one-line message) for unknown names.
    """

    def __init__(self, data_dir: Path = DATA_DIR, overlay_dir: Optional[Path] = None):
        if overlay_dir is not None and not Path(overlay_dir).is_dir():
            raise NotFound(f"metadata overlay folder {str(overlay_dir)!r} does not exist")
        self._lock = threading.Lock()
        raw = {name: self._load_table(data_dir, overlay_dir, name) for name in TABLES}
        self.overlay_dir = Path(overlay_dir) if overlay_dir is not None else None
        self._builtin_trs = {k.lower() for k in _read_json(data_dir / "trs.json")["trs"]}
        self._imported_trs = ({k.lower() for k in _read_json(self.overlay_dir / "trs.json")["trs"]}
                              if self.overlay_dir is not None and (self.overlay_dir / "trs.json").is_file() else set())
        self._tr_raw: Dict[str, Dict[str, Any]] = {k.lower(): v for k, v in raw["trs.json"].items()}
        self._tr_cache: Dict[str, TrSpec] = {}
        self._fids = {
            int(k): Fid(int(k), row[0], row[1], row[2]) for k, row in raw["fids.json"].items()
        }
        self._realtypes: List[RealType] = [
            RealType(
                name=row["name"],
                gidc=row.get("gidc", ""),
                slug=row.get("slug", ""),
                fids=tuple(int(f) for f in row["fids"]),
                aliases=tuple(row.get("aliases", ())),
                doc=row.get("doc", ""),
            )
            for row in raw["realtypes.json"].values()
        ]
        self._realtype_index: Dict[str, RealType] = {}
        for rt in self._realtypes:
            for key in (rt.gidc, rt.slug, rt.name, *rt.aliases):
                if key:
                    self._realtype_index.setdefault(key, rt)
        self._chejan = {str(k): tuple(int(f) for f in v) for k, v in raw["chejan.json"].items()}
        self._errors = {
            int(row[0]): ErrorCode(int(row[0]), row[1], row[2], row[3], bool(row[4]) if len(row) > 4 else False)
            for row in raw["errors.json"].values()
        }
        self._methods = {
            row["name"].lower(): Method(
                name=row["name"],
                dispid=int(row["dispid"]),
                args=tuple(Arg(a[0], a[1]) for a in row["args"]),
                returns=row["returns"],
                supported=bool(row["supported"]),
                needs_login=bool(row["needs_login"]),
                doc=row.get("doc", ""),
                unsupported_return=row.get("unsupported_return"),
            )
            for row in raw["methods.json"].values()
        }
        self._events = {
            row["name"].lower(): Event(
                row["name"], int(row["dispid"]), tuple(Arg(a[0], a[1]) for a in row["args"]), row.get("doc", "")
            )
            for row in raw["events.json"].values()
        }
        self._enums = {name: (e.get("doc", ""), dict(e["values"])) for name, e in raw["enums.json"].items()}

    @staticmethod
    def _load_table(data_dir: Path, overlay_dir: Optional[Path], name: str) -> Dict[Any, Any]:
        key = TABLES[name]
        key_of = {
            "realtypes": lambda row: row["name"],
            "errors": lambda row: str(row[0]),
            "methods": lambda row: row["name"],
            "events": lambda row: row["name"],
        }.get(key, lambda row: row)
        table = _keyed(_read_json(data_dir / name)[key], key_of)
        if overlay_dir is not None and (Path(overlay_dir) / name).is_file():
            over = _keyed(_read_json(Path(overlay_dir) / name)[key], key_of)
            if key == "trs":  # TR codes are case-insensitive: an imported OPTKWFID replaces optkwfid
                table = {k.lower(): v for k, v in table.items()}
                over = {k.lower(): v for k, v in over.items()}
            table.update(over)
        return table

    # ---- TRs
    def tr(self, code: str) -> TrSpec:
        """The TR spec for `code` (case-insensitive: opt10081, OPT10081, OPTKWFID)."""
        key = str(code).strip().lower()
        spec = self._tr_cache.get(key)
        if spec is not None:
            return spec
        row = self._tr_raw.get(key)
        if row is None:
            raise NotFound(f"unknown TR code {code!r}")
        spec = _build_tr(key, row)
        with self._lock:
            self._tr_cache[key] = spec
        return spec

    def tr_codes(self) -> List[str]:
        return sorted(self._tr_raw)

    def has_tr(self, code: str) -> bool:
        return str(code).strip().lower() in self._tr_raw

    def tr_source(self, code: str) -> str:
        """Where a TR's spec comes from: built-in, imported (only in the overlay) or re-imported (both:
        the imported spec wins). The simulator models built-in TRs and answers the others generically."""
        key = str(code).strip().lower()
        if key not in self._tr_raw:
            raise NotFound(f"unknown TR code {code!r}")
        if key in self._imported_trs:
            return TR_REIMPORTED if key in self._builtin_trs else TR_IMPORTED
        return TR_BUILT_IN

    # ---- realtime
    def realtype(self, key: str) -> RealType:
        """A realtime type by its Korean name, an alias, its slug (`trade`) or its gidc (`0B`)."""
        rt = self._realtype_index.get(str(key).strip())
        if rt is None:
            raise NotFound(f"unknown realtime type {key!r}")
        return rt

    def realtypes(self) -> List[RealType]:
        return list(self._realtypes)

    # ---- FIDs
    def fid(self, fid: int) -> Fid:
        try:
            return self._fids[int(fid)]
        except (KeyError, ValueError, TypeError):
            raise NotFound(f"unknown FID {fid!r}") from None

    def fids(self) -> List[Fid]:
        return [self._fids[k] for k in sorted(self._fids)]

    def has_fid(self, fid: int) -> bool:
        return fid in self._fids

    def chejan_fids(self, gubun: str) -> Tuple[int, ...]:
        """The FIDs OnReceiveChejanData lists for sGubun "0" (orders), "1" (balance), "4" (derivatives)."""
        try:
            return self._chejan[str(gubun)]
        except KeyError:
            raise NotFound(f"unknown chejan gubun {gubun!r}") from None

    # ---- errors, methods, events
    def error(self, code: int) -> ErrorCode:
        try:
            return self._errors[int(code)]
        except (KeyError, ValueError, TypeError):
            raise NotFound(f"unknown error code {code!r}") from None

    def errors(self) -> List[ErrorCode]:
        return [self._errors[k] for k in sorted(self._errors, reverse=True)]

    def method(self, name: str) -> Method:
        """A dispatch member by name (case-insensitive; a full `Name(types)` signature is accepted too)."""
        key = str(name).split("(", 1)[0].strip().lower()
        try:
            return self._methods[key]
        except KeyError:
            raise NotFound(f"unknown method {name!r}") from None

    def methods(self) -> List[Method]:
        return sorted(self._methods.values(), key=lambda m: m.dispid)

    def event(self, name: str) -> Event:
        key = str(name).split("(", 1)[0].strip().lower()
        try:
            return self._events[key]
        except KeyError:
            raise NotFound(f"unknown event {name!r}") from None

    def events(self) -> List[Event]:
        return sorted(self._events.values(), key=lambda e: e.dispid)

    # ---- enumerations
    def enum(self, name: str) -> Dict[str, str]:
        """An enumeration {code: meaning}; see `enum_names()` and docs/metadata.md."""
        try:
            return dict(self._enums[name][1])
        except KeyError:
            raise NotFound(f"unknown enumeration {name!r}") from None

    def enum_doc(self, name: str) -> str:
        if name not in self._enums:
            raise NotFound(f"unknown enumeration {name!r}")
        return self._enums[name][0]

    def enum_names(self) -> List[str]:
        return sorted(self._enums)


def _fields(rows: List[List[Any]]) -> Tuple[Field, ...]:
    return tuple(Field(r[0], r[1], r[2], r[3] if len(r) > 3 else None) for r in rows)


def _build_tr(code: str, row: Dict[str, Any]) -> TrSpec:
    single = row.get("single") or {}
    multi = row.get("multi") or {}
    return TrSpec(
        code=code,
        name=row.get("name", ""),
        inputs=tuple(TrInput(i["name"], i.get("values"), i.get("default")) for i in row.get("inputs", ())),
        single_record=single.get("record", ""),
        single_outputs=_fields(single.get("fields", [])),
        multi_record=multi.get("record", ""),
        multi_outputs=_fields(multi.get("fields", [])),
        rows_per_page=multi.get("rows_per_page"),
        count_field=multi.get("count_field"),
        needs_account=bool(row.get("needs_account", False)),
        name_en=row.get("name_en", ""),
        display_code=row.get("display_code") or code,
        note=row.get("note", ""),
    )


_CACHE: Dict[Optional[str], Catalog] = {}
_CACHE_LOCK = threading.Lock()
_default_overlay: Optional[Path] = None


def set_default_overlay(overlay_dir: Optional[Path]) -> None:
    """Make `overlay_dir` the overlay of `catalog()` in this process (None: no overlay).

    For a process entry point, from its settings (the broker's `metadata_dir`); library code passes
    `overlay_dir` explicitly instead.
    """
    global _default_overlay
    _default_overlay = Path(overlay_dir) if overlay_dir is not None else None


def default_overlay() -> Optional[Path]:
    """The overlay `catalog()` uses when given none (see `set_default_overlay`)."""
    return _default_overlay


def catalog(overlay_dir: Optional[Path] = None) -> Catalog:
    """The cached Catalog; with `overlay_dir` (default: `default_overlay()`), imported tables there take
    precedence over the built-in ones."""
    if overlay_dir is None:
        overlay_dir = default_overlay()
    key = str(Path(overlay_dir).resolve()) if overlay_dir is not None else None
    cat = _CACHE.get(key)
    if cat is None:
        with _CACHE_LOCK:
            cat = _CACHE.get(key)
            if cat is None:
                cat = Catalog(DATA_DIR, Path(overlay_dir) if overlay_dir is not None else None)
                _CACHE[key] = cat
    return cat


def clear_cache() -> None:
    """Forget cached catalogs (tests, or after re-importing into the same overlay folder)."""
    with _CACHE_LOCK:
        _CACHE.clear()
