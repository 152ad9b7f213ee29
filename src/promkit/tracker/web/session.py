"""``/api/v1/web/session``: the web app's cookie-based sign-in, refresh and sign-out.

The browser never stores a token where scripts can reach it across page loads: the access
token lives in the page's memory only, the refresh token in an ``HttpOnly``,
``SameSite=Strict`` cookie whose ``Path`` is this router (``Secure`` when served over
https). Refresh and sign-out are cookie-authenticated, so they need CSRF protection: a
double-submit token (a readable ``promkit_csrf`` cookie echoed in ``X-CSRF-Token``) plus an
``Origin`` check when the browser sends one. The token logic is H6's :class:`TokenService`
(rotation, family revocation on reuse); this module only moves the refresh token into a
cookie.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Cookie, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from promkit.core.errors import AuthError
from promkit.tracker.deps import AuthLimit, ContextDep, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import User
from promkit.tracker.routes.auth import SigninIn, UserPublic, normalize_email

PREFIX = "/api/v1/web/session"
REFRESH_COOKIE = "promkit_refresh"
CSRF_COOKIE = "promkit_csrf"
CSRF_HEADER = "X-CSRF-Token"

router = APIRouter(prefix=PREFIX, tags=["web-session"])


class WebSessionOut(BaseModel):
    """What the page keeps in memory; the refresh token travels only as a cookie."""

    accessToken: str
    tokenType: str = "Bearer"
    expiresIn: int
    csrfToken: str
    user: UserPublic


class SignedOut(BaseModel):
    loggedOut: bool = True


class CsrfError(AuthError):
    http_status = 403


def _secure(request: Request, public_url: str | None) -> bool:
    if public_url:
        return public_url.lower().startswith("https://")
    return request.url.scheme == "https"


def _set_cookies(
    response: Response, request: Request, ctx: ContextDep, refresh_token: str, csrf: str
) -> None:
    secure = _secure(request, ctx.settings.public_url)
    max_age = ctx.tokens.refresh_ttl
    response.set_cookie(
        REFRESH_COOKIE, refresh_token, max_age=max_age, path=PREFIX,
        httponly=True, secure=secure, samesite="strict",
    )  # fmt: skip
    # Readable by the page (double submit); worthless alone, as it is not a credential.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path="/", httponly=False, secure=secure,
        samesite="strict",
    )  # fmt: skip


def _clear_cookies(response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    response.delete_cookie(CSRF_COOKIE, path="/", samesite="strict")


def check_origin(request: Request, origin: str | None, public_url: str | None) -> None:
    """A browser's ``Origin`` (when sent) must be this server's own origin."""
    if origin is None:
        return
    allowed = {f"{request.url.scheme}://{request.headers.get('host', '')}".lower()}
    if public_url:
        parts = urlsplit(public_url)
        allowed.add(f"{parts.scheme}://{parts.netloc}".lower())
    if origin.lower() not in allowed:
        raise CsrfError(
            "cross-origin request refused", hint="use the web app served by this tracker"
        )


def check_csrf(cookie: str | None, header: str | None) -> None:
    """Double submit: the header must repeat the CSRF cookie (constant-time compare)."""
    if not cookie or not header or not secrets.compare_digest(cookie.encode(), header.encode()):
        raise CsrfError(
            "missing or wrong CSRF token", hint=f"send the {CSRF_COOKIE} cookie in {CSRF_HEADER}"
        )


@router.post("", dependencies=[AuthLimit], response_model=Envelope[WebSessionOut])
def sign_in(
    body: SigninIn,
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    origin: Annotated[str | None, Header()] = None,
) -> Envelope[WebSessionOut]:
    check_origin(request, origin, ctx.settings.public_url)
    try:
        email = normalize_email(body.email)
    except ValueError:
        email = ""
    user = session.scalar(select(User).where(User.email == email)) if email else None
    if not ctx.passwords.verify(body.password, user.password_hash if user else None):
        raise AuthError("invalid email or password", hint="check both, or sign up first")
    assert user is not None
    pair = ctx.tokens.issue_pair(session, user.id)
    session.commit()
    csrf = secrets.token_urlsafe(32)
    _set_cookies(response, request, ctx, pair.refresh_token, csrf)
    return ok(
        WebSessionOut(
            accessToken=pair.access_token,
            expiresIn=ctx.tokens.access_ttl,
            csrfToken=csrf,
            user=UserPublic.model_validate(user),
        )
    )


@router.post("/refresh", dependencies=[AuthLimit], response_model=Envelope[WebSessionOut])
def refresh(
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    promkit_refresh: Annotated[str | None, Cookie(max_length=512)] = None,
    promkit_csrf: Annotated[str | None, Cookie(max_length=128)] = None,
    x_csrf_token: Annotated[str | None, Header(max_length=128)] = None,
    origin: Annotated[str | None, Header()] = None,
) -> Envelope[WebSessionOut]:
    check_origin(request, origin, ctx.settings.public_url)
    check_csrf(promkit_csrf, x_csrf_token)
    if not promkit_refresh:
        raise AuthError("not signed in", hint="sign in again")
    user_id, pair = ctx.tokens.rotate(session, promkit_refresh)
    session.commit()
    user = session.get(User, user_id)
    if user is None:
        raise AuthError("the account no longer exists", hint="sign up again")
    csrf = secrets.token_urlsafe(32)
    _set_cookies(response, request, ctx, pair.refresh_token, csrf)
    return ok(
        WebSessionOut(
            accessToken=pair.access_token,
            expiresIn=ctx.tokens.access_ttl,
            csrfToken=csrf,
            user=UserPublic.model_validate(user),
        )
    )


@router.post("/logout", response_model=Envelope[SignedOut])
def sign_out(
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    promkit_refresh: Annotated[str | None, Cookie(max_length=512)] = None,
    promkit_csrf: Annotated[str | None, Cookie(max_length=128)] = None,
    x_csrf_token: Annotated[str | None, Header(max_length=128)] = None,
    origin: Annotated[str | None, Header()] = None,
) -> Envelope[SignedOut]:
    check_origin(request, origin, ctx.settings.public_url)
    check_csrf(promkit_csrf, x_csrf_token)
    if promkit_refresh:
        ctx.tokens.revoke(session, promkit_refresh)
        session.commit()
    _clear_cookies(response)
    return ok(SignedOut(), "signed out: this sign-in's refresh tokens are revoked")


__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "PREFIX", "REFRESH_COOKIE", "router"]
