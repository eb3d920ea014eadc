"""One exception tree for koabus, shared by the broker, the SDK and the wire protocol.

Every error that crosses the bus is sent as a `kind` string plus fields; `error_from_wire` turns it
back into the matching class so callers can `except KiwoomError` whether the failure happened
locally or in the broker.
"""
from __future__ import annotations

from typing import Any, Dict, Optional


class KoabusError(Exception):
    """Base of every koabus error. `kind` is the name used on the wire."""

    kind = "KoabusError"

    def __init__(self, message: str = "", *, details: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})

    def to_wire(self) -> Dict[str, Any]:
        return {"kind": self.kind, "code": None, "message": self.message, "details": self.details}

    def __str__(self) -> str:
        return self.message or self.kind


class ProtocolError(KoabusError):
    """A frame or message that does not follow docs/protocol.md (malformed, truncated, wrong type)."""

    kind = "ProtocolError"


class MessageTooLarge(ProtocolError):
    """A frame larger than the protocol's maximum frame size."""

    kind = "MessageTooLarge"


class VersionMismatch(ProtocolError):
    """The peer speaks a protocol major version we do not."""

    kind = "VersionMismatch"


class InvalidRequest(KoabusError):
    """A well-formed request whose operation or arguments are wrong (unknown op, bad input name...)."""

    kind = "InvalidRequest"


class NotFound(InvalidRequest):
    """A name that does not exist: TR code, realtime type, FID, error code, method, condition."""

    kind = "NotFound"


class Forbidden(KoabusError):
    """An operation the client's key may not run; `details.role_needed` names the role it needs."""

    kind = "Forbidden"


class KiwoomError(KoabusError):
    """A failure reported by the control or the Kiwoom server, with its numeric code (e.g. -200)."""

    kind = "KiwoomError"

    def __init__(self, code: int, message: str = "", *, details: Optional[Dict[str, Any]] = None):
        super().__init__(message or f"Kiwoom error {code}", details=details)
        self.code = int(code)

    def to_wire(self) -> Dict[str, Any]:
        wire = super().to_wire()
        wire["code"] = self.code
        return wire

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class RiskRejected(KoabusError):
    """An order refused by the broker's own risk limits before it reached Kiwoom."""

    kind = "RiskRejected"


class DuplicateOrder(KoabusError):
    """A client order id that was already used for a different order."""

    kind = "DuplicateOrder"


class Unavailable(KoabusError):
    """The broker or the control cannot serve now (disconnected, restarting, shutting down)."""

    kind = "Unavailable"


class JournalUnavailable(Unavailable):
    """The order journal could not be written, so the order was not sent (transient: retry later)."""

    kind = "JournalUnavailable"


class OrderInDoubt(KoabusError):
    """An order that may have reached the server but whose fate could not be established.

    The broker never re-sends it; `details` hold what is known (request, journal records, times).
    Check the account (opw00007/opt10075) or wait for the broker to reconcile it again.
    """

    kind = "OrderInDoubt"


class Timeout(KoabusError):
    """A deadline passed before the answer arrived."""

    kind = "Timeout"


class Cancelled(KoabusError):
    """The caller cancelled the request, or the broker dropped it on shutdown."""

    kind = "Cancelled"


class Overloaded(KoabusError):
    """The broker refused work because a queue or a per-client quota is full."""

    kind = "Overloaded"


_BY_KIND = {
    cls.kind: cls
    for cls in (
        KoabusError, ProtocolError, MessageTooLarge, VersionMismatch, InvalidRequest, NotFound, Forbidden,
        KiwoomError, RiskRejected, DuplicateOrder, Unavailable, JournalUnavailable, OrderInDoubt, Timeout,
        Cancelled, Overloaded,
    )
}


def error_from_wire(fields: Dict[str, Any]) -> KoabusError:
    """Rebuild an exception from the `kind/code/message/details` fields of an error reply.

    Unknown kinds become a plain KoabusError so a newer broker never crashes an older client.
    """
    kind = fields.get("kind") if isinstance(fields, dict) else None
    message = str(fields.get("message", "")) if isinstance(fields, dict) else ""
    details = fields.get("details") if isinstance(fields, dict) else None
    details = details if isinstance(details, dict) else {}
    cls = _BY_KIND.get(kind, KoabusError)
    if cls is KiwoomError:
        code = fields.get("code")
        return KiwoomError(code if isinstance(code, int) else -10, message, details=details)
    err = cls(message, details=details)
    if cls is KoabusError and kind and kind != "KoabusError":
        err.details.setdefault("kind", kind)
    return err
