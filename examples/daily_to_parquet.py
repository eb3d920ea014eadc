"""Download daily bars of a few codes for a date range into Parquet files (resumable: saved codes are skipped).

    python examples/daily_to_parquet.py --start 2024-01-01 --out-dir bars 005930 000660
"""
from __future__ import annotations

import sys
from pathlib import Path

from _args import parser

from koabus.common.client import Client


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("codes", nargs="+")
    p.add_argument("--start", default="2024-01-01")
    p.add_argument("--end", default=None)
    p.add_argument("--out-dir", type=Path, default=Path("bars"))
    args = p.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with Client(args.router, args.pub) as client:
        client.on_throttle(lambda body: print("pacing:", body.get("state"), f"{body.get('wait_s', 0):.2f}s"))
        for code in args.codes:
            target = args.out_dir / f"{code}.parquet"
            if target.exists():
                print(code, "already saved")
                continue
            frame = client.daily(code, start=args.start, end=args.end)
            frame.to_parquet(target)
            print(code, len(frame), "bars", frame.index[0].date(), "->", frame.index[-1].date())
    return 0


if __name__ == "__main__":
    sys.exit(main())
