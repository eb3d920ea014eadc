"""`koabus meta ...`: look up Kiwoom metadata (TRs, realtime types, FIDs, errors, methods) and import it.

Works offline: it reads the catalog in `koabus.metadata`, optionally with an imported overlay
(`--overlay DIR`, written by `koabus meta import`). Every data command takes `--json`.
"""
from __future__ import annotations

import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from koabus.common.errors import NotFound

DEFAULT_IMPORT_DIR = "koabus-metadata"
#: an imported folder for every `koabus meta` command without --overlay (as the broker's metadata_dir)
ENV_OVERLAY = "KOABUS_METADATA_DIR"


def register(subparsers) -> None:
    meta = subparsers.add_parser("meta", help="Kiwoom metadata: TRs, realtime types, FIDs, errors, methods")
    sub = meta.add_subparsers(dest="meta_command", metavar="SUBCOMMAND")
    meta.set_defaults(func=lambda args: (meta.print_help(), 2)[1])

    def data_command(name: str, help_text: str, func, arg: str = "", arg_help: str = "", optional=False):
        p = sub.add_parser(name, help=help_text)
        if arg:
            p.add_argument(arg, help=arg_help, nargs="?" if optional else None)
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.add_argument("--overlay", metavar="DIR", type=Path, help="an imported metadata folder to prefer")
        p.set_defaults(func=func)
        return p

    data_command("tr", "show a TR: inputs and outputs", cmd_tr, "code", "TR code, e.g. opt10081")
    p = data_command("list-tr", "list the known TR codes, built-in and imported", cmd_list_tr)
    p.add_argument("--imported", action="store_true", help="only the TRs that came from an import")
    data_command("realtype", "show a realtime type and its FIDs", cmd_realtype, "name",
                 "Korean name, slug or gidc, e.g. 주식체결, trade, 0B")
    data_command("list-realtypes", "list the known realtime types", cmd_list_realtypes)
    data_command("fid", "show a FID", cmd_fid, "fid", "FID number, e.g. 10")
    data_command("error", "explain a return code", cmd_error, "code", "code, e.g. -200")
    data_command("method", "show a control method", cmd_method, "name", "method name, e.g. CommRqData")
    data_command("enum", "show an enumeration (no name: list them)", cmd_enum, "name", "enumeration name",
                 optional=True)

    imp = sub.add_parser("import", help="import metadata from a real OpenAPI install folder")
    imp.add_argument("dir", type=Path, help="install folder (C:\\OpenAPI) or its data folder")
    imp.add_argument("--out", type=Path, default=Path(DEFAULT_IMPORT_DIR), help="output folder")
    imp.add_argument("--strict", action="store_true", help="exit non-zero if any file failed to import")
    imp.set_defaults(func=cmd_import)


# ------------------------------------------------------------------ helpers
def _catalog(args):
    from koabus.metadata import catalog

    return catalog(overlay_dir=overlay_of(args))


def overlay_of(args) -> Optional[Path]:
    """`--overlay DIR`, else $KOABUS_METADATA_DIR (the folder the broker's `metadata_dir` names), else none."""
    overlay = getattr(args, "overlay", None)
    if overlay is None and os.environ.get(ENV_OVERLAY, "").strip():
        overlay = Path(os.environ[ENV_OVERLAY].strip())
    return overlay


def _fail(message: str) -> int:
    print(f"koabus meta: {message}", file=sys.stderr)
    return 1


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - _width(c)) for i, c in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _run(args, body) -> int:
    try:
        return body(_catalog(args)) or 0
    except NotFound as exc:
        return _fail(str(exc))


# ------------------------------------------------------------------ commands
def tr_json(spec) -> Dict[str, Any]:
    """The `--json` form of a TR (the first six keys are a stable contract)."""
    return {
        "code": spec.code,
        "name": spec.name,
        "inputs": list(spec.input_names),
        "single_outputs": list(spec.single_names),
        "multi_outputs": list(spec.multi_names),
        "rows_per_page": spec.rows_per_page,
        "display_code": spec.display_code,
        "name_en": spec.name_en,
        "single_record": spec.single_record,
        "multi_record": spec.multi_record,
        "count_field": spec.count_field,
        "needs_account": spec.needs_account,
    }


def cmd_tr(args) -> int:
    def body(cat):
        spec = cat.tr(args.code)
        if args.json:
            _print_json(tr_json(spec))
            return 0
        pages = {None: f"variable (count in {spec.count_field})", 0: "0 (one block, read at index 0)"}
        print(f"{spec.display_code}  {spec.name}  {spec.name_en}")
        print(f"rows per page: {pages.get(spec.rows_per_page, spec.rows_per_page)}"
              f"   needs account: {'yes' if spec.needs_account else 'no'}")
        if spec.note:
            print(f"note: {spec.note}")
        print("\ninputs")
        print(_table([(i.name, i.default if i.default is not None else "",
                       ", ".join(f"{k}={v}" for k, v in (i.values or {}).items())) for i in spec.inputs],
                     ("name", "default", "values")))
        for title, record, fields in (("single", spec.single_record, spec.single_outputs),
                                      ("multi", spec.multi_record, spec.multi_outputs)):
            if fields:
                print(f"\n{title} [{record}]")
                print(_table([(f.name, f.name_en, f.kind, f.fid) for f in fields], ("name", "english", "kind", "fid")))
        return 0

    return _run(args, body)


