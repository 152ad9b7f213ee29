"""``/api/v1/auth/password-reset-request`` and ``/api/v1/auth/password-reset``.

The request always answers the same generic 200, whether the email has an account or not
(no enumeration); the mail leaves in a worker thread after the answer. Without SMTP settings
nothing is sent, and one warning at startup says so. Mounted under :mod:`.auth`'s prefix.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, BackgroundTasks
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select

from promkit.tracker.credentials import check_password, normalize_email
from promkit.tracker.deps import AuthLimit, ContextDep, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.mail import ResetMailer, missing_mail_settings
from promkit.tracker.models import User, utcnow
from promkit.tracker.resets import MAX_TOKEN_LENGTH, PasswordResets

log = logging.getLogger("promkit.tracker")


@asynccontextmanager
async def _warn_without_mail(app: Any) -> AsyncIterator[None]:
    missing = missing_mail_settings(app.state.tracker.settings)
    if missing:
        log.warning(
            "password reset mail is not configured (set %s): reset requests send nothing",
            " and ".join(missing),
        )
    yield


router = APIRouter(tags=["auth"], lifespan=_warn_without_mail)

REQUEST_MESSAGE = "If an account with this email exists, a password reset link is on its way to it."


class ResetRequestIn(BaseModel):
    email: str = Field(max_length=320)

    _email = field_validator("email")(normalize_email)


class ResetRequestOut(BaseModel):
    email: str


class ResetIn(BaseModel):
    token: str = Field(min_length=1, max_length=MAX_TOKEN_LENGTH)
    password: str = Field(max_length=256)

    _password = field_validator("password")(check_password)


class ResetOut(BaseModel):
    reset: bool = True


@router.post(
    "/password-reset-request", dependencies=[AuthLimit], response_model=Envelope[ResetRequestOut]
)
def request_reset(
    body: ResetRequestIn, ctx: ContextDep, session: SessionDep, background: BackgroundTasks
) -> Envelope[ResetRequestOut]:
    mailer = ResetMailer.from_settings(ctx.settings)
    if mailer is None:
        return ok(ResetRequestOut(email=body.email), REQUEST_MESSAGE)
    resets = PasswordResets(ctx.settings.password_reset_ttl_seconds)
    user = session.scalar(select(User).where(User.email == body.email))
    raw: str | None = None
    if user is None:
        resets.sweep(session)  # the same database work as for a known email
    else:
        raw = resets.issue(session, user)
    session.commit()
    if user is not None and raw is not None:
        # A sync task: Starlette runs it in a worker thread once the answer is sent.
        background.add_task(mailer.send, user.email, raw)
    return ok(ResetRequestOut(email=body.email), REQUEST_MESSAGE)


@router.post("/password-reset", dependencies=[AuthLimit], response_model=Envelope[ResetOut])
def reset_password(body: ResetIn, ctx: ContextDep, session: SessionDep) -> Envelope[ResetOut]:
    password_hash = ctx.passwords.hash(body.password)
    user_id = PasswordResets(ctx.settings.password_reset_ttl_seconds).redeem(session, body.token)
    user = session.get(User, user_id)
    assert user is not None  # the reset row was deleted with its user otherwise
    user.password_hash = password_hash
    user.tokens_valid_after = utcnow()  # access tokens end too, not only refresh tokens
    session.commit()
    log.info("password reset for user %s; every session revoked", user_id)
    return ok(ResetOut(), "Password changed: every session was signed out, sign in again.")


__all__ = ["router"]
