"""The alerting service against a real broker on the simulated market (virtual clock at 20 s/s), with real
HTTP servers as webhooks: alerts on the bus and at the webhooks, retries that hold no one else up,
reloads (by mtime and SIGHUP), `koabus alerts`, and an order the simulated server refuses.

Every wait is bounded and ends on what the bus, the webhooks or the heartbeats say, never on a sleep.
"""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time

import pytest

from koabus.common.client import Client, ClientOptions
from koabus.common.errors import KoabusError
from koabus.common.protocol.constants import PubType
from koabus.services.alerting.alert import Alert
from koabus.services.alerting.notifiers import ConsoleNotifier, make_notifiers
from tests.common.client.live import REPO, BrokerProcess
from tests.services.alerting.live import (
    Listener,
    ServiceProcess,
    ServiceThread,
    free_endpoint,
    service_settings,
    write_rules,
)
from tests.services.alerting.notifiers.conftest import Reply

WAIT_S = 30.0
#: fires on the first trade of 005930 (any price is at or above 1 KRW): a rule the live market must trip
SAMSUNG_TRADES = """
rules:
  - id: samsung-trades
    kind: price
    codes: ["005930"]
    above: 1
    message: "{name} {code} traded at {current_price:,}"
    notify: [{notify}]
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    b = BrokerProcess(speed=20.0, log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    yield b
    b.stop()
    b.remove_state()


def rules_file(tmp_path, text: str, name: str = "alerts.yaml"):
    path = tmp_path / name
    write_rules(path, text)
    return path


def test_a_rule_fires_on_the_live_market_onto_the_bus_and_the_webhook(tmp_path, broker, http_server):
    hook = http_server()
    status = free_endpoint()
    rules = rules_file(tmp_path, SAMSUNG_TRADES.replace("{notify}", "hook"))
    settings = service_settings(broker, rules, status, notifiers={"hook": {"type": "webhook", "url": hook.url + "/in"}})
    listener = Listener(status)
    service = ServiceThread(settings).start()
    try:
        pub = listener.wait_alert(lambda p: p.topic == "alert.samsung-trades", WAIT_S, "samsung-trades")
        assert hook.wait_for(1, WAIT_S)
        beat = listener.wait_beat(lambda b: b["notifiers"]["hook"]["sent"] >= 1, WAIT_S)
    finally:
        rc = service.stop()
        listener.close()
    assert rc == 0
    assert pub.type == PubType.ALERT and pub.topic_seq == 1 and pub.epoch == beat["epoch"]
    alert = Alert.from_body(pub.body)
    assert alert.rule == "samsung-trades" and alert.code == "005930" and alert.kind == "price"
    assert alert.values["current_price"] >= 1 and f"{alert.values['current_price']:,}" in alert.text
    assert alert.text.startswith("삼성전자 005930")  # the name from the broker's master list
    posted = hook.received[0]
    assert posted.path == "/in" and posted.json() == pub.body  # the webhook gets exactly the bus body
    assert beat["service"] == "alerting" and beat["rules"] == 1 and beat["alerts"] >= 1
    assert beat["notifiers"]["hook"]["failed"] == 0


def test_a_failing_webhook_is_retried_and_holds_up_neither_the_console_nor_another_webhook(
        tmp_path, broker, http_server):
    bad, good = http_server(), http_server()
    bad.reply(Reply(hang=True, status=503), Reply(status=500))  # then the default 200
    console_out = io.StringIO()
    notifiers = make_notifiers({"bad": {"type": "webhook", "url": bad.url, "timeout_s": 30},
                                "good": {"type": "webhook", "url": good.url}})
    notifiers["console"] = ConsoleNotifier("console", stream=console_out)
    status = free_endpoint()
    rules = rules_file(tmp_path, SAMSUNG_TRADES.replace("{notify}", "bad, console, good"))
    listener = Listener(status)
    service = ServiceThread(service_settings(broker, rules, status), notifiers=notifiers).start()
    try:
        assert bad.wait_for(1, WAIT_S)  # the first attempt hangs in the bad webhook...
        assert good.wait_for(1, WAIT_S)  # ...while the good one and the console are served
        deadline = time.monotonic() + WAIT_S
        while "[samsung-trades] 005930" not in console_out.getvalue() and time.monotonic() < deadline:
            listener.pump()
        assert "[samsung-trades] 005930" in console_out.getvalue()
        assert len(bad.received) == 1
        bad.release()  # the hung attempt ends with 503, the retry gets 500, the next one 200
        beat = listener.wait_beat(lambda b: b["notifiers"]["bad"]["sent"] == 1, WAIT_S)
    finally:
        bad.release()
        rc = service.stop()
        listener.close()
    assert rc == 0
    assert beat["notifiers"]["bad"]["retried"] == 2 and beat["notifiers"]["bad"]["failed"] == 0
    assert "500" in beat["notifiers"]["bad"]["last_error"]
    assert beat["notifiers"]["good"]["sent"] >= 1 and beat["notifiers"]["console"]["sent"] >= 1
    assert len(bad.received) == 3 and bad.received[0].body == bad.received[2].body == good.received[0].body


def test_a_bad_rules_file_keeps_the_old_rules_and_a_good_one_swaps_them(tmp_path, broker):
    status = free_endpoint()
    rules = rules_file(tmp_path, SAMSUNG_TRADES.replace("{notify}", ""))
    listener = Listener(status)
    service = ServiceThread(service_settings(broker, rules, status)).start()
    try:
        listener.wait_alert(lambda p: p.topic == "alert.samsung-trades", WAIT_S, "samsung-trades")
        write_rules(rules, SAMSUNG_TRADES.replace("{notify}", "").replace("above: 1", "abov: 1"))
        beat = listener.wait_beat(lambda b: b["last_error"] is not None, WAIT_S)
        assert f"{rules}:6: rules[0](samsung-trades).abov" in beat["last_error"]
        assert beat["rules"] == 1 and beat["reloads"] == 0
        assert [r.id for r in service.service.engine.rules] == ["samsung-trades"]
        write_rules(rules, SAMSUNG_TRADES.replace("{notify}", "").replace("samsung-trades", "hynix-trades")
                    .replace("005930", "000660"))
        beat = listener.wait_beat(lambda b: b["reloads"] == 1, WAIT_S)
        assert beat["last_error"] is None and beat["rules"] == 1
        pub = listener.wait_alert(lambda p: p.topic == "alert.hynix-trades", WAIT_S, "hynix-trades")
    finally:
        rc = service.stop()
        listener.close()
    assert rc == 0
    assert pub.body["code"] == "000660"
    assert [r.id for r in service.service.engine.rules] == ["hynix-trades"]


def test_sighup_reloads_a_running_process_koabus_alerts_tails_it_and_sigterm_exits_0(tmp_path, broker):
    status = free_endpoint()
    rules = rules_file(tmp_path, SAMSUNG_TRADES.replace("{notify}", "console"))
    settings = service_settings(broker, rules, status, reload_check_s=3600.0)  # only SIGHUP reloads
    proc = ServiceProcess(settings, tmp_path / "alerting.log").start()
    listener = Listener(status)
    tail = subprocess.Popen([sys.executable, "-m", "koabus.common.cli.main", "alerts", "--status", status, "--rule",
                             "hynix", "--count", "1", "--timeout", str(WAIT_S * 2)],
                            cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        beat = listener.wait_beat(lambda b: b["rules"] == 1, WAIT_S)
        assert beat["pid"] == proc.proc.pid and beat["state"] == "running"
        listener.wait_alert(lambda p: p.topic == "alert.samsung-trades", WAIT_S, "samsung-trades")
        write_rules(rules, SAMSUNG_TRADES.replace("{notify}", "console").replace("samsung-trades", "hynix-trades")
                    .replace("005930", "000660"))
        proc.proc.send_signal(signal.SIGHUP)
        beat = listener.wait_beat(lambda b: b["reloads"] == 1, WAIT_S)
        pub = listener.wait_alert(lambda p: p.topic == "alert.hynix-trades", WAIT_S, "hynix-trades")
        out, err = tail.communicate(timeout=WAIT_S)
        assert tail.returncode == 0, err
        assert proc.stop() == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()
        proc.stop()
        listener.close()
    line = out.strip().splitlines()
    assert len(line) == 1 and "[hynix-trades] 000660" in line[0] and pub.body["text"] in line[0]
    log = proc.log_tail(20_000)
    assert "SIGHUP: reloading" in log and "[samsung-trades] 005930" in log  # the console notifier's line


def test_an_order_the_simulator_refuses_raises_a_rejected_alert(tmp_path, broker):
    status = free_endpoint()
    rules = rules_file(tmp_path, """