def cmd_list_tr(args) -> int:
    """Every TR the catalog holds, built-in or imported (a broker whose metadata_dir is the same folder
    serves the same set)."""
    def body(cat):
        specs = [cat.tr(c) for c in cat.tr_codes()]
        if getattr(args, "imported", False):
            specs = [s for s in specs if cat.tr_source(s.code) != "built-in"]
        if args.json:
            _print_json([{"code": s.code, "name": s.name, "name_en": s.name_en, "source": cat.tr_source(s.code)}
                         for s in specs])
        else:
            print(_table([(s.display_code, s.name, s.name_en, cat.tr_source(s.code)) for s in specs],
                         ("code", "name", "english", "source")))
            counts = [cat.tr_source(s.code) for s in specs]
            print(f"\n{len(specs)} TRs: " + ", ".join(f"{counts.count(k)} {k}" for k in
                                                    ("built-in", "imported", "re-imported") if counts.count(k)))
        return 0

    return _run(args, body)


def _fid_rows(cat, fids: List[int]):
    rows = []
    for fid in fids:
        if cat.has_fid(fid):
            f = cat.fid(fid)
            rows.append((f.fid, f.name, f.name_en, f.kind))
        else:
            rows.append((fid, "", "", ""))
    return rows


def cmd_realtype(args) -> int:
    def body(cat):
        rt = cat.realtype(args.name)
        if args.json:
            _print_json({"name": rt.name, "gidc": rt.gidc, "slug": rt.slug, "aliases": list(rt.aliases),
                         "fids": list(rt.fids), "doc": rt.doc})
            return 0
        aliases = f"  (also {', '.join(rt.aliases)})" if rt.aliases else ""
        print(f"{rt.name}  gidc {rt.gidc}  slug {rt.slug}{aliases}")
        if rt.doc:
            print(rt.doc)
        print(f"\n{len(rt.fids)} FIDs in payload order")
        print(_table(_fid_rows(cat, list(rt.fids)), ("fid", "name", "english", "kind")))
        return 0

    return _run(args, body)


def cmd_list_realtypes(args) -> int:
    def body(cat):
        rts = cat.realtypes()
        if args.json:
            _print_json([{"name": r.name, "gidc": r.gidc, "slug": r.slug, "fids": len(r.fids)} for r in rts])
        else:
            print(_table([(r.name, r.gidc, r.slug, len(r.fids)) for r in rts], ("name", "gidc", "slug", "fids")))
        return 0

    return _run(args, body)


def cmd_fid(args) -> int:
    def body(cat):
        try:
            number = int(args.fid)
        except ValueError:
            raise NotFound(f"unknown FID {args.fid!r}") from None
        f = cat.fid(number)
        used_by = [rt.name for rt in cat.realtypes() if f.fid in rt.fids]
        if args.json:
            _print_json({"fid": f.fid, "name": f.name, "name_en": f.name_en, "kind": f.kind, "realtypes": used_by})
        else:
            print(_table([(f.fid, f.name, f.name_en, f.kind, ", ".join(used_by))],
                         ("fid", "name", "english", "kind", "realtime types")))
        return 0

    return _run(args, body)


def cmd_error(args) -> int:
    def body(cat):
        try:
            code = int(args.code)
        except ValueError:
            raise NotFound(f"unknown error code {args.code!r}") from None
        e = cat.error(code)
        if args.json:
            _print_json({"code": e.code, "constant": e.constant, "message_ko": e.message_ko,
                         "message_en": e.message_en, "wrapper_only": e.wrapper_only})
        else:
            note = "  (wrapper convention, not a Kiwoom code)" if e.wrapper_only else ""
            print(f"{e.code}  {e.constant}  {e.message_ko}  -  {e.message_en}{note}")
        return 0

    return _run(args, body)


def cmd_method(args) -> int:
    def body(cat):
        m = cat.method(args.name)
        if args.json:
            _print_json({"name": m.name, "dispid": m.dispid, "signature": m.signature,
                         "args": [[a.name, a.type] for a in m.args], "returns": m.returns,
                         "supported": m.supported, "needs_login": m.needs_login, "doc": m.doc})
        else:
            print(f"{m.signature} -> {m.returns}   dispid {m.dispid}")
            print(m.doc)
            flags = [] if m.supported else ["NOT SUPPORTED by the control"]
            flags.append("needs login" if m.needs_login else "works before login")
            print("; ".join(flags))
            if m.args:
                print()
                print(_table([(a.name, a.type) for a in m.args], ("argument", "type")))
        return 0

    return _run(args, body)


def cmd_enum(args) -> int:
    def body(cat):
        if not args.name:
            names = cat.enum_names()
            if args.json:
                _print_json({n: cat.enum_doc(n) for n in names})
            else:
                print(_table([(n, cat.enum_doc(n)) for n in names], ("enum", "meaning")))
            return 0
        values = cat.enum(args.name)
        if args.json:
            _print_json(values)
        else:
            print(cat.enum_doc(args.name))
            print(_table(list(values.items()), ("value", "meaning")))
        return 0

    return _run(args, body)


def cmd_import(args) -> int:
    from koabus.metadata.importer import import_install

    try:
        report = import_install(args.dir, args.out)
    except FileNotFoundError as exc:
        return _fail(str(exc))
    for error in report.errors:
        print(f"koabus meta import: skipped: {error}", file=sys.stderr)
    print(f"imported {len(report.trs)} TRs, {len(report.realtypes)} realtime types, {report.fids} FIDs "
          f"into {report.out_dir}")
    print(f"use it with: koabus meta tr CODE --overlay {report.out_dir}")
    print(f"serve its TRs: koabus broker --metadata {report.out_dir} (or metadata_dir: in its config); "
          f"{ENV_OVERLAY}={report.out_dir} makes it every `koabus meta` command's --overlay")
    if not report.trs and not report.realtypes:
        return 1
    return 1 if (args.strict and report.errors) else 0
