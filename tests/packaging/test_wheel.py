"""The distribution installs everything under the `koabus` namespace and ships its metadata files."""
from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
         str(REPO)],
        check=True, timeout=180, capture_output=True,
    )
    (wheel,) = out.glob("koabus-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_nothing_bare_lands_in_site_packages(wheel_names):
    top = {name.split("/")[0] for name in wheel_names}
    assert {t for t in top if not t.startswith("koabus")} == set()
    for bare in ("common", "services", "metadata", "tests", "bench"):
        assert bare not in top


def test_the_three_folders_map_under_koabus(wheel_names):
    for module in ("koabus/common/protocol/messages.py", "koabus/common/errors.py",
                   "koabus/services/__init__.py", "koabus/metadata/__init__.py"):
        assert module in wheel_names


def test_metadata_data_files_are_shipped(wheel_names):
    assert any(n.startswith("koabus/metadata/data/") and n.endswith(".json") for n in wheel_names)


def test_console_script_is_declared(wheel_names):
    entry_points = [n for n in wheel_names if n.endswith("entry_points.txt")]
    assert entry_points
