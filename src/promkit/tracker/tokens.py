"""Access tokens (short JWTs) and refresh tokens (opaque, stored hashed, rotated by family).

An access token is an HS256 JWT with ``type="access"``; anything else is refused, so a
refresh token can never act as an access token. A refresh token is 256 random bits shown to
the client once and stored as its SHA-256. Every refresh marks the presented token rotated
and issues the next token of the same family; presenting a rotated token again means it was
stolen (or replayed), so the whole family is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from promkit.core.errors import AuthError
from promkit.tracker.models import RefreshToken, utcnow

ALGORITHM = "HS256"
ACCESS = "access"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str


class TokenService:
    def __init__(self, secret: str, access_ttl: int, refresh_ttl: int) -> None:
        self._secret = secret
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def __repr__(self) -> str:
        return f"TokenService(access_ttl={self.access_ttl}, refresh_ttl={self.refresh_ttl})"

    # access tokens
    def issue_access(self, user_id: int) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "type": ACCESS,
            "iat": now.timestamp(),  # to the microsecond: see access_claims
            "exp": now + timedelta(seconds=self.access_ttl),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def access_claims(self, token: str) -> tuple[int, float]:
        """(user id, issued at as a POSIX timestamp) of a valid, unexpired access token;
        :class:`AuthError` otherwise. The issue time has microseconds, so a token issued
        just after a password reset is told from one issued just before it."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "type"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError(
                "access token expired", hint="refresh it at /api/v1/auth/refresh"
            ) from None
        except jwt.PyJWTError:
            raise AuthError("invalid access token", hint="sign in again") from None
        if claims.get("type") != ACCESS:
            raise AuthError("wrong token type: an access token is required", hint="sign in again")
        issued_at: Any = claims.get("iat")  # checked here, after the clearer type message
        try:
            return int(claims["sub"]), float(issued_at)
        except (TypeError, ValueError):
            raise AuthError("invalid access token", hint="sign in again") from None

    # refresh tokens
    def issue_refresh(self, session: Session, user_id: int, family_id: str | None = None) -> str:
        raw = "rt_" + secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                user_id=user_id,
                family_id=family_id or uuid.uuid4().hex,
                token_hash=token_hash(raw),
                expires_at=utcnow() + timedelta(seconds=self.refresh_ttl),
            )
        )
        session.flush()
        return raw

    def issue_pair(self, session: Session, user_id: int, family_id: str | None = None) -> TokenPair:
        return TokenPair(
            self.issue_access(user_id), self.issue_refresh(session, user_id, family_id)
        )

    def rotate(self, session: Session, raw: str) -> tuple[int, TokenPair]:
        """Exchange a refresh token for a new pair; reuse of a rotated token revokes its family."""
        invalid = AuthError("invalid or expired refresh token", hint="sign in again")
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash(raw)))
        if row is None or row.revoked_at is not None:
            raise invalid
        if row.rotated_at is not None:
            self._revoke_family(session, row.family_id)
            session.commit()  # the revocation must survive the error below
            raise AuthError(
                "refresh token reused: every session of this sign-in was revoked",
                hint="sign in again; if you did not reuse the token, change your password",
            )
        if _aware(row.expires_at) <= utcnow():
            raise invalid
        claimed = session.execute(
            update(RefreshToken)
            .where(RefreshToken.id == row.id, RefreshToken.rotated_at.is_(None))
            .values(rotated_at=utcnow())
        )
        if getattr(claimed, "rowcount", 0) != 1:  # a concurrent refresh won the race
            raise invalid
        return row.user_id, self.issue_pair(session, row.user_id, row.family_id)

    def revoke(self, session: Session, raw: str) -> None:
        """Log out: revoke the family of ``raw`` (unknown tokens are ignored)."""
        row = session.scalar(select(RefreshToken).where(RefreshToken.token_hash == token_hash(raw)))
        if row is not None:
            self._revoke_family(session, row.family_id)

    @staticmethod
    def _revoke_family(session: Session, family_id: str) -> None:
        session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; they are stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["TokenPair", "TokenService", "token_hash"]
