"""Failed tests here report the tail of the live broker's log (see tests/common/client/live.py)."""
from tests.common.client.live import pytest_runtest_makereport  # noqa: F401
