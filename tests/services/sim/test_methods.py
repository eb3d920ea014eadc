"""The simulator's member table agrees with the metadata catalog, and every member is emulated."""
from __future__ import annotations

from koabus.metadata import catalog
from koabus.services.sim.methods import METHOD_TYPES, convert_args, to_int, to_qstring


def test_member_table_matches_the_catalog():
    methods = catalog().methods()
    assert len(METHOD_TYPES) == len(methods) == 58
    for ours, theirs in zip(METHOD_TYPES, methods):
        assert (ours.name, ours.dispid) == (theirs.name, theirs.dispid)
        assert ours.args == tuple("int" if a.type in ("int", "long", "bool") else "QString" for a in theirs.args), ours.name


def test_qaxbase_style_conversion():
    assert to_int("0") == 0 and to_int(" 12 ") == 12 and to_int("abc") == 0 and to_int(True) == 1
    assert to_int(2.6) == 3 and to_int("2.0") == 2
    assert to_qstring(5) == "5" and to_qstring(None) == "" and to_qstring(True) == "true"
    send_order = next(m for m in METHOD_TYPES if m.name == "SendOrder")
    assert convert_args(send_order, ["rq", 1, 8000000011, "1", "005930", "3", 0, "03", ""]) == (
        "rq", "1", "8000000011", 1, "005930", 3, 0, "03", "")


def test_every_member_is_callable(qapp, sim):
    for method in METHOD_TYPES:
        if method.name in ("CommConnect", "ShowAccountWindow"):
            continue
        args = [0 if t == "int" else "" for t in method.args]
        result = sim.dynamicCall(f"{method.name}({', '.join(method.args)})", *args)
        if method.returns == "void":
            assert result is None, method.name
        elif method.returns in ("long", "BOOL"):
            assert isinstance(result, int), method.name
        elif method.returns == "BSTR":
            assert isinstance(result, str), method.name
