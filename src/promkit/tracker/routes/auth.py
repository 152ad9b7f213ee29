"""``/api/v1/auth/*``: signup, signin, refresh, logout, me (password reset in
:mod:`.password_reset`, account deletion in :mod:`.account`).

Signup answers the same for a new and an existing email (no enumeration) and hands out no
tokens: the client signs in next. Signin does the same bcrypt work for unknown emails and
opens a new token family without ending the user's other sessions.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promkit.core.errors import AuthError
from promkit.tracker.credentials import check_password, normalize_email
from promkit.tracker.deps import AuthLimit, ContextDep, CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import ApiKey, MetricDefinition, User, utcnow
from promkit.tracker.routes import account, password_reset

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    email: str
    name: str | None
    created_at: datetime


class SignupIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=256)
    name: str | None = Field(None, min_length=1, max_length=255)

    _email = field_validator("email")(normalize_email)
    _password = field_validator("password")(check_password)


class SignupOut(BaseModel):
    email: str


class SigninIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(min_length=1, max_length=256)


class TokensOut(BaseModel):
    accessToken: str
    refreshToken: str
    tokenType: str = "Bearer"
    expiresIn: int


class SessionOut(TokensOut):
    user: UserPublic


class RefreshIn(BaseModel):
    refreshToken: str = Field(min_length=1, max_length=512)


SIGNUP_MESSAGE = "If this email is not registered yet, the account now exists: sign in with it."


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    dependencies=[AuthLimit],
    response_model=Envelope[SignupOut],
)
def signup(body: SignupIn, ctx: ContextDep, session: SessionDep) -> Envelope[SignupOut]:
    password_hash = ctx.passwords.hash(body.password)  # always: same time either way
    if session.scalar(select(User.id).where(User.email == body.email)) is None:
        session.add(User(email=body.email, password_hash=password_hash, name=body.name))
        try:
            session.commit()
        except IntegrityError:  # a concurrent signup took the email: answer the same
            session.rollback()
    return ok(SignupOut(email=body.email), SIGNUP_MESSAGE)


@router.post("/signin", dependencies=[AuthLimit], response_model=Envelope[SessionOut])
def signin(body: SigninIn, ctx: ContextDep, session: SessionDep) -> Envelope[SessionOut]:
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
    return ok(
        SessionOut(
            user=UserPublic.model_validate(user),
            accessToken=pair.access_token,
            refreshToken=pair.refresh_token,
            expiresIn=ctx.tokens.access_ttl,
        )
    )


@router.post("/refresh", dependencies=[AuthLimit], response_model=Envelope[TokensOut])
def refresh(body: RefreshIn, ctx: ContextDep, session: SessionDep) -> Envelope[TokensOut]:
    _user_id, pair = ctx.tokens.rotate(session, body.refreshToken)
    session.commit()
    return ok(
        TokensOut(
            accessToken=pair.access_token,
            refreshToken=pair.refresh_token,
            expiresIn=ctx.tokens.access_ttl,
        )
    )


class LogoutOut(BaseModel):
    loggedOut: bool


@router.post("/logout", response_model=Envelope[LogoutOut])
def logout(body: RefreshIn, ctx: ContextDep, session: SessionDep) -> Envelope[LogoutOut]:
    ctx.tokens.revoke(session, body.refreshToken)
    session.commit()
    return ok(LogoutOut(loggedOut=True), "the session's refresh tokens are revoked")


@router.get("/me", response_model=Envelope[UserPublic])
def me(user: CurrentUser) -> Envelope[UserPublic]:
    return ok(UserPublic.model_validate(user))


class OnboardingStatus(BaseModel):
    has_metric_configs: bool
    metric_configs_count: int
    has_api_key: bool
    onboarding_completed_at: datetime | None
    is_setup_complete: bool


@router.get("/onboarding-status", response_model=Envelope[OnboardingStatus])
def onboarding_status(user: CurrentUser, session: SessionDep) -> Envelope[OnboardingStatus]:
    configs = session.scalar(select(func.count()).where(MetricDefinition.user_id == user.id)) or 0
    keys = (
        session.scalar(
            select(func.count()).where(ApiKey.user_id == user.id, ApiKey.is_active.is_(True))
        )
        or 0
    )
    return ok(
        OnboardingStatus(
            has_metric_configs=configs > 0,
            metric_configs_count=configs,
            has_api_key=keys > 0,
            onboarding_completed_at=user.onboarding_completed_at,
            is_setup_complete=configs > 0 and keys > 0,
        )
    )


@router.post("/onboarding-complete", response_model=Envelope[OnboardingStatus])
def onboarding_complete(user: CurrentUser, session: SessionDep) -> Envelope[OnboardingStatus]:
    mark_onboarded(session, user)
    return onboarding_status(user, session)


def mark_onboarded(session: Session, user: User) -> None:
    if user.onboarding_completed_at is None:
        user.onboarding_completed_at = utcnow()
        session.commit()


# Password reset and account deletion live in their own modules, under this prefix.
router.include_router(password_reset.router)
router.include_router(account.router)

__all__ = ["check_password", "mark_onboarded", "normalize_email", "router"]
