"""The order journal's I/O: append-only JSON lines, one file per KST trading day, fsynced per record.

Orders are written ahead: a record is on disk (flushed and fsynced) before the step it describes
happens, so a broker killed at any instant leaves a journal that says how far each order got. The
file is opened, appended to and closed per record (orders are at most 5 a second). What the records
mean is the tracker's business (`orders.py`); this module only writes and reads them.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List

from koabus.common.errors import JournalUnavailable

log = logging.getLogger(__name__)


class OrderJournal:
    """Appends records to `template` with `{date}` (YYYYMMDD) filled in, and loads a day's records."""

    def __init__(self, template: str):
        self.template = template
        self.writes = 0
        self.errors = 0
        self.skipped_lines = 0

    def path(self, day: str) -> str:
        return self.template.replace("{date}", day)

    def append(self, day: str, record: Dict[str, Any]) -> None:
        """Write one record and fsync it; any failure is JournalUnavailable (nothing may follow it)."""
        path = self.path(day)
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        try:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, exist_ok=True)
            with open(path, "a+b") as fh:
                if fh.seek(0, os.SEEK_END) > 0:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":  # a line torn by a crash: end it so this record stays whole
                        line = b"\n" + line
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except (OSError, ValueError) as exc:
            self.errors += 1
            raise JournalUnavailable(f"the order journal cannot be written ({type(exc).__name__}: {exc})",
                                     details={"path": path}) from None
        self.writes += 1

    def load(self, day: str) -> List[Dict[str, Any]]:
        """The day's records in file order; a torn or garbled line (a crash mid-write) is skipped.

        A journal that exists but cannot be read raises JournalUnavailable: starting without it
        could send an order twice.
        """
        path = self.path(day)
        if not os.path.exists(path):
            return []
        records: List[Dict[str, Any]] = []
        try:
            with open(path, "rb") as fh:
                for number, raw in enumerate(fh, 1):
                    try:
                        entry = json.loads(raw.decode("utf-8"))
                    except ValueError:
                        self.skipped_lines += 1
                        log.warning("order journal %s line %d is torn or garbled; skipped", path, number)
                        continue
                    if isinstance(entry, dict):
                        records.append(entry)
        except OSError as exc:
            raise JournalUnavailable(f"the order journal cannot be read ({type(exc).__name__}: {exc})",
                                     details={"path": path}) from None
        return records
