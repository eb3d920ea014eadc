"""Each notifier's message format, as received by a real HTTP server on loopback."""
from __future__ import annotations

import io

from koabus.services.alerting.notifiers import make_notifier
from koabus.services.alerting.notifiers.console import ConsoleNotifier

from .conftest import make_alert


def test_webhook_posts_the_alert_bus_body(http_server):
    server = http_server()
    alert = make_alert()
    make_notifier("hook", {"type": "webhook", "url": server.url + "/alerts",
                           "headers": {"X-Team": "ops", "Authorization": "${HOOK_AUTH}"}},
                  environ={"HOOK_AUTH": "Bearer abc"}).send(alert)
    [request] = server.received
    assert request.path == "/alerts"
    assert request.json() == alert.to_body()
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["X-Team"] == "ops"
    assert request.headers["Authorization"] == "Bearer abc"


def test_slack_message_has_fallback_text_and_blocks(http_server):
    server = http_server()
    alert = make_alert(text="price <75,100> & rising")
    make_notifier("slack", {"type": "slack", "webhook_url": "${SLACK_URL}"},
                  environ={"SLACK_URL": server.url + "/services/T/B/x"}).send(alert)
    body = server.received[0].json()
    assert set(body) == {"text", "blocks"}
    assert body["text"].startswith("[WARNING] Samsung Electronics above 75,000")
    header, section, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": alert.title}}
    assert section["text"] == {"type": "mrkdwn", "text": "price &lt;75,100&gt; &amp; rising"}
    assert "005930" in context["elements"][0]["text"]
    assert "2025-12-03 10:00:00 KST" in context["elements"][0]["text"]


def test_discord_content_is_cut_to_2000_characters_and_mentions_are_off(http_server):
    server = http_server()
    server.default.status = 204
    server.default.body = b""
    alert = make_alert(text="@everyone " + "x" * 5000, severity="critical")
    make_notifier("discord", {"type": "discord", "webhook_url": "${DISCORD_URL}", "username": "koabus"},
                  environ={"DISCORD_URL": server.url + "/api/webhooks/1/t"}).send(alert)
    body = server.received[0].json()
    assert len(body["content"]) == 2000 and body["content"].endswith("…")
    assert body["content"].startswith("**[CRITICAL] Samsung Electronics above 75,000**\n@everyone")
    assert body["allowed_mentions"] == {"parse": []}
    assert body["username"] == "koabus"
    [embed] = body["embeds"]
    assert embed["color"] == 0xE74C3C
    assert embed["timestamp"] == "2025-12-03T01:00:00+00:00"
    assert {f["name"]: f["value"] for f in embed["fields"]} == {"rule": "samsung-above-75k", "kind": "price",
                                                                "code": "005930"}


def test_telegram_send_message_goes_to_the_bot_path_with_escaped_html(http_server):
    server = http_server()
    server.default.body = b'{"ok":true,"result":{}}'
    alert = make_alert(text="bid <b>75,000</b>")
    make_notifier("tg", {"type": "telegram", "token": "${TG_TOKEN}", "chat_id": -100123,
                         "api_url": server.url}, environ={"TG_TOKEN": "123:ABC"}).send(alert)
    [request] = server.received
    assert request.path == "/bot123:ABC/sendMessage"
    body = request.json()
    assert body["chat_id"] == "-100123"
    assert body["parse_mode"] == "HTML"
    assert body["text"].startswith("<b>[WARNING] Samsung Electronics above 75,000</b>\nbid &lt;b&gt;75,000")


def test_telegram_answer_not_ok_is_a_final_error(http_server):
    from koabus.services.alerting.notifiers import DeliveryError

    server = http_server()
    server.default.body = b'{"ok":false,"description":"chat not found"}'
    notifier = make_notifier("tg", {"type": "telegram", "token": "${T}", "chat_id": "1", "api_url": server.url},
                             environ={"T": "1:x"})
    try:
        notifier.send(make_alert())
    except DeliveryError as exc:
        assert not exc.retryable and "chat not found" in str(exc)
    else:
        raise AssertionError("an ok:false answer must raise")


def test_console_writes_one_line():
    stream = io.StringIO()
    ConsoleNotifier("console", stream=stream).send(make_alert(text="two\nlines"))
    assert stream.getvalue() == ("2025-12-03 10:00:00 KST WARNING [samsung-above-75k] 005930 "
                                 "Samsung Electronics above 75,000: two lines\n")
