"""``DELETE /api/v1/auth/account``: delete the signed-in user and everything they own.

The password confirms it (a stolen access token alone cannot erase an account). Keys are
deactivated and forgotten first, so ingestion refuses them before the rows go; then the
pending in-memory series and cached definitions are dropped and the rows deleted.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import delete, select, update

from promkit.core.errors import AuthError
from promkit.tracker.context import TrackerContext
from promkit.tracker.db import Database
from promkit.tracker.deps import ContextDep, CurrentUser
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import (
    ApiKey,
    MetricDefinition,
    PasswordReset,
    RefreshToken,
    Series,
    User,
)

log = logging.getLogger("promkit.tracker")
router = APIRouter(tags=["auth"])
OWNED = (Series, ApiKey, MetricDefinition, RefreshToken, PasswordReset)


class AccountDeleteIn(BaseModel):
    password: str = Field(min_length=1, max_length=256)


class AccountDeleted(BaseModel):
    id: int
    deleted: bool = True


def _deactivate_keys(db: Database, user_id: int) -> list[str]:
    with db.session() as session:
        hashes = list(session.scalars(select(ApiKey.key_hash).where(ApiKey.user_id == user_id)))
        session.execute(update(ApiKey).where(ApiKey.user_id == user_id).values(is_active=False))
    return hashes


def _delete_rows(db: Database, user_id: int) -> None:
    with db.session() as session:
        for model in OWNED:
            session.execute(delete(model).where(model.user_id == user_id))
        session.execute(delete(User).where(User.id == user_id))


def _forget(ctx: TrackerContext, user_id: int, key_hashes: list[str]) -> None:
    """On the event loop, between two ingestion steps: nothing of the user stays cached."""
    for key_hash in key_hashes:
        ctx.forget_key(key_hash)
    ctx.catalog.forget_definitions(user_id)
    ctx.store.drop_user(user_id)


@router.delete("/account", response_model=Envelope[AccountDeleted])
async def delete_account(
    body: AccountDeleteIn, user: CurrentUser, ctx: ContextDep
) -> Envelope[AccountDeleted]:
    """Delete your account, keys, metric configs, series and sessions (cannot be undone)."""
    if not await asyncio.to_thread(ctx.passwords.verify, body.password, user.password_hash):
        raise AuthError("the password is wrong", hint="confirm with your current password")
    user_id = user.id
    key_hashes = await asyncio.to_thread(_deactivate_keys, ctx.db, user_id)
    _forget(ctx, user_id, key_hashes)
    await asyncio.to_thread(_delete_rows, ctx.db, user_id)
    _forget(ctx, user_id, key_hashes)  # whatever an in-flight ingest added meanwhile
    log.info("account %s deleted with everything it owned", user_id)
    return ok(AccountDeleted(id=user_id), "Account deleted with its keys, metrics and sessions.")


__all__ = ["router"]
