"""Helpers for the bars service as a real process: the subprocess, a SUB that keeps every publication of a
PUB (the bars service's, or the broker's trades for the recording), and the recording written to a lake
through the lake's own API (to_arrow + ParquetSink), as the recorder writes it."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml
import zmq

from koabus.common.protocol import Publication
from tests.helpers import free_tcp_port, stop_process

REPO = Path(__file__).resolve().parents[3]
_RUNNER = "import sys\nfrom koabus.common.cli.main import main\nsys.exit(main())\n"


class BarsProcess:
    """`koabus bars` in a child process on free loopback ports; stderr goes to `log_path`."""

    def __init__(self, router: str, pub: str, log_path: Path, settings: Dict[str, Any]):
        self.publish = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.snapshot = f"tcp://127.0.0.1:{free_tcp_port()}"
        self.log_path = Path(log_path)
        self.config = self.log_path.with_suffix(".yaml")
        self.config.write_text(yaml.safe_dump({"router": router, "pub": pub, "publish": self.publish,
                                               "snapshot": self.snapshot, **settings}))
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> BarsProcess:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", _RUNNER, "bars", "--config", str(self.config)],
                                         cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=log, env=dict(os.environ))
        return self

    def stop(self) -> Optional[int]:
        if self.proc is None:
            return None
        stop_process(self.proc, 10.0)
        rc, self.proc = self.proc.returncode, None
        return rc

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Collector(threading.Thread):
    """A plain SUB on `endpoint` keeping every publication under `prefixes`, in arrival order."""

    def __init__(self, endpoint: str, prefixes: List[str]):
        super().__init__(daemon=True)
        self.endpoint = endpoint
        self.prefixes = prefixes
        self.pubs: List[Publication] = []
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        sub = zmq.Context.instance().socket(zmq.SUB)
        sub.setsockopt(zmq.LINGER, 0)
        sub.setsockopt(zmq.RCVHWM, 0)
        for prefix in self.prefixes:
            sub.setsockopt(zmq.SUBSCRIBE, prefix.encode())
        sub.connect(self.endpoint)
        self.ready.set()
        try:
            while not self._halt.is_set():
                if sub.poll(50):
                    pub = Publication.from_frames(sub.recv_multipart())
                    with self._lock:
                        self.pubs.append(pub)
        finally:
            sub.close(0)

    def snapshot(self, prefix: str = "") -> List[Publication]:
        with self._lock:
            return [p for p in self.pubs if p.topic.startswith(prefix)]

    def wait_for(self, predicate: Callable[[Publication], bool], timeout_s: float,
                 proc: Optional[BarsProcess] = None) -> Publication:
        """The first kept publication that matches, waiting at most `timeout_s` for it."""
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            if proc is not None and proc.proc is not None and proc.proc.poll() is not None:
                raise AssertionError(f"the bars service exited: {proc.log_tail()}")
            with self._lock:
                fresh = self.pubs[seen:]
            for pub in fresh:
                if predicate(pub):
                    return pub
            seen += len(fresh)
            time.sleep(0.02)
        raise AssertionError(f"nothing matched within {timeout_s} s ({seen} publications kept)\n"
                             f"{proc.log_tail() if proc is not None else ''}")

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def write_lake(lake: Path, pubs: List[Publication]) -> None:
    """The recorded trades into `lake` (one batch per table and day), as the recorder writes them."""
    from koabus.common.lake.schema import table_of, to_arrow, trading_date
    from koabus.services.recorder.sinks.parquet import ParquetSink

    by_table: Dict[Any, List[Publication]] = {}
    for pub in pubs:
        by_table.setdefault((table_of(pub.topic), trading_date(pub)), []).append(pub)
    sink = ParquetSink(lake, durable=False)
    for (table, day), group in sorted(by_table.items()):
        sink.write(table, day, to_arrow(table, group), "bars-test-0-0")
    sink.close()
