"""Alerting service tests: the notifier tests' local HTTP server fixture, and the live broker's log tail in
a failed test's report (see tests/common/client/live.py)."""
from tests.common.client.live import pytest_runtest_makereport  # noqa: F401
from tests.services.alerting.notifiers.conftest import http_server  # noqa: F401
