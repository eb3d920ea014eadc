"""The broker's import graph stays installable on 32-bit Windows: no pandas, numpy, pyarrow, rich, calendars, SDK."""
from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("pandas", "numpy", "pyarrow", "rich", "exchange_calendars", "koabus.common.client",
             "koabus.services.sim")

SCRIPT = """
import sys
import koabus.services.broker.app, koabus.services.broker.cli
bad = sorted(m for m in sys.modules if any(m == f or m.startswith(f + '.') for f in {forbidden!r}))
print(','.join(bad))
"""


def test_broker_imports_no_consumer_side_packages():
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(forbidden=FORBIDDEN)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
