"""Everything one tracker app holds, built once from settings by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from promkit.tracker.catalog import Catalog
from promkit.tracker.db import Database
from promkit.tracker.exposition import build_registry
from promkit.tracker.forwarding import RemoteWriteForwarder
from promkit.tracker.passwords import PasswordHasher
from promkit.tracker.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from promkit.tracker.settings import TrackerSettings
from promkit.tracker.store import SeriesStore
from promkit.tracker.tokens import TokenService


@dataclass
class TrackerContext:
    settings: TrackerSettings
    db: Database
    passwords: PasswordHasher
    tokens: TokenService
    limiter: RateLimiter
    catalog: Catalog
    store: SeriesStore
    registry: CollectorRegistry

    @classmethod
    def build(cls, settings: TrackerSettings) -> TrackerContext:
        limiter: RateLimiter = (
            RedisRateLimiter(settings.redis_url.get_secret_value())
            if settings.redis_url
            else MemoryRateLimiter()
        )
        db = Database(settings.database_url)
        return cls(
            settings=settings,
            db=db,
            passwords=PasswordHasher(settings.bcrypt_cost),
            tokens=TokenService(
                settings.jwt_key(),
                settings.access_token_ttl_seconds,
                settings.refresh_token_ttl_seconds,
            ),
            limiter=limiter,
            catalog=Catalog(db, ttl=settings.cache_ttl_seconds),
            store=SeriesStore(
                db,
                settings.max_series_per_user,
                forwarder=(
                    RemoteWriteForwarder(settings.remote_write_url)
                    if settings.remote_write_url
                    else None
                ),
            ),
            registry=build_registry(db),
        )

    def forget_key(self, key_hash: str) -> None:
        """A key changed through the API: the next ingestion re-reads it."""
        self.catalog.forget_key(key_hash)

    def forget_definitions(self, user_id: int, dropped_metric: str | None = None) -> None:
        """Definitions changed; ``dropped_metric`` lost its series (deleted or reshaped)."""
        self.catalog.forget_definitions(user_id)
        if dropped_metric is not None:
            self.store.drop_metric(user_id, dropped_metric)


__all__ = ["TrackerContext"]
