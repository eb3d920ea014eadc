"""Shared fixtures: a Qt application (offscreen), loopback ports, the reference data in ../shared.

Every fixture that starts something stops it; nothing here waits without a bound.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# These 2-core machines run the suite with brokers and simulators beside it: how long Hypothesis takes
# to draw an example or run one says nothing about the code under test (speed is measured in bench/).
settings.register_profile("koabus", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("koabus")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def qapp(request):
    """The process-wide Qt application (Qt allows one per process): a QCoreApplication, or with
    --real-ocx a QApplication, which the ActiveX control (a QAxWidget, a widget) needs."""
    from PyQt5.QtCore import QCoreApplication

    app = QCoreApplication.instance()
    if app is None and request.config.getoption("--real-ocx", default=False):
        from PyQt5.QtWidgets import QApplication

        app = QApplication(["koabus-tests"])
    app = app or QCoreApplication(["koabus-tests"])
    yield app


@pytest.fixture(scope="session")
def shared_reference() -> Path:
    """../shared/reference: public metadata dumps and recorded traces (read-only, never copied)."""
    if not SHARED.is_dir():
        pytest.skip("../shared/reference is not beside this checkout")
    return SHARED
