"""The exception tree survives the wire in both directions."""
from __future__ import annotations

import pytest

from koabus.common import errors


@pytest.mark.parametrize("cls", [errors.ProtocolError, errors.MessageTooLarge, errors.VersionMismatch,
                                 errors.InvalidRequest, errors.NotFound, errors.RiskRejected,
                                 errors.DuplicateOrder, errors.Unavailable, errors.Timeout,
                                 errors.Cancelled, errors.Overloaded, errors.JournalUnavailable,
                                 errors.OrderInDoubt])
def test_every_kind_round_trips(cls):
    exc = cls("why", details={"valid": ["a", "b"]})
    back = errors.error_from_wire(exc.to_wire())
    assert type(back) is cls and back.message == "why" and back.details == {"valid": ["a", "b"]}
    assert isinstance(back, errors.KoabusError)


def test_kiwoom_errors_keep_their_code():
    back = errors.error_from_wire(errors.KiwoomError(-200, "시세조회 과부하").to_wire())
    assert isinstance(back, errors.KiwoomError) and back.code == -200
    assert str(back) == "[-200] 시세조회 과부하"


def test_garbage_from_the_wire_still_becomes_an_error():
    assert isinstance(errors.error_from_wire("nonsense"), errors.KoabusError)
    assert errors.error_from_wire({"kind": "KiwoomError", "code": "x"}).code == -10


def test_journal_unavailable_is_a_transient_unavailable():
    back = errors.error_from_wire(errors.JournalUnavailable("disk").to_wire())
    assert isinstance(back, errors.Unavailable) and back.kind == "JournalUnavailable"
