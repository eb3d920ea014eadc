"""A recorded lake for the query tests: publications as the broker sends them, written by the ParquetSink.

`record_day(root)` writes trades of two codes over two days in several batches (one of them holding
snapshot rows: a repeat of a recorded message and one that repairs a hole), gaps rows, and litter
readers must skip (a `*.tmp` file, the recorder's `_recorder` folder). It returns the trades as
plain dicts so tests can compute what the views should say without going through DuckDB.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List, Tuple

from koabus.common.lake import layout
from koabus.common.lake.schema import rows_to_arrow, to_arrow
from koabus.common.protocol.publication import Publication
from koabus.services.recorder.sinks import make_sink

KST = timezone(timedelta(hours=9))
DAY = "2026-11-24"
NEXT_DAY = "2026-11-25"
CODES = ("005930", "000660")


def ns_of(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


@dataclass
class RecordedDay:
    """What `record_day` wrote: every trade publication with its snapshot flag, and the gaps rows."""

    trades: List[Tuple[Publication, bool]] = field(default_factory=list)
    gaps: List[Dict[str, object]] = field(default_factory=list)

    def trade_rows(self, code: str, day: str) -> List[Dict[str, object]]:
        """The trades a reader should see for (code, day): each bus message once, live before snapshot."""
        seen = set()
        rows = []
        for pub, snapshot in sorted(self.trades, key=lambda ps: ps[1]):
            moment = datetime.fromtimestamp(pub.event_ns / 1e9, KST)
            key = (pub.epoch, pub.topic, pub.topic_seq)
            if pub.body["code"] != code or moment.date().isoformat() != day or key in seen:
                continue
            seen.add(key)
            volume = pub.body["values"]["volume"]
            rows.append({"time": moment, "price": pub.body["values"]["current_price"], "volume": abs(volume),
                         "side": "buy" if volume > 0 else "sell", "epoch": pub.epoch, "seq": pub.seq,
                         "snapshot": snapshot})
        return sorted(rows, key=lambda r: (r["time"], r["epoch"], r["seq"]))


def trade(code: str, moment: datetime, price: int, volume: int, epoch: int, seq: int, topic_seq: int) -> Publication:
    """One 주식체결 publication as the broker publishes it (values keyed by English FID names)."""
    values = {"trade_time": moment.strftime("%H:%M:%S"), "current_price": price, "change": price - 60_000,
              "change_rate": round((price - 60_000) / 600, 2), "ask": price + 100, "bid": price,
              "volume": volume, "cum_volume": 1_000 + seq, "cum_trade_value": price * seq}
    return Publication(f"rt.trade.{code}", "RT", epoch, seq, topic_seq, ns_of(moment),
                       ns_of(moment) + 3_000_000, {"type": "주식체결", "code": code, "values": values})


def record_day(root: Path, seed: int = 11) -> RecordedDay:
    rng = random.Random(seed)
    recorded = RecordedDay()
    seq = 0
    topic_seq = {code: 0 for code in CODES}
    for day in (DAY, NEXT_DAY):
        opening = datetime.fromisoformat(f"{day}T09:00:00").replace(tzinfo=KST)
        seconds = sorted(rng.randrange(0, 6 * 3600 + 1800) for _ in range(600 if day == DAY else 50))
        for n, second in enumerate(seconds):
            code = CODES[n % 3 == 0]
            seq += 1
            topic_seq[code] += 1
            price = 60_000 + 100 * rng.randrange(-30, 31)
            volume = rng.choice((-1, 1)) * rng.randrange(1, 500)
            moment = opening + timedelta(seconds=second)
            recorded.trades.append((trade(code, moment, price, volume, 1, seq, topic_seq[code]), False))
    live = [pub for pub, _ in recorded.trades]
    # a hole: 005930's message with topic_seq 40 never arrived live; the snapshot repaired it
    hole = next(p for p in live if p.body["code"] == "005930" and p.topic_seq == 40)
    recorded.trades.remove((hole, False))
    repeat = next(p for p in live if p.body["code"] == "005930" and p.topic_seq == 100)
    recorded.trades += [(hole, True), (repeat, True)]

    sink = make_sink("parquet", root=str(root), durable=False)
    batches: Dict[Tuple[str, int], List[Tuple[Publication, bool]]] = {}
    for n, (pub, snapshot) in enumerate(recorded.trades):
        day = datetime.fromtimestamp(pub.event_ns / 1e9, KST).date().isoformat()
        batches.setdefault((day, 7 if snapshot else n // 250), []).append((pub, snapshot))
    for (day, part), items in sorted(batches.items()):
        batch = to_arrow("rt_trade", [p for p, _ in items], [s for _, s in items])
        sink.write("rt_trade", day, batch, layout.batch_key(part, 0, len(items) - 1))

    detected = datetime.fromisoformat(f"{DAY}T10:15:00").replace(tzinfo=KST)
    recorded.gaps = [
        {"detected_time": ns_of(detected), "topic": "rt.trade.005930", "epoch": 1, "first_seq": 40,
         "last_seq": 40, "missing": 1, "kind": "gap", "cause": "subscriber high-water mark", "repaired": True,
         "from_time": ns_of(detected) - 10**9, "to_time": ns_of(detected)},
        {"detected_time": ns_of(detected + timedelta(hours=1)), "topic": "", "epoch": 2, "first_seq": 1,
         "last_seq": 7, "missing": 7, "kind": "restart", "cause": "recorder restarted", "repaired": False,
         "from_time": None, "to_time": None},
    ]
    sink.write("gaps", DAY, rows_to_arrow("gaps", recorded.gaps), layout.batch_key(9, 0, 1))
    next_gap = dict(recorded.gaps[1], detected_time=ns_of(detected + timedelta(days=1)))
    sink.write("gaps", NEXT_DAY, rows_to_arrow("gaps", [next_gap]), layout.batch_key(9, 2, 2))
    sink.close()

    # litter: a half-written roll and the recorder's own files must never show up in a view
    part_dir = layout.partition_dir(root, "rt_trade", DAY)
    (part_dir / "00000099-x.parquet.123.tmp").write_bytes((part_dir / next(
        p.name for p in part_dir.iterdir() if p.suffix == ".parquet")).read_bytes())
    journal = layout.recorder_dir(root) / "journal"
    journal.mkdir(parents=True, exist_ok=True)
    (journal / "00000001.parquet").write_bytes(b"not parquet")
    return recorded
