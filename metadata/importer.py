"""Importer: reads a real OpenAPI+ install (`data/o*.enc`, `data/nkrealtime.dat`) into our JSON format.

The output folder holds `trs.json`, `realtypes.json`, `fids.json` (and `import_report.json`); give it
to `catalog(overlay_dir=...)` and its entries take precedence over the built-in tables. Kiwoom's files
carry Korean names, FIDs and record layouts only: English names and value kinds are taken from the
built-in catalog where the same TR, field name or FID is known, and are generic (`field_3`, `str`)
otherwise.

Formats (facts sheet §11, and nkrealtime.dat as public parsers read it):
- `oXXXXX.enc` is a zip archive holding `<TRCODE>.dat` in cp949: `[TRINFO]` with `TRName=`,
  optional `TRNameSVR=`, `TRType=`, optional `GFID=`; `[INPUT]` with one `@START_<TR name>` ... `@END_`
  block of `name = start, length, fid` lines; `[OUTPUT]` with one or two `@START_<record>=a,b,c` blocks,
  where `*,*,*` marks the single record and otherwise `a` is the rows per page (`*` variable), `b` is 4
  and `c` the field holding the row count (or `*`).
- `nkrealtime.dat` is cp949 text, `;` comment lines, then one fixed-width line per realtime type:
  gidc (2 bytes), name (20 bytes, space padded), FID count (3), then that many 5-byte FIDs.
"""
from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from koabus.metadata.catalog import Catalog, catalog

ENCODING = "cp949"
GIDC_BYTES, NAME_BYTES, COUNT_BYTES, FID_BYTES = 2, 20, 3, 5

# inputs whose default is obvious whatever the TR
COMMON_INPUT_DEFAULTS = {"비밀번호": "", "비밀번호입력매체구분": "00"}


class FormatError(ValueError):
    """A Kiwoom metadata file that does not follow the expected layout (the message says where)."""


@dataclass
class RawField:
    name: str
    fid: Optional[int]


@dataclass
class RawRecord:
    name: str
    rows: str  # '*' or a number, as written
    count_field: str  # '*' or a field name
    fields: List[RawField]

    @property
    def is_single(self) -> bool:
        return self.rows == "*" and self.count_field == "*"


@dataclass
class RawTr:
    """One TR as Kiwoom's .dat file describes it (Korean names and FIDs only)."""

    code: str
    name: str
    tr_name: str
    tr_type: str
    inputs: List[RawField]
    records: List[RawRecord]


@dataclass
class ImportReport:
    """What an import read and wrote; `errors` are one line each (`file: problem`)."""

    out_dir: Path
    trs: List[str] = field(default_factory=list)
    realtypes: List[str] = field(default_factory=list)
    fids: int = 0
    errors: List[str] = field(default_factory=list)


# ------------------------------------------------------------------ parsing Kiwoom's files
def _field_line(line: str, where: str) -> RawField:
    if "=" not in line:
        raise FormatError(f"{where}: expected 'name = start, length, fid', got {line.strip()!r}")
    name, rest = (part.strip() for part in line.split("=", 1))
    parts = [p.strip() for p in rest.split(",")]
    if not name or len(parts) < 2:
        raise FormatError(f"{where}: expected 'name = start, length, fid', got {line.strip()!r}")
    fid = None
    if len(parts) >= 3 and parts[2]:
        try:
            fid = int(parts[2])
        except ValueError:
            raise FormatError(f"{where}: bad FID {parts[2]!r} for {name!r}") from None
    return RawField(name, fid if fid is not None and fid > 0 else None)


