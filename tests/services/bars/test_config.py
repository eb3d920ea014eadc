"""Bars settings: the shipped deploy/bars.yaml loads, unknown keys and bad values are refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from koabus.services.bars.config import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[3]


def test_the_shipped_settings_load():
    s = load_settings(str(REPO / "deploy" / "bars.yaml"))
    assert s.intervals_s == (60, 180, 300, 600, 900, 1800, 3600)
    assert s.publish == "tcp://127.0.0.1:5592" and s.snapshot == "tcp://127.0.0.1:5596" and s.backfill


@pytest.mark.parametrize("overrides", [
    {"colour": "red"},
    {"intervals": ["90s"]},
    {"intervals": ["5x"]},
    {"intervals": []},
    {"codes": []},
    {"codes": ["00 59"]},
    {"publish": "tcp://0.0.0.0:5592"},
    {"router": "tcp://10.0.0.1:5570"},
    {"final_delay_s": -1},
    {"clock_poll_s": 0},
])
def test_bad_settings_are_refused(overrides):
    with pytest.raises(SettingsError):
        load_settings(None, overrides)


def test_overrides_win():
    s = load_settings(None, {"codes": ["005930"], "intervals": ["1m", "60m"], "backfill": False})
    assert (s.codes, s.intervals_s, s.backfill) == (("005930",), (60, 3600), False)
