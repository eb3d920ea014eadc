"""HTTP outcomes through the Dispatcher: 5xx retried then delivered, 4xx final, 429 waits Retry-After."""
from __future__ import annotations

import random

from koabus.services.alerting.notifiers import Dispatcher, make_notifier
from koabus.services.alerting.notifiers.httppost import parse_retry_after
from tests.helpers import free_tcp_port

from .conftest import Reply, make_alert


def _dispatcher(notifier, **kwargs):
    delays = []
    dispatcher = Dispatcher([notifier], sleep=delays.append, rng=random.Random(7), **kwargs)
    dispatcher.start()
    return dispatcher, delays


def test_server_errors_are_retried_then_delivered(http_server):
    server = http_server()
    server.reply(Reply(500), Reply(503))
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "webhook", "url": server.url}),
                                     retries=3, backoff_s=1.0)
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert len(server.received) == 3
    assert (stats.sent, stats.failed, stats.retried) == (1, 0, 2)
    assert "HTTP 503" in stats.last_error
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0


def test_retries_are_bounded(http_server):
    server = http_server()
    server.default = Reply(502)
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "webhook", "url": server.url}), retries=2)
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert len(server.received) == 3
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 2)


def test_client_error_is_not_retried(http_server):
    server = http_server()
    server.reply(Reply(400, b"invalid_payload"))
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "slack", "webhook_url": server.url}))
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert len(server.received) == 1 and delays == []
    assert (stats.sent, stats.failed, stats.retried) == (0, 1, 0)
    assert "HTTP 400: invalid_payload" in stats.last_error


def test_429_waits_the_retry_after_it_was_given_capped(http_server):
    server = http_server()
    server.reply(Reply(429, headers={"Retry-After": "7"}), Reply(429, headers={"Retry-After": "3600"}))
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "webhook", "url": server.url}),
                                     retries=3, retry_after_max_s=60)
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert delays == [7.0, 60.0]
    assert (stats.sent, stats.retried) == (1, 2)


def test_429_retry_after_in_a_discord_json_body(http_server):
    server = http_server()
    server.reply(Reply(429, b'{"message": "You are being rate limited.", "retry_after": 0.25}'))
    server.default = Reply(204, b"")
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "discord", "webhook_url": server.url}))
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
    finally:
        dispatcher.stop(5)
    assert delays == [0.25] and len(server.received) == 2


def test_refused_connection_is_retryable_and_the_message_has_no_url_path():
    url = f"http://127.0.0.1:{free_tcp_port()}/services/secret-path"
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "webhook", "url": url}), retries=1)
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert (stats.failed, stats.retried) == (1, 1)
    assert "cannot connect" in stats.last_error and "secret-path" not in stats.last_error


def test_redirect_is_not_followed(http_server):
    server = http_server()
    server.reply(Reply(302, headers={"Location": server.url + "/elsewhere"}))
    dispatcher, delays = _dispatcher(make_notifier("hook", {"type": "webhook", "url": server.url}))
    try:
        dispatcher.dispatch(make_alert())
        assert dispatcher.wait_idle(10)
        stats = dispatcher.stats()["hook"]
    finally:
        dispatcher.stop(5)
    assert len(server.received) == 1 and stats.failed == 1 and "HTTP 302" in stats.last_error


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("Wed, 03 Dec 2025 01:00:30 GMT", now_s=1_764_723_600.0) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_a_server_that_does_not_answer_times_out_as_retryable(http_server):
    from koabus.services.alerting.notifiers import DeliveryError

    server = http_server()
    server.default = Reply(200, hang=True)
    notifier = make_notifier("hook", {"type": "webhook", "url": server.url, "timeout_s": 0.2})
    try:
        notifier.send(make_alert())
    except DeliveryError as exc:
        assert exc.retryable and "no answer within 0.2 s" in str(exc)
    else:
        raise AssertionError("a request held past timeout_s must fail")
    finally:
        server.release()
