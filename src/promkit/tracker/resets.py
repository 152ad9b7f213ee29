"""Password reset tokens: 32 random bytes shown once (in a mail), stored as their SHA-256.

A token expires after ``ttl_seconds`` and works once. Redeeming one deletes every reset
token of the user (so older links die with it) and revokes every refresh-token family, so
whoever knew the old password loses their sessions. At most :data:`MAX_OUTSTANDING` links
are open per user at a time: a stranger cannot flood someone's mailbox with them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from promkit.core.errors import AuthError
from promkit.tracker.models import PasswordReset, RefreshToken, User, utcnow
from promkit.tracker.tokens import token_hash

TOKEN_BYTES = 32
MAX_OUTSTANDING = 3
MAX_TOKEN_LENGTH = 128


def _invalid() -> AuthError:
    return AuthError(
        "invalid or expired password reset token",
        hint="reset links work once and for a limited time: request a new one",
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PasswordResets:
    ttl_seconds: int

    @staticmethod
    def sweep(session: Session) -> None:
        """Delete every expired link (each request does it, known email or not: same work)."""
        session.execute(delete(PasswordReset).where(PasswordReset.expires_at <= utcnow()))

    def issue(self, session: Session, user: User) -> str | None:
        """A new raw token for ``user`` (flushed, not committed); None when too many are open."""
        now = utcnow()
        self.sweep(session)
        open_links = session.scalar(select(func.count()).where(PasswordReset.user_id == user.id))
        if (open_links or 0) >= MAX_OUTSTANDING:
            return None
        raw = secrets.token_urlsafe(TOKEN_BYTES)
        session.add(
            PasswordReset(
                user_id=user.id,
                token_hash=token_hash(raw),
                expires_at=now + timedelta(seconds=self.ttl_seconds),
            )
        )
        session.flush()
        return raw

    def redeem(self, session: Session, raw: str) -> int:
        """Use ``raw`` up (once): the user id; every other reset link and session of the user
        ends. The caller sets the password and commits; :class:`AuthError` for a bad token."""
        if not raw or len(raw) > MAX_TOKEN_LENGTH:
            raise _invalid()
        row = session.scalar(
            select(PasswordReset).where(PasswordReset.token_hash == token_hash(raw))
        )
        if row is None or _aware(row.expires_at) <= utcnow():
            raise _invalid()
        claimed = session.execute(delete(PasswordReset).where(PasswordReset.id == row.id))
        if getattr(claimed, "rowcount", 0) != 1:  # a concurrent reset used it first
            raise _invalid()
        user_id = row.user_id
        session.execute(delete(PasswordReset).where(PasswordReset.user_id == user_id))
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return user_id


__all__ = ["MAX_OUTSTANDING", "TOKEN_BYTES", "PasswordResets"]
