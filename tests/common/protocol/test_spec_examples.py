"""docs/protocol.md's byte example is what the codec produces, so the spec cannot drift from the code."""
from __future__ import annotations

import re

from koabus.common.protocol import Request
from tests.conftest import REPO


def test_status_request_example_matches_the_codec():
    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    block = text.split("Example: `REQUEST` id 7 for `status`", 1)[1].split("```")[1]
    tokens = [tok for line in block.splitlines() for tok in line.split("=")[0].split()
              if re.fullmatch(r"[0-9a-f]{2}", tok)]
    documented = bytes.fromhex("".join(tokens))
    envelope, body = Request(7, "status").to_frames()
    assert documented == envelope + body
