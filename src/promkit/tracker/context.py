"""Everything one tracker app holds, built once from settings by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from promkit.tracker.db import Database
from promkit.tracker.passwords import PasswordHasher
from promkit.tracker.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from promkit.tracker.settings import TrackerSettings
from promkit.tracker.tokens import TokenService


@dataclass
class TrackerContext:
    settings: TrackerSettings
    db: Database
    passwords: PasswordHasher
    tokens: TokenService
    limiter: RateLimiter

    @classmethod
    def build(cls, settings: TrackerSettings) -> TrackerContext:
        limiter: RateLimiter = (
            RedisRateLimiter(settings.redis_url.get_secret_value())
            if settings.redis_url
            else MemoryRateLimiter()
        )
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            passwords=PasswordHasher(settings.bcrypt_cost),
            tokens=TokenService(
                settings.jwt_key(),
                settings.access_token_ttl_seconds,
                settings.refresh_token_ttl_seconds,
            ),
            limiter=limiter,
        )


__all__ = ["TrackerContext"]
