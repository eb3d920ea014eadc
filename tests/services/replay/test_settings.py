"""The broker's `replay` settings section (the flags are exercised by test_replay_cli.py)."""
from __future__ import annotations

import pytest

from koabus.services.broker.config import SettingsError, settings_from_dict


def test_replay_section_is_typed_and_checked():
    s = settings_from_dict({"backend": "replay", "replay": {"date": "2024-03-06", "codes": ["005930"], "speed": 10}})
    assert (s.replay.date, s.replay.codes, s.replay.speed, s.replay.lake, s.replay.hold) == (
        "2024-03-06", ("005930",), 10.0, "data", True)
    for data, message in (({"backend": "replay"}, "needs replay.date"),
                          ({"replay": {"date": "20240306"}}, "replay.date must be a date YYYY-MM-DD"),
                          ({"replay": {"speed": -1}}, "replay.speed must be a number >= 0"),
                          ({"replay": {"lake": " "}}, "replay.lake must be a directory path"),
                          ({"replay": {"days": 1}}, "unknown setting(s) replay.days")):
        with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
            settings_from_dict(data)

