"""FastAPI dependencies as ``Annotated`` aliases: context, DB session, current user, limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from promkit.core.errors import AuthError
from promkit.tracker.context import TrackerContext
from promkit.tracker.models import User
from promkit.tracker.ratelimit import enforce


async def get_context(request: Request) -> TrackerContext:
    # async on purpose: a sync dependency would cost a thread-pool hop on every request.
    ctx: TrackerContext = request.app.state.tracker
    return ctx


ContextDep = Annotated[TrackerContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    """A session per request; routes commit explicitly, anything uncommitted is rolled back."""
    with ctx.db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
bearer = HTTPBearer(auto_error=False, description="access token from /api/v1/auth/signin")


def client_ip(request: Request, ctx: TrackerContext) -> str:
    if ctx.settings.trust_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.client.host if request.client else "unknown"


def current_user(
    ctx: ContextDep,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    if credentials is None:
        raise AuthError("no access token", hint="send Authorization: Bearer <accessToken>")
    user_id, issued_at = ctx.tokens.access_claims(credentials.credentials)
    user = session.get(User, user_id)
    if user is None:
        raise AuthError("the account of this token no longer exists", hint="sign in again")
    valid_after = user.tokens_valid_after
    if valid_after is not None and issued_at < valid_after.timestamp():
        raise AuthError(
            "this access token was issued before the password was reset", hint="sign in again"
        )
    return user


async def limited_user(ctx: ContextDep, user: Annotated[User, Depends(current_user)]) -> User:
    s = ctx.settings
    await enforce(
        ctx.limiter, f"api:{user.id}", s.api_rate_limit, s.rate_limit_window_seconds, "API"
    )
    return user


CurrentUser = Annotated[User, Depends(limited_user)]


async def auth_rate_limit(request: Request, ctx: ContextDep) -> None:
    s = ctx.settings
    if request.url.path.endswith("/refresh"):
        bucket, limit = "refresh", s.refresh_rate_limit
    else:
        bucket, limit = "login", s.auth_rate_limit
    key = f"auth:{bucket}:{client_ip(request, ctx)}"
    await enforce(ctx.limiter, key, limit, s.rate_limit_window_seconds, "sign-in")


AuthLimit = Depends(auth_rate_limit)

__all__ = [
    "AuthLimit",
    "ContextDep",
    "CurrentUser",
    "SessionDep",
    "client_ip",
    "get_context",
]
