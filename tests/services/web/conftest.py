"""Web dashboard tests: the live broker's log tail in a failed test's report (tests/common/client/live.py)."""
from tests.common.client.live import pytest_runtest_makereport  # noqa: F401
