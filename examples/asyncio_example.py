"""asyncio: download daily bars of several codes concurrently while watching realtime trades.

    python examples/asyncio_example.py --count 5 005930 000660
"""
from __future__ import annotations

import asyncio
import sys

from _args import parser

from koabus.common.client import AsyncClient


async def watch(client: AsyncClient, codes, count: int) -> int:
    seen = 0
    async with client.realtime(codes, "trade") as stream:
        async for event in stream:
            print("trade", event.code, event.values.get("current_price"), "snapshot" if event.from_snapshot else "")
            seen += 1
            if seen >= count:
                return seen
    return seen


async def run(args) -> int:
    async with AsyncClient(args.router, args.pub) as client:
        client.on_epoch_change(lambda e: print("broker restarted; streams resubscribed", e.new_epoch))
        client.on_gap(lambda e: print("lost", e.missing, "messages on", e.topic))
        bars = asyncio.gather(*(client.daily(code, start="2025-01-01") for code in args.codes))
        trades = watch(client, args.codes, args.count)
        frames, seen = await asyncio.gather(bars, trades)
        for code, frame in zip(args.codes, frames):
            print(code, len(frame), "daily bars, last close", int(frame["현재가"].iloc[-1]))
        print("trades seen:", seen)
    return 0


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("codes", nargs="*", default=["005930", "000660"])
    p.add_argument("--count", type=int, default=3, help="trades to print before stopping")
    args = p.parse_args(argv)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
