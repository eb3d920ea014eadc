"""Our TR specs and realtime types agree with the public metadata dumps in ../shared (names, order, pages)."""
from __future__ import annotations

import csv
import json

import pytest

from koabus.metadata import catalog

# FIDs the facts sheet documents as newer than the 2022 dump, per realtime type
NEWER_FIDS = {"주식체결": (852,)}


@pytest.fixture(scope="module")
def trinfo(shared_reference):
    with (shared_reference / "kiwoom-data" / "trinfo_by_code.json").open(encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def realtypes_dump(shared_reference):
    with (shared_reference / "kiwoom-data" / "realtype_by_desc.json").open(encoding="utf-8") as fh:
        return json.load(fh)


def _names(rows):
    return tuple(r["name"] for r in rows)


@pytest.mark.parametrize("code", catalog().tr_codes())
def test_tr_matches_dump(code, trinfo):
    spec = catalog().tr(code)
    ref = trinfo[code]
    assert spec.name == ref["inputs_name"]
    assert spec.input_names == _names(ref["inputs"])
    assert spec.single_names == _names(ref["single_outputs"])
    assert spec.multi_names == _names(ref["multi_outputs"])
    assert spec.single_record == (ref["single_outputs_name"] or "")
    assert spec.multi_record == (ref["multi_outputs_name"] or "")
    if ref["multi_outputs"]:
        max_rows = ref["multi_outputs_params"]["max_repeat_count"]
        assert spec.rows_per_page == (None if max_rows == "*" else int(max_rows))
        count = ref["multi_outputs_params"]["repeat_count_desc"]
        assert spec.count_field == (None if count == "*" else count)
        if spec.count_field:
            assert spec.count_field in spec.single_names
    else:
        assert spec.rows_per_page is None
    for field, ref_field in zip(spec.single_outputs + spec.multi_outputs,
                                ref["single_outputs"] + ref["multi_outputs"]):
        assert field.fid == (ref_field["fid"] if ref_field["fid"] > 0 else None)


@pytest.mark.parametrize("code", catalog().tr_codes())
def test_tr_fields_are_typed_and_uniquely_named(code):
    from koabus.metadata.specs import VALUE_KINDS

    spec = catalog().tr(code)
    for record in (spec.single_outputs, spec.multi_outputs):
        en = [f.name_en for f in record]
        assert len(en) == len(set(en)), f"duplicate English names in {code}"
        for f in record:
            assert f.kind in VALUE_KINDS
            assert f.name_en.isascii() and f.name_en == f.name_en.lower() and " " not in f.name_en


@pytest.mark.parametrize("rt", catalog().realtypes(), ids=lambda rt: rt.slug)
def test_realtype_matches_dump(rt, realtypes_dump):
    ref = realtypes_dump[rt.name]
    assert rt.gidc == ref["gidc"]
    newer = NEWER_FIDS.get(rt.name, ())
    core = tuple(f for f in rt.fids if f not in newer or f in ref["fids"])
    assert core == tuple(ref["fids"])
    assert rt.fids[len(core):] == tuple(f for f in newer if f not in ref["fids"])


def test_every_realtime_and_chejan_fid_is_described():
    cat = catalog()
    used = {f for rt in cat.realtypes() for f in rt.fids}
    used |= {f for g in ("0", "1", "4") for f in cat.chejan_fids(g)}
    missing = sorted(f for f in used if not cat.has_fid(f))
    assert missing == []


def test_fid_korean_names_agree_with_dump_where_both_name_them(shared_reference):
    with (shared_reference / "kiwoom-data" / "fid.csv").open(encoding="utf-8-sig") as fh:
        dump = {int(r["fid"]): r["name"] for r in csv.DictReader(fh)}
    cat = catalog()
    # ours normalises a few spellings (e.g. '(최우선)매도호가'); compare ignoring punctuation and spaces
    def norm(s):
        return "".join(ch for ch in s if ch.isalnum())

    agree = [f.fid for f in cat.fids() if f.fid in dump and f.name and norm(dump[f.fid]) in norm(f.name)]
    both = [f.fid for f in cat.fids() if f.fid in dump and f.name]
    assert len(agree) >= 0.8 * len(both)
