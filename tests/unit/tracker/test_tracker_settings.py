"""Tracker settings: env prefix, refusal of unsafe secrets outside dev mode, no leaks."""

from __future__ import annotations

import pytest

from promkit.core.errors import ConfigError
from promkit.tracker.settings import TrackerSettings, load_settings

GOOD = "k" * 40


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PROMKIT_TRACKER_"):
            monkeypatch.delenv(name)


def test_settings_read_promkit_tracker_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMKIT_TRACKER_JWT_SECRET", GOOD)
    monkeypatch.setenv("PROMKIT_TRACKER_DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("PROMKIT_TRACKER_AUTH_RATE_LIMIT", "7")
    settings = load_settings()
    assert settings.database_url == "sqlite:///x.db"
    assert settings.auth_rate_limit == 7
    assert settings.jwt_key() == GOOD
    assert settings.bcrypt_cost == 12
    assert settings.access_token_ttl_seconds == 900
    assert settings.refresh_token_ttl_seconds == 7 * 24 * 3600


@pytest.mark.parametrize("secret", [None, "", "short", "your-secret-key-change-in-production"])
def test_settings_refuse_missing_or_unsafe_jwt_secret(secret: str | None) -> None:
    overrides = {} if secret is None else {"jwt_secret": secret}
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    assert "JWT_SECRET" in info.value.message
    assert info.value.hint


def test_settings_dev_mode_generates_a_random_secret() -> None:
    a, b = load_settings(dev=True), load_settings(dev=True)
    assert len(a.jwt_key()) >= 32
    assert a.jwt_key() != b.jwt_key()


def test_settings_refuse_cheap_bcrypt_outside_dev() -> None:
    with pytest.raises(ConfigError, match="BCRYPT_COST"):
        load_settings(jwt_secret=GOOD, bcrypt_cost=4)
    assert load_settings(jwt_secret=GOOD, bcrypt_cost=4, dev=True).bcrypt_cost == 4


def test_settings_invalid_value_is_a_config_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PROMKIT_TRACKER_PORT", "not-a-port-s3cret")
    with pytest.raises(ConfigError) as info:
        load_settings(jwt_secret=GOOD)
    assert "port" in info.value.message
    assert "s3cret" not in info.value.message


def test_settings_secrets_do_not_appear_in_repr() -> None:
    settings = TrackerSettings(jwt_secret=GOOD, redis_url="redis://:pw-xyz@localhost/0")
    assert GOOD not in repr(settings)
    assert "pw-xyz" not in repr(settings)


def test_settings_import_builds_nothing() -> None:
    import importlib

    module = importlib.import_module("promkit.tracker.app")
    assert not any(type(v).__name__ in {"Engine", "FastAPI"} for v in vars(module).values())
