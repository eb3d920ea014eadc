"""Build an OpenAPI `data/` folder (zip + cp949 .dat per TR) from the public metadata dump, for tests
that import real TR layouts the way `koabus meta import` reads an install."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterable

import pytest

DUMP = Path(__file__).resolve().parents[3] / "shared" / "reference" / "kiwoom-data" / "trinfo_by_code.json"


def dump() -> Dict[str, Any]:
    """The dump, or a skip when ../shared is not beside this checkout (as `shared_reference` does)."""
    if not DUMP.is_file():
        pytest.skip("../shared/reference is not beside this checkout")
    return json.loads(DUMP.read_text(encoding="utf-8"))


def dat_text(entry: Dict[str, Any]) -> str:
    """One TR of the dump as Kiwoom's `<TRCODE>.dat`: [TRINFO], [INPUT], [OUTPUT] records."""
    lines = ["[TRINFO]", f"TRName={entry['tr_name']}", f"TRType={entry['tr_type']}", "[INPUT]",
             f"@START_{entry['inputs_name']}"]
    lines += [f"    {i['name']} = {i['start']}, {i['offset']}, {i['fid']}" for i in entry["inputs"]]
    lines += [f"@END_{entry['inputs_name']}", "[OUTPUT]"]
    for key in ("single", "multi"):
        fields, name = entry[f"{key}_outputs"], entry[f"{key}_outputs_name"]
        if not fields and not name:
            continue
        params = entry[f"{key}_outputs_params"]
        head = "*,*,*" if key == "single" else f"{params['max_repeat_count']},4,{params['repeat_count_desc']}"
        lines.append(f"@START_{name}={head}")
        lines += [f"    {f['name']} = {f['start']}, {f['offset']}, {f['fid']}" for f in fields]
        lines.append(f"@END_{name}")
    return "\r\n".join(lines) + "\r\n"


def write_install(folder: Path, codes: Iterable[str]) -> Path:
    """`folder/data/o<code>.enc` for each TR code of the dump; returns the install folder."""
    data = Path(folder) / "data"
    data.mkdir(parents=True, exist_ok=True)
    entries = dump()
    for code in codes:
        with zipfile.ZipFile(data / f"{code.lower()}.enc", "w") as archive:
            archive.writestr(f"{code.upper()}.dat", dat_text(entries[code]).encode("cp949"))
    return Path(folder)
