"""A stand-in for the `grpc` names KOAPY scripts use: `grpc.RpcError` and `grpc.StatusCode`.

KOAPY's streams were gRPC calls; a script stops one with `stream.cancel()` from a timer thread and
catches `grpc.RpcError` around its loop. koabus needs no gRPC, so a cancelled stream raises
`CancelledError`, an `RpcError` whose `code()` is `StatusCode.CANCELLED`, as the real call did.
Scripts change `import grpc` to `from koabus.common.koapy import grpc`.
"""
from __future__ import annotations

import enum


class StatusCode(enum.Enum):
    """The gRPC status codes (name, (number, text)) KOAPY code may compare against."""

    OK = (0, "ok")
    CANCELLED = (1, "cancelled")
    UNKNOWN = (2, "unknown")
    INVALID_ARGUMENT = (3, "invalid argument")
    DEADLINE_EXCEEDED = (4, "deadline exceeded")
    NOT_FOUND = (5, "not found")
    ALREADY_EXISTS = (6, "already exists")
    PERMISSION_DENIED = (7, "permission denied")
    RESOURCE_EXHAUSTED = (8, "resource exhausted")
    FAILED_PRECONDITION = (9, "failed precondition")
    ABORTED = (10, "aborted")
    OUT_OF_RANGE = (11, "out of range")
    UNIMPLEMENTED = (12, "unimplemented")
    INTERNAL = (13, "internal")
    UNAVAILABLE = (14, "unavailable")
    DATA_LOSS = (15, "data loss")
    UNAUTHENTICATED = (16, "unauthenticated")


class RpcError(Exception):
    """Base of the errors a KOAPY stream raises (`except grpc.RpcError`)."""

    def code(self) -> StatusCode:
        return StatusCode.UNKNOWN

    def details(self) -> str:
        return str(self.args[0]) if self.args else ""


class CancelledError(RpcError):
    """The stream was cancelled by the application (`stream.cancel()`)."""

    def __init__(self, details: str = "Locally cancelled by application!"):
        super().__init__(details)

    def code(self) -> StatusCode:
        return StatusCode.CANCELLED

    def __str__(self) -> str:
        return (f"<_MultiThreadedRendezvous of RPC that terminated with:\n\tstatus = {self.code()}\n"
                f"\tdetails = \"{self.details()}\"\n>")


class StreamError(RpcError):
    """The stream failed on the koabus side; `__cause__` is the koabus error."""

    def __init__(self, details: str, status: StatusCode = StatusCode.UNKNOWN):
        super().__init__(details)
        self._status = status

    def code(self) -> StatusCode:
        return self._status
