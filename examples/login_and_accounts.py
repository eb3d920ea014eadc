"""Log in (if the broker is not yet) and show the session: accounts, server, deposit.

    python examples/login_and_accounts.py
"""
from __future__ import annotations

import sys

from _args import parser

from koabus.common.client import Client


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    with Client(args.router, args.pub) as client:
        client.login()
        accounts = client.accounts()
        print("accounts:", accounts, "mock server:", client.is_simulation())
        print("deposit of", accounts[0], ":", client.deposit(accounts[0])["예수금"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
