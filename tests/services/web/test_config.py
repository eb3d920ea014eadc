"""Web settings: loopback by default, a key required off loopback, trading only with a trade-role key."""
from __future__ import annotations

import pytest

from koabus.common import keys
from koabus.services.broker.config import SettingsError
from koabus.services.web.config import load_settings, resolve_auth_token, settings_from_dict, trading_allowed


def test_defaults_bind_loopback_without_trading():
    s = load_settings()
    assert (s.host, s.port, s.trading) == ("127.0.0.1", 8765, False)
    assert trading_allowed(s) is False
    assert resolve_auth_token(s) == ""


def test_binding_elsewhere_needs_an_auth_token_reference(tmp_path):
    with pytest.raises(SettingsError, match="auth_token"):
        settings_from_dict({"host": "0.0.0.0"})
    with pytest.raises(SettingsError, match="never the token itself"):
        settings_from_dict({"host": "0.0.0.0", "auth_token": "hunter2hunter2hunter2"})
    s = settings_from_dict({"host": "0.0.0.0", "auth_token": "${KOABUS_WEB_TOKEN}"})
    assert "KOABUS_WEB_TOKEN" not in repr(s)
    with pytest.raises(SettingsError, match="KOABUS_WEB_TOKEN"):
        resolve_auth_token(s, environ={})
    with pytest.raises(SettingsError, match="16 characters"):
        resolve_auth_token(s, environ={"KOABUS_WEB_TOKEN": "short"})
    assert resolve_auth_token(s, environ={"KOABUS_WEB_TOKEN": "a" * 32}) == "a" * 32
    token_file = tmp_path / "token"
    token_file.write_text("b" * 24 + "\n")
    token_file.chmod(0o600)
    assert resolve_auth_token(settings_from_dict({"host": "0.0.0.0", "auth_token": f"file:{token_file}"})) == "b" * 24


def test_unknown_keys_and_bad_values_are_refused():
    with pytest.raises(SettingsError, match="unknown setting"):
        settings_from_dict({"prot": 1})
    with pytest.raises(SettingsError, match="codes"):
        settings_from_dict({"codes": []})
    with pytest.raises(SettingsError, match="interval"):
        settings_from_dict({"interval": "1x"})


def test_trading_needs_a_key_with_the_trade_role(tmp_path):
    with pytest.raises(SettingsError, match="trade role"):
        trading_allowed(settings_from_dict({"trading": True}))
    keys_dir = str(tmp_path / "keys")
    keys.generate(keys_dir, "viewer", "read")
    keys.generate(keys_dir, "trader", "trade")
    keys.generate(keys_dir, "boss", "admin")
    viewer = settings_from_dict({"trading": True, "curve": {"keys_dir": keys_dir, "key": "viewer"}})
    with pytest.raises(SettingsError, match="key role: read"):
        trading_allowed(viewer)
    for name in ("trader", "boss"):
        assert trading_allowed(settings_from_dict({"trading": True, "curve": {"keys_dir": keys_dir, "key": name}}))
    # a trade key alone never turns trading on
    assert not trading_allowed(settings_from_dict({"curve": {"keys_dir": keys_dir, "key": "trader"}}))
    keys.revoke(keys_dir, "trader")
    with pytest.raises(SettingsError, match="key role: None"):
        trading_allowed(settings_from_dict({"trading": True, "curve": {"keys_dir": keys_dir, "key": "trader"}}))
