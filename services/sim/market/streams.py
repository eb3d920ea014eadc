"""Named, seeded random streams: every random draw in the market comes from a stream keyed by
(seed, purpose, code, date...), so values do not depend on the order in which things are asked."""
from __future__ import annotations

import zlib

import numpy as np

TAG_FACTOR = 1
TAG_DAILY = 2
TAG_START = 3
TAG_PATH = 4
TAG_BOOK = 5
TAG_AUCTION = 6
TAG_CONDITION = 7
TAG_CADENCE = 8
TAG_VI = 9


def code_key(code: str) -> int:
    """A stable integer for a code (crc32 of its UTF-8 bytes)."""
    return zlib.crc32(code.encode("utf-8"))


def stream(seed: int, tag: int, *keys: int) -> np.random.Generator:
    """A generator for (seed, tag, *keys); keys are non-negative ints (codes via `code_key`)."""
    entropy = [int(seed) % (1 << 64), int(tag)] + [int(k) for k in keys]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))
