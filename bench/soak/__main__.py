"""`python -m bench.soak`: a soak run from the command line, and the consumer processes it starts."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import List, Optional

from .config import SoakConfig, short_config
from .day import run_soak
from .processes import consume


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["consume"]:
        pub, out, keep, max_s = argv[1:5]
        return consume(pub, out, keep == "1", float(max_s), positional=argv[5:6] == ["positional"])
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the shortened run of make test")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the run dir (logs, lake, state)")
    args = parser.parse_args(argv)
    # `timeout` or a CI kill: unwind through run_soak's cleanup (supervisord shutdown, consumers killed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = short_config(args.seed) if args.short else SoakConfig(**({"seed": args.seed} if args.seed else {}))
    report = run_soak(cfg, keep_dir=args.keep)
    print(json.dumps(report["checks"], indent=1))
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