def parse_tr_dat(text: str, code: str) -> RawTr:
    """Parse the text of one `<TRCODE>.dat`; raises FormatError naming the TR and the problem."""
    lines = [ln.rstrip("\r\n") for ln in text.splitlines() if ln.strip()]
    where = code
    pos = 0

    def expect(pred, what):
        nonlocal pos
        if pos >= len(lines) or not pred(lines[pos].strip()):
            got = lines[pos].strip() if pos < len(lines) else "end of file"
            raise FormatError(f"{where}: expected {what}, got {got!r}")
        pos += 1
        return lines[pos - 1].strip()

    expect(lambda s: s == "[TRINFO]", "[TRINFO]")
    header: Dict[str, str] = {}
    while pos < len(lines) and not lines[pos].strip().startswith("["):
        key, _, value = lines[pos].strip().partition("=")
        header[key.strip()] = value.strip()
        pos += 1
    if "TRName" not in header:
        raise FormatError(f"{where}: [TRINFO] has no TRName=")
    expect(lambda s: s == "[INPUT]", "[INPUT]")
    start = expect(lambda s: s.startswith("@START_"), "@START_<input record>")
    name = start[len("@START_"):].split("=", 1)[0].strip()
    inputs = []
    while pos < len(lines) and not lines[pos].strip().startswith("@END_"):
        inputs.append(_field_line(lines[pos], where))
        pos += 1
    expect(lambda s: s.startswith("@END_"), "@END_ after the inputs")
    expect(lambda s: s == "[OUTPUT]", "[OUTPUT]")
    records = []
    while pos < len(lines):
        head = expect(lambda s: s.startswith("@START_"), "@START_<record>=rows,4,count")
        rec_name, _, params = head[len("@START_"):].partition("=")
        params_list = [p.strip() for p in params.split(",")] if params else ["*", "*", "*"]
        if len(params_list) != 3:
            raise FormatError(f"{where}: record {rec_name!r} has params {params!r}, expected a,b,c")
        rows, _, count = params_list
        if rows != "*" and not rows.isdigit():
            raise FormatError(f"{where}: record {rec_name!r} has rows {rows!r}")
        fields = []
        while pos < len(lines) and not lines[pos].strip().startswith("@END_"):
            fields.append(_field_line(lines[pos], where))
            pos += 1
        expect(lambda s: s.startswith("@END_"), f"@END_ closing record {rec_name!r}")
        records.append(RawRecord(rec_name.strip(), rows, count, fields))
    if len(records) > 2:
        raise FormatError(f"{where}: {len(records)} output records, expected at most 2")
    return RawTr(code.lower(), name, header["TRName"], header.get("TRType", ""), inputs, records)


def read_enc(path: Path) -> List[RawTr]:
    """The TRs inside one .enc archive (normally one)."""
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise FormatError(f"{path.name}: not a zip archive") from None
    out = []
    with archive:
        for info in archive.infolist():
            if not info.filename.lower().endswith(".dat"):
                continue
            code = Path(info.filename).stem.lower()
            raw = archive.read(info)
            try:
                text = raw.decode(ENCODING)
            except UnicodeDecodeError as exc:
                raise FormatError(f"{path.name}/{info.filename}: not {ENCODING} text ({exc.reason})") from None
            try:
                out.append(parse_tr_dat(text, code))
            except FormatError as exc:
                raise FormatError(f"{path.name}/{exc}") from None
    if not out:
        raise FormatError(f"{path.name}: no .dat file inside")
    return out


def parse_nkrealtime(data: bytes) -> Tuple[List[Tuple[str, str, List[int]]], List[str]]:
    """(gidc, name, fids) per realtime type, plus one error line per malformed line (which is skipped)."""
    types, errors = [], []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.rstrip(b"\r")
        if not line.strip() or line.startswith(b";"):
            continue
        try:
            gidc = line[:GIDC_BYTES].decode(ENCODING).strip()
            name = line[GIDC_BYTES:GIDC_BYTES + NAME_BYTES].decode(ENCODING).strip()
            rest = line[GIDC_BYTES + NAME_BYTES:]
            count_text = rest[:COUNT_BYTES].strip()
            if not count_text.isdigit():
                raise ValueError(f"no FID count at byte {GIDC_BYTES + NAME_BYTES}")
            count = int(count_text)
            if len(rest) < COUNT_BYTES + count * FID_BYTES:
                raise ValueError(f"{count} FIDs announced, line too short")
            rest = rest[COUNT_BYTES:]
            fids = [int(rest[i * FID_BYTES:(i + 1) * FID_BYTES]) for i in range(count)]
            if not gidc or not name or rest[count * FID_BYTES:].strip(b" \x0d"):
                raise ValueError("trailing bytes or empty gidc/name")
        except (ValueError, UnicodeDecodeError) as exc:
            errors.append(f"nkrealtime.dat line {number}: malformed ({exc})")
            continue
        types.append((gidc, name, fids))
    return types, errors


