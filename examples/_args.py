"""Command-line arguments shared by the examples: where the broker is."""
from __future__ import annotations

import argparse

from koabus.common.protocol import DEFAULT_PUB_ENDPOINT, DEFAULT_ROUTER_ENDPOINT


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--router", default=DEFAULT_ROUTER_ENDPOINT, help="broker ROUTER endpoint")
    p.add_argument("--pub", default=DEFAULT_PUB_ENDPOINT, help="broker PUB endpoint")
    return p
