"""KOAPY's event messages: the attributes scripts read, and MessageToDict's protobuf JSON shape."""
from __future__ import annotations

import pytest

from koabus.common.koapy import Argument, ListenResponse, MessageToDict

EVENT = ListenResponse.make("OnReceiveTrData", ["0001", "rq", "opt10081", "주식일봉차트조회", 7, True],
                            {"종목코드": "005930"}, ["일자", "현재가"], [["20250602", "87600"]])


def test_attributes_koapy_code_reads():
    assert EVENT.name == "OnReceiveTrData"
    assert EVENT.arguments[1].string_value == "rq" and EVENT.arguments[1].long_value == 0
    assert EVENT.arguments[4].long_value == 7 and EVENT.arguments[4].string_value == ""
    assert EVENT.arguments[5].bool_value is True and EVENT.arguments[5].WhichOneof("value") == "bool_value"
    assert list(zip(EVENT.single_data.names, EVENT.single_data.values)) == [("종목코드", "005930")]
    assert EVENT.multi_data.names == ["일자", "현재가"] and EVENT.multi_data.values[0].values == ["20250602", "87600"]
    assert EVENT.HasField("single_data") and not ListenResponse("x").HasField("multi_data")


def test_message_to_dict_follows_protobuf_json():
    assert MessageToDict(EVENT, preserving_proto_field_name=True) == {
        "name": "OnReceiveTrData",
        "arguments": [{"string_value": "0001"}, {"string_value": "rq"}, {"string_value": "opt10081"},
                      {"string_value": "주식일봉차트조회"}, {"long_value": "7"}, {"bool_value": True}],
        "single_data": {"names": ["종목코드"], "values": ["005930"]},
        "multi_data": {"names": ["일자", "현재가"], "values": [{"values": ["20250602", "87600"]}]},
    }
    camel = MessageToDict(ListenResponse.make("OnReceiveMsg", ["0001"]))
    assert camel == {"name": "OnReceiveMsg", "arguments": [{"stringValue": "0001"}]}  # empty data left out


def test_argument_kinds_and_unknown_messages():
    assert Argument.of(3).which == "long_value" and Argument.of("3").which == "string_value"
    with pytest.raises(TypeError):
        MessageToDict(object())