# ------------------------------------------------------------------ turning them into our format
class _Namer:
    """English names and kinds for imported fields, borrowed from the built-in catalog."""

    def __init__(self, base: Catalog):
        self.base = base
        votes: Dict[str, Counter] = {}
        for code in base.tr_codes():
            spec = base.tr(code)
            for f in spec.single_outputs + spec.multi_outputs:
                votes.setdefault(f.name, Counter())[(f.name_en, f.kind)] += 1
        self.vocab = {name: c.most_common(1)[0][0] for name, c in votes.items()}

    def field(self, code: str, record_is_single: bool, raw: RawField, index: int) -> Tuple[str, str]:
        if self.base.has_tr(code):
            spec = self.base.tr(code)
            for f in spec.single_outputs if record_is_single else spec.multi_outputs:
                if f.name == raw.name:
                    return f.name_en, f.kind
        if raw.name in self.vocab:
            return self.vocab[raw.name]
        if raw.fid is not None and self.base.has_fid(raw.fid):
            fid = self.base.fid(raw.fid)
            return fid.name_en, fid.kind
        return f"field_{index}", "str"


def _record_json(code: str, rec: Optional[RawRecord], single: bool, namer: _Namer) -> Dict[str, Any]:
    if rec is None:
        body: Dict[str, Any] = {"record": "", "fields": []}
        if not single:
            body.update(rows_per_page=None, count_field=None)
        return body
    fields, used = [], set()
    for i, raw in enumerate(rec.fields):
        en, kind = namer.field(code, single, raw, i)
        base_en, n = en, 2
        while en in used:
            en, n = f"{base_en}_{n}", n + 1
        used.add(en)
        fields.append([raw.name, en, kind, raw.fid])
    body = {"record": rec.name, "fields": fields}
    if not single:
        body["rows_per_page"] = None if rec.rows == "*" else int(rec.rows)
        body["count_field"] = None if rec.count_field == "*" else rec.count_field
    return body


def tr_to_json(raw: RawTr, namer: _Namer) -> Dict[str, Any]:
    single = next((r for r in raw.records if r.is_single), None)
    multi = next((r for r in raw.records if not r.is_single), None)
    known = {i.name: i for i in namer.base.tr(raw.code).inputs} if namer.base.has_tr(raw.code) else {}
    inputs = []
    for i in raw.inputs:
        row: Dict[str, Any] = {"name": i.name}
        spec = known.get(i.name)
        if spec is not None and spec.values:
            row["values"] = spec.values
        default = spec.default if spec is not None else COMMON_INPUT_DEFAULTS.get(i.name)
        if default is not None:
            row["default"] = default
        inputs.append(row)
    entry = {
        "name": raw.name,
        "name_en": namer.base.tr(raw.code).name_en if namer.base.has_tr(raw.code) else "",
        "display_code": raw.code.upper() if raw.code in ("optkwfid", "optkwinv", "optkwpro", "optfofid") else raw.code,
        "needs_account": raw.code.startswith("opw") or "계좌번호" in {i.name for i in raw.inputs},
        "inputs": inputs,
        "single": _record_json(raw.code, single, True, namer),
        "multi": _record_json(raw.code, multi, False, namer),
        "kiwoom_name": raw.tr_name,
    }
    if namer.base.has_tr(raw.code) and namer.base.tr(raw.code).note:
        entry["note"] = namer.base.tr(raw.code).note
    return entry


def _slug_for(gidc: str) -> str:
    return "rt_" + gidc.encode(ENCODING).hex()


def realtypes_to_json(types: Iterable[Tuple[str, str, List[int]]], base: Catalog) -> List[Dict[str, Any]]:
    known = {rt.name: rt for rt in base.realtypes()}
    rows = []
    for gidc, name, fids in types:
        rt = known.get(name)
        rows.append({
            "name": name,
            "gidc": gidc,
            "slug": rt.slug if rt is not None else _slug_for(gidc),
            "aliases": list(rt.aliases) if rt is not None else [],
            "doc": rt.doc if rt is not None else "",
            "fids": fids,
        })
    return rows


