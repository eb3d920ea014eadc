"""Failed tests here report the tail of the live broker's log (see tests/common/client/live.py); `client`
is a blocking Client on the module's live broker (tests/common/conftest.py)."""
import pytest

from koabus.common.client import Client, ClientOptions
from tests.common.client.live import pytest_runtest_makereport  # noqa: F401

LIVE_OPTIONS = ClientOptions(timeout_s=20.0, connect_timeout_s=10.0)


@pytest.fixture(scope="module")
def client(broker):
    with Client(broker.router, broker.pub, options=LIVE_OPTIONS) as c:
        yield c
