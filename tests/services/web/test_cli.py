"""`koabus web`: registered in the CLI; refuses to start with settings it must not run with."""
from __future__ import annotations

from koabus.common.cli.main import main


def test_web_refuses_a_public_bind_without_a_key(capsys):
    assert main(["web", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "auth_token" in capsys.readouterr().err


def test_web_refuses_trading_without_a_trade_key(tmp_path, capsys):
    config = tmp_path / "web.yaml"
    config.write_text("trading: true\n", encoding="utf-8")
    assert main(["web", "--config", str(config)]) == 2
    assert "trade role" in capsys.readouterr().err


def test_web_refuses_an_unreadable_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KOABUS_TEST_NO_SUCH_TOKEN", raising=False)
    config = tmp_path / "web.yaml"
    config.write_text("host: 0.0.0.0\nauth_token: ${KOABUS_TEST_NO_SUCH_TOKEN}\n", encoding="utf-8")
    assert main(["web", "--config", str(config)]) == 2
    assert "KOABUS_TEST_NO_SUCH_TOKEN" in capsys.readouterr().err
