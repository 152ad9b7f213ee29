"""``/api/v1/api-keys``: create (the key is shown once), list, rename, (de)activate, delete.

The reference's ``POST /:id/copy`` handed out the raw key at any time; keys here exist only
as hashes, so that route answers 410 Gone with what to do instead.
"""

from __future__ import annotations

import re
from datetime import datetime

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from promkit.core.errors import ConflictError, NotFoundError, PromkitError, UsageError
from promkit.tracker.apikeys import generate_key, masked
from promkit.tracker.deps import ContextDep, CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import ApiKey, User

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])
MAX_KEYS_PER_USER = 50
KeyId = Path(ge=1, le=2**31 - 1)


ORIGIN_RE = re.compile(r"^https?://[a-z0-9.-]+(:[0-9]{1,5})?$")
MAX_ORIGINS = 20


def _check_origins(origins: list[str] | None) -> list[str] | None:
    """``https://shop.example`` style origins, lower-cased; None or [] allows any origin."""
    if origins is None:
        return None
    cleaned = []
    for origin in origins:
        value = origin.strip().lower().rstrip("/")
        if not ORIGIN_RE.match(value):
            raise ValueError(f"{origin[:100]!r} is not an origin like https://shop.example")
        cleaned.append(value)
    return sorted(set(cleaned))


class ApiKeyBase(BaseModel):
    key_name: str = Field(min_length=1, max_length=255)
    allowed_origins: list[str] | None = Field(
        None, max_length=MAX_ORIGINS, description="web origins that may use the key; null: any"
    )

    _origins = field_validator("allowed_origins")(_check_origins)


class ApiKeyCreate(ApiKeyBase):
    key_name: str = Field("Account API Key", min_length=1, max_length=255)


class ApiKeyUpdate(BaseModel):
    key_name: str | None = Field(None, min_length=1, max_length=255)
    is_active: bool | None = None
    allowed_origins: list[str] | None = Field(None, max_length=MAX_ORIGINS)

    _origins = field_validator("allowed_origins")(_check_origins)


class ApiKeyPublic(ApiKeyBase):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key_prefix: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def masked_key(self) -> str:
        return masked(self.key_prefix)


class ApiKeyCreated(ApiKeyPublic):
    api_key: str


class Deleted(BaseModel):
    id: int
    deleted: bool = True


class EnsureOut(BaseModel):
    key: ApiKeyPublic | ApiKeyCreated
    is_new: bool


def _owned(session: Session, user: User, key_id: int) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user.id))
    if key is None:
        raise NotFoundError(
            f"API key {key_id} not found", hint="list your keys: GET /api/v1/api-keys"
        )
    return key


def _create(
    session: Session, user: User, name: str, origins: list[str] | None = None
) -> ApiKeyCreated:
    count = session.scalar(select(func.count()).where(ApiKey.user_id == user.id)) or 0
    if count >= MAX_KEYS_PER_USER:
        raise ConflictError(
            f"you already have {MAX_KEYS_PER_USER} API keys", hint="delete keys you no longer use"
        )
    new = generate_key()
    key = ApiKey(
        user_id=user.id,
        key_name=name,
        key_hash=new.hash,
        key_prefix=new.prefix,
        allowed_origins=origins or None,
    )
    session.add(key)
    session.commit()
    public = ApiKeyPublic.model_validate(key)
    return ApiKeyCreated(**public.model_dump(exclude={"masked_key"}), api_key=new.raw)


@router.get("", response_model=Envelope[list[ApiKeyPublic]])
def list_keys(user: CurrentUser, session: SessionDep) -> Envelope[list[ApiKeyPublic]]:
    rows = session.scalars(
        select(ApiKey).where(ApiKey.user_id == user.id).order_by(ApiKey.created_at, ApiKey.id)
    )
    return ok([ApiKeyPublic.model_validate(k) for k in rows])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[ApiKeyCreated])
def create_key(
    body: ApiKeyCreate, user: CurrentUser, session: SessionDep
) -> Envelope[ApiKeyCreated]:
    created = _create(session, user, body.key_name.strip() or "API key", body.allowed_origins)
    return ok(created, "Store this API key now: it will not be shown again.")


class UserKeyOut(BaseModel):
    key: ApiKeyPublic | None
    has_key: bool


@router.get("/user-key", response_model=Envelope[UserKeyOut])
def user_key(user: CurrentUser, session: SessionDep) -> Envelope[UserKeyOut]:
    """The oldest active key, masked (keys are never shown again after creation)."""
    key = _oldest_active(session, user)
    return ok(UserKeyOut(key=ApiKeyPublic.model_validate(key) if key else None, has_key=bool(key)))


def _oldest_active(session: Session, user: User) -> ApiKey | None:
    return session.scalar(
        select(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.is_active.is_(True))
        .order_by(ApiKey.created_at, ApiKey.id)
        .limit(1)
    )


@router.post("/ensure", response_model=Envelope[EnsureOut])
def ensure_key(user: CurrentUser, session: SessionDep) -> Envelope[EnsureOut]:
    """The oldest active key (masked), or a new one (shown once) when there is none."""
    existing = _oldest_active(session, user)
    if existing is not None:
        return ok(EnsureOut(key=ApiKeyPublic.model_validate(existing), is_new=False))
    return ok(EnsureOut(key=_create(session, user, "Account API Key"), is_new=True))


class KeyShownOnceError(PromkitError):
    """The raw key cannot be shown again: only its hash is stored (HTTP 410)."""

    http_status = 410
    exit_code = 5


@router.post("/{key_id}/copy", status_code=status.HTTP_410_GONE)
def copy_key(user: CurrentUser, session: SessionDep, key_id: int = KeyId) -> None:
    """Gone: a key is shown once, at creation (the reference returned it at any time)."""
    key = _owned(session, user, key_id)
    raise KeyShownOnceError(
        f"API key {key_id} ({key.key_prefix}...) cannot be shown again:"
        " keys are shown once, at creation, and stored only as hashes",
        hint="create a new key (POST /api/v1/api-keys), use it, and delete this one"
        f" (DELETE /api/v1/api-keys/{key_id})",
    )


@router.patch("/{key_id}", response_model=Envelope[ApiKeyPublic])
def update_key(
    body: ApiKeyUpdate,
    user: CurrentUser,
    session: SessionDep,
    ctx: ContextDep,
    key_id: int = KeyId,
) -> Envelope[ApiKeyPublic]:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    if "allowed_origins" in changes:
        changes["allowed_origins"] = changes["allowed_origins"] or None
    if not changes:
        raise UsageError("no fields to update", hint="send key_name and/or is_active")
    key = _owned(session, user, key_id)
    for field, value in changes.items():
        setattr(key, field, value.strip() if isinstance(value, str) else value)
    session.commit()
    ctx.forget_key(key.key_hash)
    return ok(ApiKeyPublic.model_validate(key))


@router.delete("/{key_id}", response_model=Envelope[Deleted])
def delete_key(
    user: CurrentUser, session: SessionDep, ctx: ContextDep, key_id: int = KeyId
) -> Envelope[Deleted]:
    key = _owned(session, user, key_id)
    session.delete(key)
    session.commit()
    ctx.forget_key(key.key_hash)
    return ok(Deleted(id=key_id), "API key deleted")


__all__ = ["router"]
