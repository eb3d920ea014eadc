"""`koabus alerting --check`, the refusals at start, and `koabus alerts` against a real PUB socket."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import zmq

from koabus.common.cli.main import main
from koabus.common.protocol import Publication
from koabus.common.protocol.constants import PubType
from koabus.common.protocol.topics import alert_topic
from koabus.services.alerting.alert import Alert
from tests.common.client.live import REPO
from tests.helpers import free_tcp_port

GOOD = """\
rules:
  - {id: big-move, kind: change, codes: "*", over_pct: 3.0}
  - id: fills
    kind: order
    notify: [console]
"""
BAD = """\
rules:
  - {id: big-move, kind: change, codes: "*", over_pct: 3.0}
  - id: wide
    kind: spread
    codes: ["035420"]
    over_tick: 3
"""


def test_check_says_how_many_rules_are_ok(tmp_path, capsys):
    path = tmp_path / "alerts.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["alerting", "--check", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: 2 rules OK"


def test_check_fails_with_the_file_line_and_field(tmp_path, capsys):
    path = tmp_path / "alerts.yaml"
    path.write_text(BAD, encoding="utf-8")
    assert main(["alerting", "--check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}:6: rules[1](wide).over_tick: unknown key") and "'over_ticks'" in err


def test_check_with_a_config_checks_the_notifier_names(tmp_path, capsys):
    rules = tmp_path / "alerts.yaml"
    rules.write_text(GOOD.replace("[console]", "[consol]"), encoding="utf-8")
    config = tmp_path / "alerting.yaml"
    config.write_text(f"rules: {rules}\nnotifiers:\n  console: {{type: console}}\n", encoding="utf-8")
    assert main(["alerting", "--check", str(rules)]) == 0  # no config: names are not checked
    capsys.readouterr()
    assert main(["alerting", "--config", str(config), "--check"]) == 2
    err = capsys.readouterr().err
    assert f"{rules}:5: rules[1](fills).notify: unknown notifier 'consol'" in err and "'console'" in err


def test_the_service_refuses_to_start_on_bad_rules_or_settings(tmp_path, capsys):
    rules = tmp_path / "alerts.yaml"
    rules.write_text(BAD, encoding="utf-8")
    status = f"tcp://127.0.0.1:{free_tcp_port()}"
    assert main(["alerting", "--rules", str(rules), "--status", status, "--log-level", "ERROR"]) == 2
    assert f"{rules}:6:" in capsys.readouterr().err
    config = tmp_path / "alerting.yaml"
    config.write_text("notifiers:\n  slack: {type: slack, webhook_url: 'https://hooks.slack.com/services/T0/B0/xyz'}\n",
                      encoding="utf-8")
    assert main(["alerting", "--config", str(config)]) == 2
    assert "a secret in plain text is not allowed" in capsys.readouterr().err
    config.write_text("reload_check: 1\n", encoding="utf-8")
    assert main(["alerting", "--config", str(config)]) == 2
    assert "unknown setting(s) reload_check" in capsys.readouterr().err


def _alert_frames(rule: str, seq: int) -> list:
    alert = Alert(rule=rule, kind="price", severity="warning", title=rule, text=f"삼성전자 005930 at 75,{seq:03d}",
                  code="005930", time_ns=1_764_723_600_000_000_000, dedup_key=f"{rule}:005930",
                  values={"current_price": 75000 + seq}, notify=())
    return Publication(alert_topic(rule), PubType.ALERT, 7, seq, seq, alert.time_ns, time.time_ns(),
                       alert.to_body()).to_frames()


def test_koabus_alerts_prints_what_the_alerting_pub_publishes(tmp_path):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.bind(endpoint)
    tails = [subprocess.Popen([sys.executable, "-m", "koabus.common.cli.main", "alerts", "--status", endpoint,
                               "--count", "2", "--timeout", "30", *extra], cwd=str(REPO),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for extra in ((), ("--json", "--rule", "samsung"))]
    try:
        deadline = time.monotonic() + 30
        seq = 0
        while any(t.poll() is None for t in tails) and time.monotonic() < deadline:
            seq += 1  # a SUB joins late (slow joiner): publish until both have what they wait for
            pub.send_multipart(_alert_frames("samsung-75k" if seq % 2 else "other", seq))
            time.sleep(0.05)
        outputs = [t.communicate(timeout=10) for t in tails]
    finally:
        for t in tails:
            if t.poll() is None:
                t.kill()
                t.communicate()
        pub.close(0)
    (plain, err0), (as_json, err1) = outputs
    assert [t.returncode for t in tails] == [0, 0], (err0, err1)
    lines = plain.strip().splitlines()
    assert len(lines) == 2 and all("WARNING [" in line and "] 005930 " in line for line in lines)
    bodies = [json.loads(line) for line in as_json.strip().splitlines()]
    assert len(bodies) == 2 and {b["rule"] for b in bodies} == {"samsung-75k"}
    assert Alert.from_body(bodies[0]).text.startswith("삼성전자 005930 at 75,")


def test_koabus_alerts_exits_1_when_the_count_did_not_arrive_in_time(capsys):
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"  # nobody publishes there
    assert main(["alerts", "--status", endpoint, "--count", "1", "--timeout", "0.3"]) == 1
    assert capsys.readouterr().out == ""
