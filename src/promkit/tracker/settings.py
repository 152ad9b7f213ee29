"""Settings of the tracker service: ``PROMKIT_TRACKER_*`` environment variables or arguments.

Nothing here runs at import time: :func:`load_settings` builds the one settings object that
``create_app`` and the CLI pass to constructors. Outside ``--dev`` mode the service refuses a
missing, short or well-known JWT secret and a bcrypt cost below 12.
"""

from __future__ import annotations

import secrets
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from promkit.core.errors import ConfigError

MIN_SECRET_LENGTH = 32
PRODUCTION_BCRYPT_COST = 12
# Secrets copied from tutorials and .env examples; an attacker tries these first.
KNOWN_UNSAFE_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "secret",
        "your-secret-key",
        "your-secret-key-change-in-production",
        "jwt-secret",
        "supersecret",
    }
)


def _check_remote_write(url: str | None) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL such as http://vm:8428/api/v1/write")
    return url


def _check_http_url(url: str | None) -> str | None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValueError("must be an http(s) URL such as http://grafana:3000")
    return url


def _check_smtp_url(url: SecretStr | None) -> SecretStr | None:
    if url is not None:
        from promkit.tracker.mail import parse_smtp_url

        parse_smtp_url(url.get_secret_value())  # ValueError without the URL in it
    return url


class TrackerSettings(BaseSettings):
    """Everything the tracker service can be configured with (env prefix ``PROMKIT_TRACKER_``)."""

    model_config = SettingsConfigDict(env_prefix="PROMKIT_TRACKER_", extra="ignore", frozen=True)

    dev: bool = Field(False, description="development mode: relaxed secrets, open /metrics")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    database_url: str = Field(
        "sqlite:///promkit-tracker.db",
        description="SQLAlchemy URL: sqlite:///file.db or postgresql+psycopg://user:pw@host/db",
    )
    migrate_on_start: bool = True
    jwt_secret: SecretStr | None = None
    access_token_ttl_seconds: int = Field(15 * 60, ge=1)
    refresh_token_ttl_seconds: int = Field(7 * 24 * 3600, ge=1)
    bcrypt_cost: int = Field(PRODUCTION_BCRYPT_COST, ge=4, le=16)
    # Rate limits: requests per window (0 disables one limit).
    rate_limit_window_seconds: int = Field(60, ge=1)
    auth_rate_limit: int = Field(5, ge=0, description="per client IP on signup/signin/reset")
    # Refreshing needs a valid 32-byte refresh token, so it is no guessing target; the web
    # app refreshes on every page load, and 5/min signed users out who reloaded quickly.
    refresh_rate_limit: int = Field(60, ge=0, description="per client IP on token refresh")
    api_rate_limit: int = Field(100, ge=0, description="per user on the JWT-protected API")
    ingest_rate_limit: int = Field(6000, ge=0, description="per API key on ingestion")
    redis_url: SecretStr | None = Field(None, description="share rate limits between instances")
    trust_forwarded_for: bool = Field(False, description="take the client IP from X-Forwarded-For")
    # Ingestion and cardinality.
    max_batch_items: int = Field(100, ge=1)
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_labels_per_metric: int = Field(10, ge=0)
    max_label_value_length: int = Field(128, ge=1)
    max_series_per_user: int = Field(1000, ge=1)
    max_metrics_per_user: int = Field(200, ge=1)
    flush_interval_seconds: float = Field(1.0, gt=0, description="series write-behind period")
    cache_ttl_seconds: float = Field(5.0, ge=0, description="key/definition cache lifetime")
    scrape_token: SecretStr | None = Field(None, description="Bearer token Prometheus sends")
    remote_write_url: str | None = None
    public_url: str | None = Field(None, description="base URL the snippet loads tracker.js from")
    grafana_url: str | None = Field(None, description="Grafana users are pointed to")
    # Password reset by mail (smtp://user:pass@host:port or smtps://...; stdlib smtplib).
    smtp_url: SecretStr | None = Field(None, description="mail server for password reset links")
    mail_from: str | None = Field(None, description="From: of reset mail (default no-reply@)")
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    password_reset_ttl_seconds: int = Field(30 * 60, ge=1, description="reset link lifetime")

    _remote_write = field_validator("remote_write_url")(_check_remote_write)
    _grafana = field_validator("grafana_url")(_check_http_url)
    _smtp = field_validator("smtp_url")(_check_smtp_url)

    def jwt_key(self) -> str:
        """The secret tokens are signed with (checked by :func:`check_settings`)."""
        assert self.jwt_secret is not None, "load_settings() fills jwt_secret"
        return self.jwt_secret.get_secret_value()


def check_settings(settings: TrackerSettings) -> TrackerSettings:
    """Refuse unsafe settings outside dev mode; give dev mode a random per-process secret."""
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else ""
    if not settings.dev:
        if not secret:
            raise ConfigError(
                "PROMKIT_TRACKER_JWT_SECRET is not set",
                hint="generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
                " or run `promkit tracker serve --dev` for local experiments",
            )
        if len(secret) < MIN_SECRET_LENGTH or secret.lower() in KNOWN_UNSAFE_SECRETS:
            raise ConfigError(
                f"PROMKIT_TRACKER_JWT_SECRET is unsafe (needs >= {MIN_SECRET_LENGTH} random"
                " characters, not a well-known default)",
                hint="generate one with `python -c 'import secrets; print(secrets.token_hex(32))'`",
            )
        if settings.bcrypt_cost < PRODUCTION_BCRYPT_COST:
            raise ConfigError(
                f"PROMKIT_TRACKER_BCRYPT_COST={settings.bcrypt_cost} is below"
                f" {PRODUCTION_BCRYPT_COST}",
                hint="lower costs exist for tests only; use --dev or remove the setting",
            )
    elif not secret:
        settings = settings.model_copy(update={"jwt_secret": SecretStr(secrets.token_hex(32))})
    return settings


def load_settings(*, require_secrets: bool = True, **overrides: Any) -> TrackerSettings:
    """Read ``PROMKIT_TRACKER_*`` (arguments win), validate, and refuse unsafe values.

    ``require_secrets=False`` is for commands that never sign tokens (``migrate``).
    """
    try:
        settings = TrackerSettings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        # Only the location and message: pydantic's text would echo the (maybe secret) input.
        raise ConfigError(
            f"invalid tracker setting {where}: {first['msg']}",
            hint=f"check PROMKIT_TRACKER_{where.upper()}",
        ) from None
    return check_settings(settings) if require_secrets else settings


__all__ = ["TrackerSettings", "check_settings", "load_settings"]
