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
