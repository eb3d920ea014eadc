"""Signature normalisation: every spelling real code uses selects the same method."""
from __future__ import annotations

import pytest

from koabus.services.control.events import EVENTS, event
from koabus.services.control.signature import SignatureError, method_name, parse


@pytest.mark.parametrize("signature, expected", [
    ("CommRqData(QString, QString, int, QString)", ("CommRqData", ("QString", "QString", "int", "QString"))),
    ("CommRqData(const QString&, const QString&, int, const QString&)",
     ("CommRqData", ("QString", "QString", "int", "QString"))),
    ("CommRqData(QString,QString,int,QString)", ("CommRqData", ("QString", "QString", "int", "QString"))),
    ("  CommRqData ( String , String , long , String ) ", ("CommRqData", ("QString", "QString", "int", "QString"))),
    ("GetChejanData(QString)", ("GetChejanData", ("QString",))),
    ("CommKwRqData(QString, bool, int, int, QString, QString)",
     ("CommKwRqData", ("QString", "bool", "int", "int", "QString", "QString"))),
    ("GetConnectState()", ("GetConnectState", ())),
    ("GetConnectState", ("GetConnectState", ())),
    ("CommConnect(void)", ("CommConnect", ())),
    ("SetInputValue(QString sID, QString sValue)", ("SetInputValue", ("QString", "QString"))),
])
def test_parse_accepts_every_spelling(signature, expected):
    assert parse(signature) == expected


@pytest.mark.parametrize("bad", ["", "(", "Foo(", "Foo(int))", "1abc()", "Foo(int,)", None, 5])
def test_parse_rejects_what_names_no_method(bad):
    with pytest.raises(SignatureError):
        parse(bad)


def test_method_name():
    assert method_name("KOA_Functions(QString, QString)") == "KOA_Functions"


def test_event_table_has_the_nine_events_in_dispid_order():
    assert [e.dispid for e in EVENTS] == list(range(1, 10))
    assert event("OnReceiveTrData").arg_types == (str, str, str, str, str, int, str, str, str)
    assert event("OnReceiveChejanData").qt_signature == "OnReceiveChejanData(QString,int,QString)"
