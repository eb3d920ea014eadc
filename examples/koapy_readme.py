"""KOAPY's README example on koabus: only the import changed (and the bus address instead of Windows).

    python examples/koapy_readme.py --router tcp://127.0.0.1:5570 --pub tcp://127.0.0.1:5571
"""
from __future__ import annotations

import sys

from _args import parser

from koabus.common.client import Client


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    with Client(args.router, args.pub) as context:
        # login
        context.EnsureConnected()

        # code lookup
        codes = context.GetCodeListByMarketAsList("0")
        names = [context.GetMasterCodeName(code) for code in codes[:5]]
        print("kospi codes:", len(codes), list(zip(codes[:5], names)))

        # basic info of one stock
        code = "005930"
        info = context.GetStockBasicInfoAsDict(code)
        print(info["종목명"], "현재가", info["현재가"])

        # daily data (typed DataFrame, oldest first)
        data = context.GetDailyStockDataAsDataFrame(code)
        print(data.tail())

        # realtime stream
        for i, event in enumerate(context.WatchRealDataForCodesAsStream([code])):
            print(event.code, event.type, event.values.get("current_price"), event.event_time)
            if i >= 2:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main())
