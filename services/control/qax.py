"""The real control: `QAxWidget("KHOPENAPI.KHOpenAPICtrl.1")`, only on Windows with the OCX installed."""
from __future__ import annotations

import sys

PROG_ID = "KHOPENAPI.KHOpenAPICtrl.1"


class ControlUnavailable(RuntimeError):
    """The real OpenAPI+ control cannot be created here (not Windows, no QAxContainer, not installed)."""


def create_openapi_control(prog_id: str = PROG_ID):
    """Create the ActiveX control on the calling (Qt main) thread.

    Needs 32-bit Windows Python, PyQt5 with QAxContainer and Kiwoom OpenAPI+ installed (C:\\OpenAPI).
    A QApplication (not only QCoreApplication) must exist, as the control is a widget.
    """
    if sys.platform != "win32":
        raise ControlUnavailable(
            f"the Kiwoom OpenAPI+ control is a Windows ActiveX control; this is {sys.platform}. "
            "Use --backend sim here, or run the broker on 32-bit Windows with OpenAPI+ installed.")
    try:
        from PyQt5.QAxContainer import QAxWidget
    except ImportError as exc:  # pragma: no cover - Windows only
        raise ControlUnavailable(f"PyQt5.QAxContainer is not available: {exc}") from None
    control = QAxWidget()  # pragma: no cover - Windows only
    if not control.setControl(prog_id):  # pragma: no cover
        raise ControlUnavailable(f"could not create {prog_id}: is Kiwoom OpenAPI+ installed (C:\\OpenAPI)?")
    return control  # pragma: no cover
