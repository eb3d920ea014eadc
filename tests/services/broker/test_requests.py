"""Unit tests of request validation: the generic `call` refuses UI, session-changing and bypassing members."""
from __future__ import annotations

import pytest

from koabus.common.errors import InvalidRequest
from koabus.services.broker.requests import KOA_READERS, REFUSED_CALLS, validate


@pytest.mark.parametrize("method, use", [
    ("CommConnect", "login"), ("commconnect", "login"), ("CommConnect()", "login"),
    ("CommTerminate", None), ("SetInfoData", None), ("SendOrder", "order"), ("GetChejanData", "order"),
    ("CommRqData", "tr"), ("CommKwRqData", "kwfid"), ("SetRealReg", "subscribe"),
    ("SendCondition", "condition_search"), ("GetConditionLoad", "condition_load"),
])
def test_refused_members_name_the_op_to_use(method, use):
    with pytest.raises(InvalidRequest) as info:
        validate("call", {"method": method, "args": []})
    assert info.value.details["use"] == use
    if use:
        assert f"op '{use}'" in str(info.value)


@pytest.mark.parametrize("function", ["ShowAccountWindow", "showaccountwindow", "SetConditionSearchFlag",
                                      "SomethingUndocumented", ""])
def test_koa_functions_only_runs_documented_readers(function):
    with pytest.raises(InvalidRequest) as info:
        validate("call", {"method": "KOA_Functions", "args": [function, ""]})
    assert info.value.details["function"] == function and "GetServerGubun" in info.value.details["valid"]
    with pytest.raises(InvalidRequest):
        validate("call", {"method": "KOA_Functions(QString, QString)", "args": [function, ""]})


def test_modal_dialog_refusal_says_why():
    with pytest.raises(InvalidRequest, match="modal dialog"):
        validate("call", {"method": "KOA_Functions", "args": ["ShowAccountWindow", ""]})


@pytest.mark.parametrize("function", KOA_READERS)
def test_readers_pass(function):
    assert validate("call", {"method": "KOA_Functions", "args": [function, "005930"]})["method"] == "KOA_Functions"


def test_plain_readers_and_unknown_names_pass_validation():
    assert validate("call", {"method": "GetMasterCodeName", "args": ["005930"]})
    assert validate("call", {"method": "NoSuchMember", "args": []})  # the catalog answers NotFound later
    assert "SetInfoData" in REFUSED_CALLS and "CommTerminate" in REFUSED_CALLS


@pytest.mark.parametrize("op, args, arg", [
    ("order", {"account": "8000000011", "side": "buy", "code": "005930", "qty": 1, "price": 70000,
               "client_order_id": "c" * 65}, "client_order_id"),
    ("order", {"account": "8" * 65, "side": "buy", "code": "005930", "qty": 1}, "account"),
    ("order", {"account": "8000000011", "side": "buy", "code": "0" * 17, "qty": 1}, "code"),
    ("order_status", {"order_no": "1" * 65}, "order_no"),
    ("subscribe", {"codes": ["005930", "9" * 17], "types": ["trade"]}, "codes"),
    ("snapshot", {"prefix": "rt." + "x" * 253}, "prefix"),
])
def test_ids_codes_and_prefixes_have_length_limits(op, args, arg):
    with pytest.raises(InvalidRequest) as info:
        validate(op, args)
    assert info.value.details["arg"] == arg and "at most" in str(info.value) and len(str(info.value)) < 120
    shorter = {k: ([v[0]] if isinstance(v, list) else v[:6] if k == arg else v) for k, v in args.items()}
    validate(op, shorter)  # the same request within the limits passes