rules:
  - id: refused
    kind: order
    on: [rejected]
    severity: critical
    message: "{name} {code} {side} {order_qty} refused: {code_msg} {reason}"
""")
    listener = Listener(status)
    service = ServiceThread(service_settings(broker, rules, status)).start()
    try:
        # an order rule may name any code: the names of the whole market are loaded once connected
        listener.wait_beat(lambda b: b["broker"] == "ready" and b["names_loaded"], WAIT_S)
        with Client(broker.router, broker.pub, options=ClientOptions(timeout_s=20.0, connect_timeout_s=10.0)) as c:
            account = c.GetAccountList()[0]
            handle = c.buy(account, "005930", 10_000_000, market=True)  # far more than the account's cash
            with pytest.raises(KoabusError):
                handle.wait(15.0)
        pub = listener.wait_alert(lambda p: p.topic == "alert.refused", WAIT_S, "refused")
    finally:
        rc = service.stop()
        listener.close()
    assert rc == 0
    alert = Alert.from_body(pub.body)
    assert alert.severity == "critical" and alert.code == "005930"
    assert alert.values["event"] == "rejected" and alert.values["account"] == account
    assert alert.values["code_msg"] == "RC4025" and "주문가능금액" in alert.values["reason"]
    assert alert.text.startswith("삼성전자 005930 buy 10000000 refused: RC4025 [RC4025]")
    assert json.loads(json.dumps(pub.body)) == pub.body  # JSON-safe, as a webhook sends it


def test_watched_service_heartbeats_raise_recorder_gap_and_missing_heartbeat_alerts(tmp_path):
    """No broker needed: a real PUB stands in for a recorder's status endpoint (its `sys.hb.recorder`)."""
    import zmq

    from koabus.common.heartbeat import Identity, ServiceBeat
    from koabus.common.protocol import Publication

    recorder_status, status = free_endpoint(), free_endpoint()
    nobody = free_endpoint()  # no broker: the service keeps trying and alerts on its watch anyway
    rules = rules_file(tmp_path, """
rules:
  - {id: gaps, kind: system, on: [recorder_gap], cooldown: 0}
  - {id: silent, kind: heartbeat, services: [recorder], missing_for: 1s}
""")
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(recorder_status)
    beat = ServiceBeat(Identity("recorder", 4242, "here", 0.0), 100)
    settings = {"router": nobody, "pub": nobody, "status": status, "rules": str(rules), "heartbeat_ms": 200,
                "watch_services": [recorder_status]}
    listener = Listener(status)
    service = ServiceThread(settings).start()
    seq = 0

    def send(gaps: int) -> None:
        nonlocal seq
        seq += 1
        body = beat.body("running", 0.0, gaps=gaps)
        pub.send_multipart(Publication("sys.hb.recorder", PubType.HEARTBEAT, 1, seq, seq, None, time.time_ns(),
                                       body).to_frames())

    try:
        deadline = time.monotonic() + WAIT_S
        while service.service.engine.counters["publications"] < 3 and time.monotonic() < deadline:
            send(0)  # until the service's SUB has joined and heard a few
            listener.pump()
        send(2)
        gap = listener.wait_alert(lambda p: p.topic == "alert.gaps", WAIT_S, "gaps")
        # the recorder goes silent: the heartbeat rule fires once its last beat is over 1 s old
        silent = listener.wait_alert(lambda p: p.topic == "alert.silent", WAIT_S, "silent")
    finally:
        rc = service.stop()
        listener.close()
        pub.close(0)
    assert rc == 0
    assert gap.body["values"]["new_gaps"] == 2 and gap.body["values"]["event"] == "recorder_gap"
    assert silent.body["values"]["service"] == "recorder" and silent.body["values"]["pid"] == 4242
    assert silent.body["values"]["silent_s"] > 1.0


def test_a_condition_rule_starts_its_watch_and_alerts_when_a_stock_enters(tmp_path, broker):
    status = free_endpoint()
    rules = rules_file(tmp_path, """
rules:
  - {id: gainers, kind: condition, condition: "상승률상위", on: [added, removed], cooldown: 0}
""")
    listener = Listener(status)
    service = ServiceThread(service_settings(broker, rules, status)).start()
    try:
        pub = listener.wait_alert(lambda p: p.topic == "alert.gainers", WAIT_S * 2, "gainers")
    finally:
        rc = service.stop()
        listener.close()
    assert rc == 0
    values = pub.body["values"]
    assert values["condition_name"] == "상승률상위" and values["index"] == 3
    assert values["event"] in ("added", "removed") and len(pub.body["code"]) == 6
