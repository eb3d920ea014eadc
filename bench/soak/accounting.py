"""The soak's checks from what was gathered: loss against the lake, orders, and the report files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Tuple

from .config import SERVICES


def read_lake(lake: Path) -> Dict[str, Any]:
    """The lake's live rt rows as arrays per epoch (seq, topic, topic_seq) and its gap rows."""
    import numpy as np
    import pyarrow.parquet as pq

    per_epoch: Dict[int, Dict[str, Any]] = {}
    cols = ["epoch", "seq", "topic", "topic_seq", "snapshot"]
    chunks: Dict[int, List[Tuple[Any, Any, Any]]] = {}
    for path in sorted((lake / "rt").rglob("*.parquet")):
        table = pq.ParquetFile(path).read(columns=cols)
        live = ~np.asarray(table.column("snapshot").to_numpy(zero_copy_only=False), dtype=bool)
        epochs = table.column("epoch").to_numpy()[live]
        seqs = table.column("seq").to_numpy()[live]
        tseqs = table.column("topic_seq").to_numpy()[live]
        topics = np.asarray(table.column("topic").to_pylist(), dtype=object)[live]
        for e in np.unique(epochs):
            m = epochs == e
            chunks.setdefault(int(e), []).append((seqs[m], topics[m], tseqs[m]))
    for e, parts in chunks.items():
        per_epoch[e] = {"seq": np.concatenate([p[0] for p in parts]), "topic": np.concatenate([p[1] for p in parts]),
                        "topic_seq": np.concatenate([p[2] for p in parts])}
    gaps = []
    for path in sorted((lake / "gaps").rglob("*.parquet")):
        gaps += pq.ParquetFile(path).read(columns=["topic", "epoch", "first_seq", "last_seq", "kind",
                                                    "cause"]).to_pylist()
    return {"epochs": per_epoch, "gaps": gaps}


def loss_accounting(lake: Dict[str, Any], reference: List[Tuple[Dict[str, Any], Dict[str, Any]]]) -> Dict[str, Any]:
    """What the reference consumers saw of rt.* against the lake: recorded, inside a gap row, or lost
    silently; duplicates in the lake by (epoch, seq); per epoch the broker's seq range, lake rows, gap rows."""
    import numpy as np

    # the lake's gap rows carry no source: a service's rows (its own epoch) never match a broker epoch
    broker_gaps = lake["gaps"]
    out: Dict[str, Any] = {"epochs": [], "duplicates": 0, "seen": 0, "recorded": 0, "in_gap": 0, "silent_loss": 0,
                           "silent_examples": [], "gap_rows": len(broker_gaps),
                           "gap_kinds": sorted({g["kind"] for g in broker_gaps})}
    for rows in lake["epochs"].values():
        _uniq, counts = np.unique(rows["seq"], return_counts=True)
        out["duplicates"] += int((counts > 1).sum())
    epochs = sorted({int(k.split("_", 1)[1]) for summary, arrays in reference for k in arrays if k.startswith("seq_")})
    for e in epochs:
        seen_seq, seen_topic, seen_tseq = [], [], []
        for summary, arrays in reference:
            if f"seq_{e}" not in arrays:
                continue
            topics = np.asarray(summary["topics"], dtype=object)
            seen_seq.append(arrays[f"seq_{e}"])
            seen_topic.append(topics[arrays[f"tix_{e}"]] if len(topics) else np.asarray([], dtype=object))
            seen_tseq.append(arrays[f"tseq_{e}"])
        seq = np.concatenate(seen_seq)
        seq, first = np.unique(seq, return_index=True)
        topic, tseq = np.concatenate(seen_topic)[first], np.concatenate(seen_tseq)[first]
        recorded_seq = lake["epochs"].get(e, {}).get("seq", np.asarray([], dtype=np.int64))
        inlake = np.isin(seq, recorded_seq)
        covered = inlake.copy()
        egaps = [g for g in broker_gaps if g["epoch"] == e]
        for g in egaps:
            if g["topic"] == "":
                covered |= (seq >= g["first_seq"]) & (seq <= g["last_seq"])
            else:
                covered |= (topic == g["topic"]) & (tseq >= g["first_seq"]) & (tseq <= g["last_seq"])
        silent = ~covered
        out["seen"] += int(len(seq))
        out["recorded"] += int(inlake.sum())
        out["in_gap"] += int((covered & ~inlake).sum())
        out["silent_loss"] += int(silent.sum())
        out["silent_examples"] += [(e, int(s), str(t), int(ts)) for s, t, ts in
                                   zip(seq[silent][:5], topic[silent][:5], tseq[silent][:5])]
        out["epochs"].append({"epoch": e, "seen_first_seq": int(seq.min()), "seen_last_seq": int(seq.max()),
                              "seen": int(len(seq)), "lake_rows": int(len(recorded_seq)),
                              "gap_rows": len(egaps), "gap_missing": int(sum(g["last_seq"] - g["first_seq"] + 1
                                                                             for g in egaps))})
    out["lake_rows"] = int(sum(len(r["seq"]) for r in lake["epochs"].values()))
    return out