def compact_json(obj: Any, indent: int = 0) -> str:
    """JSON with one key per line and short scalar lists (and field rows) kept on one line."""
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        flat = json.dumps(obj, ensure_ascii=False)
        if all(not isinstance(v, (dict, list)) for v in obj.values()) and len(flat) < 100:
            return flat
        items = [f"{pad} {json.dumps(k, ensure_ascii=False)}: {compact_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list):
        flat = json.dumps(obj, ensure_ascii=False)
        if all(not isinstance(v, (dict, list)) for v in obj):
            return flat
        return "[\n" + ",\n".join(f"{pad} {compact_json(v, indent + 1)}" for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def _write(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(compact_json(obj) + "\n", encoding="utf-8")
    tmp.replace(path)


def find_data_dir(install_dir: Path) -> Path:
    """`install_dir/data` for an install folder (C:\\OpenAPI), or the folder itself if it holds the files."""
    install_dir = Path(install_dir)
    if (install_dir / "data").is_dir():
        return install_dir / "data"
    return install_dir


def import_install(install_dir: Path, out_dir: Path, base: Optional[Catalog] = None) -> ImportReport:
    """Read every `o*.enc` and `nkrealtime.dat` under `install_dir` and write our tables to `out_dir`.

    A malformed file is reported in `errors` and skipped; the rest is still imported. Raises
    FileNotFoundError when the folder holds neither kind of file.
    """
    base = base or catalog()
    data_dir = find_data_dir(install_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{install_dir}: no such folder")
    enc_files = sorted(p for p in data_dir.iterdir() if p.suffix.lower() == ".enc" and p.name.lower().startswith("o"))
    rt_file = next((p for p in data_dir.iterdir() if p.name.lower() == "nkrealtime.dat"), None)
    if not enc_files and rt_file is None:
        raise FileNotFoundError(f"{data_dir}: no o*.enc or nkrealtime.dat files (is this an OpenAPI install?)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = ImportReport(out_dir)
    namer = _Namer(base)

    trs: Dict[str, Any] = {}
    for path in enc_files:
        try:
            for raw in read_enc(path):
                trs[raw.code] = tr_to_json(raw, namer)
                report.trs.append(raw.code)
        except (FormatError, OSError) as exc:
            report.errors.append(str(exc))
    realtypes: List[Dict[str, Any]] = []
    if rt_file is not None:
        types, errors = parse_nkrealtime(rt_file.read_bytes())
        report.errors.extend(errors)
        realtypes = realtypes_to_json(types, base)
        report.realtypes = [rt["name"] for rt in realtypes]

    fids: Dict[str, List[str]] = {}
    field_names: Dict[int, str] = {}
    for tr in trs.values():
        for rec in (tr["single"], tr["multi"]):
            for name, _en, _kind, fid in rec["fields"]:
                if fid is not None:
                    field_names.setdefault(fid, name)
    wanted = set(field_names) | {f for rt in realtypes for f in rt["fids"]}
    for fid in sorted(wanted):
        if base.has_fid(fid):
            known = base.fid(fid)
            fids[str(fid)] = [known.name, known.name_en, known.kind]
        else:
            fids[str(fid)] = [field_names.get(fid, ""), f"fid_{fid}", "str"]
    report.fids = len(fids)

    if trs:
        _write(out_dir / "trs.json", {"_doc": f"Imported from {data_dir}", "trs": dict(sorted(trs.items()))})
    if realtypes:
        _write(out_dir / "realtypes.json", {"_doc": f"Imported from {data_dir}", "realtypes": realtypes})
    if fids:
        _write(out_dir / "fids.json", {"_doc": "FIDs seen in the imported TRs and realtime types", "fids": fids})
    _write(out_dir / "import_report.json", {
        "source": str(data_dir), "trs": len(report.trs), "realtypes": len(report.realtypes),
        "fids": report.fids, "errors": report.errors,
    })
    return report
