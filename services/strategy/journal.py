"""The strategy's per-day journal: deterministic client order ids, written to disk before the order goes.

An id is `<name>-<YYYYMMDD>-<n>` (the KST date of the broker's clock, n counting from 1 each day). Its
`order` record (id, content) is appended, flushed and fsynced BEFORE the order is sent, so a process
killed at any point restarts with a counter past every id it may have used: it never reuses an id for
other content (the broker would refuse that as DuplicateOrder) and never sends a second order for the
same decision. At restart every journaled id is looked up at the broker (app.py): a known one is
re-attached (the broker replays it, sends nothing), an unknown one was never sent and is marked
`abandoned`, not sent late. `fill` records keep the realised profit of the day across restarts.

Records (JSON lines): {"rec": "order", "id", "n", "side", "code", "qty", "price", "hoga", "t"},
{"rec": "abandoned", "id", "t"}, {"rec": "fill", "order_no", "fill_no", "realised", "t"}.
A line torn by a crash is skipped at load.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import date
from typing import Any, Dict, List, Set

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderRecord:
    """One allocated id and exactly what was (to be) sent under it."""

    id: str
    n: int
    side: str
    code: str
    qty: int
    price: int
    hoga: str

    def to_request(self) -> Dict[str, Any]:
        return {"side": self.side, "code": self.code, "qty": self.qty, "price": self.price, "hoga": self.hoga}


class OrderJournal:
    """One strategy's journal for one KST trading day: `allocate()` then send; `load` at start."""

    def __init__(self, state_dir: str, name: str, day: date):
        self.name = name
        self.day = day
        self.path = os.path.join(state_dir, name, f"{day:%Y%m%d}.jsonl")
        self.orders: Dict[str, OrderRecord] = {}
        self.abandoned: Set[str] = set()
        self.realised = 0
        self.counted: Set[str] = set()
        self.torn = 0
        self._last_n = 0
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self._load()
        self._file = open(self.path, "a", encoding="utf-8")
        if self._file.tell() and not self._ends_with_newline():
            self._file.write("\n")  # a torn last line: the next record starts on a line of its own

    def _load(self) -> None:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    self._apply(rec)
                except (ValueError, KeyError, TypeError):
                    self.torn += 1
        if self.torn:
            log.warning("%s: %d torn line(s) skipped", self.path, self.torn)

    def _apply(self, rec: Dict[str, Any]) -> None:
        kind = rec["rec"]
        if kind == "order":
            order = OrderRecord(str(rec["id"]), int(rec["n"]), str(rec["side"]), str(rec["code"]), int(rec["qty"]),
                                int(rec["price"]), str(rec["hoga"]))
            self.orders[order.id] = order
            self._last_n = max(self._last_n, order.n)
        elif kind == "abandoned":
            self.abandoned.add(str(rec["id"]))
        elif kind == "fill":
            key = f"{rec['order_no']}/{rec['fill_no']}"
            if key not in self.counted:
                self.counted.add(key)
                self.realised += int(rec["realised"])

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    @property
    def next_n(self) -> int:
        return self._last_n + 1

    def allocate(self, side: str, code: str, qty: int, price: int, hoga: str, t: float) -> OrderRecord:
        """The next id, durable on disk when this returns (OSError: nothing may be sent)."""
        n = self._last_n + 1
        order = OrderRecord(f"{self.name}-{self.day:%Y%m%d}-{n:06d}", n, side, code, int(qty), int(price), hoga)
        self._write({"rec": "order", "id": order.id, "n": n, **order.to_request(), "t": round(t, 3)})
        self._last_n = n
        self.orders[order.id] = order
        return order

    def abandon(self, order_id: str, t: float) -> None:
        self._write({"rec": "abandoned", "id": order_id, "t": round(t, 3)})
        self.abandoned.add(order_id)

    def fill(self, order_no: str, fill_no: str, realised: int, t: float) -> None:
        key = f"{order_no}/{fill_no}"
        if key in self.counted:
            return
        self.counted.add(key)
        self.realised += int(realised)
        try:
            self._write({"rec": "fill", "order_no": order_no, "fill_no": fill_no, "realised": int(realised),
                         "t": round(t, 3)})
        except OSError as exc:  # the fill happened anyway; only the restart's P&L would miss it
            log.error("could not journal fill %s: %s", key, exc)

    def unsettled(self) -> List[OrderRecord]:
        """Journaled orders not known to be abandoned, in id order (what a restart must look up)."""
        return [o for o in sorted(self.orders.values(), key=lambda o: o.n) if o.id not in self.abandoned]

    def _write(self, rec: Dict[str, Any]) -> None:
        self._file.write(json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()