def order_accounting(orders: List[Dict[str, Any]], statuses: Dict[str, Any], history: Dict[str, Dict[str, Any]],
                     inputs: List[Any]) -> Dict[str, Any]:
    """Per order: SendOrders that reached the simulated exchange (its store, by fingerprint), the
    broker's final state and fill against the exchange's order history."""
    rows = []
    for rec in orders:
        o = rec["order"]
        cid = o["client_order_id"]
        sent = [r for r in inputs if r.code == o["code"] and r.action == "new" and r.side == o["side"]
                and r.qty == o["qty"] and r.price == o["price"]]
        status = statuses.get(cid) or {}
        order_no = str(status.get("order_no") or "").lstrip("0")
        ex = history.get(order_no) if order_no else None
        ex_filled = int(str(ex.get("체결수량", "0")).strip() or 0) if ex else None
        ex_left = int(str(ex.get("주문잔량", "0")).strip() or 0) if ex else None
        state = status.get("state")
        if len(sent) == 1 and not sent[0].accepted:
            matches = state == "rejected" and not order_no
        elif len(sent) == 1:
            matches = (ex is not None and str(sent[0].order_no).lstrip("0") == order_no
                       and ex_filled == status.get("filled_qty")
                       and (state != "filled" or ex_left == 0))
        else:
            matches = False
        rows.append({"client_order_id": cid, "qty": o["qty"], "price": o["price"], "send_orders": len(sent),
                     "accepted": bool(sent and sent[0].accepted), "state": state,
                     "filled_qty": status.get("filled_qty"), "exchange_filled_qty": ex_filled,
                     "exchange_unfilled_qty": ex_left, "attempts": rec["attempts"], "matches_exchange": matches})
    mine = {(r["qty"], r["price"]) for r in rows}
    others = [r for r in inputs if r.action == "new" and (r.qty, r.price) not in mine]
    return {"orders": rows, "exactly_one_send_order": all(r["send_orders"] == 1 for r in rows),
            "all_match_exchange": all(r["matches_exchange"] for r in rows),
            "other_new_inputs": len(others)}


#: the burst's sustained rate: the best mean over this many consecutive wall seconds at one consumer
BURST_SUSTAINED_S = 5


def burst_figures(cfg: Dict[str, Any], consumers: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What the open burst offered (the simulator's synthetic trades, on top of the market) against what
    the consumers that were not stalled received: each one's best wall second and best BURST_SUSTAINED_S
    seconds (a second with nothing received counts as 0)."""
    carried = []
    for c in consumers:
        per_s = dict(c.get("per_s") or [])
        best = 0.0
        for first in per_s:
            window = sum(per_s.get(first + i, 0) for i in range(BURST_SUSTAINED_S))
            best = max(best, window / BURST_SUSTAINED_S)
        carried.append({"peak_per_s": max(per_s.values(), default=0), "best_sustained_per_s": round(best)})
    return {"offered_eps": cfg["open_burst_eps"], "wall_s": cfg["open_burst_wall_s"],
            "window_virtual": cfg.get("open_burst_window"), "sustained_over_s": BURST_SUSTAINED_S,
            "consumers": carried}


def write_report(report: Dict[str, Any], results_dir: Path, name: str) -> Tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = results_dir / f"{name}.json", results_dir / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))
    cfg, loss = report["config"], report["loss"]
    lines = [f"# Soak {cfg['label']} {report['started_utc']}", "",
             f"{report.get('codes_registered', '-')} of {cfg['codes']} codes registered, speed {cfg['speed']:g}x ({cfg['day_start']} .. {cfg['day_end']}, "
             f"{cfg['day_wall_s']} s wall), {cfg['consumers']} consumers, seed {cfg['seed']}; "
             f"peak {report['peak_events_per_s']:,} rt events/s at one consumer; run {report['wall_s']} s", "",
             "| check | result |", "|---|---|"]
    lines += [f"| {k} | {'PASS' if v else 'FAIL'} |" for k, v in report["checks"].items()]
    storm = report.get("storm") or {}
    lines += ["", f"-200 storm: {storm.get('calls', '-')} quote TRs, {storm.get('overload_200', '-')} -200 returns; "
              f"consumers (the second on positional batches, the last one stalled {cfg['stall_s']} s): "
              + ", ".join(f"{c.get('received', 0):,} events / {c.get('gaps', '-')} gaps" for c in report["consumers"])]
    burst = report.get("open_burst") or {}
    if burst.get("offered_eps"):
        lines += ["", f"Open burst: {burst['offered_eps']:,.0f} events/s offered for {burst['wall_s']:g} s wall "
                  f"({' .. '.join(burst.get('window_virtual') or ())} virtual, the simulator's prebuilt trades on top "
                  f"of the market); carried per consumer, best second / best {burst['sustained_over_s']} s: "
                  + ", ".join(f"{c['peak_per_s']:,} / {c['best_sustained_per_s']:,}" for c in burst["consumers"])]
    lines += ["", "| loss | value |", "|---|---|"]
    lines += [f"| {k} | {loss[k]} |" for k in ("seen", "recorded", "in_gap", "silent_loss", "duplicates",
                                               "lake_rows", "gap_rows")]
    lines += ["", "| service | recovery s | logged in s | peak RSS MB | bound MB |", "|---|---|---|---|---|"]
    for name in SERVICES + ("control",):
        r, m = report["recovery"].get(name, {}), report["rss"].get(name, {})
        lines.append(f"| {name} | {r.get('recovery_s', '-')} | {r.get('logged_in_s', '-')} | "
                     f"{m.get('peak_mb', '-')} | {m.get('bound_mb', '-')} |")
    lines += ["", "| order | SendOrders | state | filled | exchange filled | matches |", "|---|---|---|---|---|---|"]
    for o in report["orders"]["orders"]:
        lines.append(f"| {o['client_order_id']} | {o['send_orders']} | {o['state']} | {o['filled_qty']} | "
                     f"{o['exchange_filled_qty']} | {o['matches_exchange']} |")
    md_path.write_text("\n".join(lines) + "\n")
    return json_path, md_path
