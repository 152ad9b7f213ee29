"""SQLAlchemy 2 models of the tracker: accounts, tokens, keys, metric definitions, series.

Secrets are never stored: refresh tokens and API keys are kept as SHA-256 hashes (they are
256-bit random values, so a fast hash is enough), passwords as bcrypt hashes. Series hold
the durable state of every ingested metric, so a restart loses nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(255))
    onboarding_completed_at: Mapped[datetime | None] = mapped_column()
    # Access tokens issued before this moment are refused (set when the password is reset).
    tokens_valid_after: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RefreshToken(Base):
    """One refresh token; a family is one sign-in and every token rotated from it."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column()
    rotated_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_name: Mapped[str] = mapped_column(String(255))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_prefix: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Web origins ("https://shop.example") allowed to send with this key; None: any.
    allowed_origins: Mapped[list[str] | None] = mapped_column(JSON)
    last_used_at: Mapped[datetime | None] = mapped_column()
    # Ingested samples through this key, written behind by the series store (additive).
    samples_accepted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    samples_rejected: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MetricDefinition(Base):
    __tablename__ = "metric_configs"
    __table_args__ = (UniqueConstraint("user_id", "metric_name", name="uq_metric_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    metric_type: Mapped[str] = mapped_column(String(16))
    metric_name: Mapped[str] = mapped_column(String(200))
    # [{"name": ..., "value": default or null}]: the label names a sample may carry.
    labels: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    buckets: Mapped[list[float] | None] = mapped_column(JSON)
    help_text: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Series(Base):
    """The durable value of one series (user, metric, type, label set)."""

    __tablename__ = "series"
    __table_args__ = (
        UniqueConstraint("user_id", "metric_name", "metric_type", "labels_key", name="uq_series"),
        Index("ix_series_user", "user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    metric_name: Mapped[str] = mapped_column(String(200))
    metric_type: Mapped[str] = mapped_column(String(16))
    labels_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the canonical labels
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    value: Mapped[float] = mapped_column(Float, default=0.0)  # counter/gauge value, or sum
    count: Mapped[float] = mapped_column(Float, default=0.0)  # histogram/summary count
    bucket_counts: Mapped[list[float] | None] = mapped_column(JSON)  # non-cumulative
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PasswordReset(Base):
    """One outstanding password reset link: the SHA-256 of its token, deleted once used."""

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


__all__ = [
    "ApiKey",
    "Base",
    "MetricDefinition",
    "PasswordReset",
    "RefreshToken",
    "Series",
    "User",
    "utcnow",
]
