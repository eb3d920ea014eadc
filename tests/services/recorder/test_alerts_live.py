"""The recorder records the alerting service's alerts too: a real recorder process, a bare PUB standing in
for the broker and another for the alerting service (its own epoch and seq), the `alerts` table read back,
and the alert stream's losses told apart from the broker's."""
from __future__ import annotations

import json
import time
from typing import Any, Dict, List

from koabus.common.cli.main import main
from tests.services.recorder.recorder_proc import BarePublisher, Beats, RecorderProcess, read_rows, warm_up

FLUSH_S = 0.25


def alerts_received(beat: Dict[str, Any]) -> int:
    return sum(s.get("received", 0) for s in beat.get("services") or ())


def test_alerts_are_recorded_with_their_values_and_their_gaps_kept_apart_from_the_brokers(tmp_path, capsys):
    from tests.helpers import free_tcp_port

    broker, alerting = BarePublisher(epoch=4242), BarePublisher(epoch=777)
    rec = RecorderProcess(tmp_path / "lake", f"tcp://127.0.0.1:{free_tcp_port()}", broker.endpoint,
                          tmp_path / "rec.log", {
                              "flush_interval_s": FLUSH_S, "roll_interval_s": 1.0, "heartbeat_ms": 200,
                              "services": [{"endpoint": alerting.endpoint, "prefixes": ["alert."],
                                            "name": "alerting"}]}).start()
    beats = Beats(rec.status)
    sent: List[Dict[str, Any]] = []
    try:
        warm_up(broker, beats)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(alerts_received(b) for b in beats.seen[-3:]):
            sent.append(alerting.publish_alert("warmup", {"n": len(sent)}))
            beats.poll_until(lambda b: alerts_received(b) > 0, 0.05)
        assert any(alerts_received(b) for b in beats.seen), beats.seen[-1:]
        for n in range(30):
            broker.publish(20)
            values = {"price": 68900 - n, "change_pct": -3.1, "name": "삼성전자", "levels": [n, n + 1]}
            skip = 2 if n == 10 else 0  # two alerts of this rule are lost on the way
            sent.append(alerting.publish_alert("samsung_drop", values, skip=skip))
            alerting.seq += 1  # the service's heartbeat, which the recorder does not subscribe to
        last_alert = alerting.seq - 1
        broker.publish(100)
        # everything journaled (both streams at their last message) and rolled
        beats.wait_until(lambda b: b["broker_seq"] == broker.seq and b["services"][0]["seq"] == last_alert
                         and b["services"][0]["epoch"] == 777 and b["buffered_rows"] == 0, 60, rec)
        assert rec.stop() == 0
    finally:
        beats.close()
        rec.stop()
        broker.close()
        alerting.close()
    rows = read_rows(rec.lake, "alerts")
    recorded = [r for r in rows if r["rule"] == "samsung_drop"]
    bodies = [b for b in sent if b["rule"] == "samsung_drop"]
    assert [r["topic_seq"] for r in recorded] == list(range(1, 11)) + list(range(13, 33))
    for row, body in zip(recorded, bodies):
        assert json.loads(row["values"]) == body["values"]
        assert (row["title"], row["text"], row["severity"], row["kind"], row["dedup_key"], row["code"]) == (
            body["title"], body["text"], body["severity"], body["kind"], body["dedup_key"], body["code"])
        assert row["notify"] == "log,telegram" and row["event_time"] == body["time_ns"]
        assert row["epoch"] == 777 and row["topic"] == "alert.samsung_drop" and not row["snapshot"]
    # the alert stream's loss is one topic row naming its source; the broker's stream has no gap at all
    gaps = read_rows(rec.lake, "gaps")
    assert [(g["topic"], g["epoch"], g["first_seq"], g["last_seq"], g["missing"], g["kind"]) for g in gaps] == [
        ("alert.samsung_drop", 777, 11, 12, 2, "gap")], gaps
    assert "alerting" in gaps[0]["cause"] and not gaps[0]["repaired"]
    seqs = sorted(r["seq"] for r in read_rows(rec.lake, "rt", ["seq"]))
    assert seqs == list(range(seqs[0], broker.seq + 1))
    # and the lake answers SQL about them
    code = main(["query", "select rule, topic_seq, values from alerts where rule = 'samsung_drop' "
                 "order by topic_seq", "--lake", str(rec.lake), "--format", "json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert [(r["topic_seq"], json.loads(r["values"])) for r in json.loads(out)] == [
        (r["topic_seq"], json.loads(r["values"])) for r in recorded]
