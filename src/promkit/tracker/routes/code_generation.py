"""``POST /api/v1/code-generation``: the snippet (under 300 bytes) plus framework wrappers.

Keys are stored hashed, so the server cannot put an existing key back into a snippet:
pass the key you saved when creating it, or send none and a new key is created for the
snippet (and shown once, in this answer).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from promkit.core.errors import AuthError, UsageError
from promkit.tracker.apikeys import generate_key, key_hash, looks_like_key
from promkit.tracker.deps import ContextDep, CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.models import ApiKey, MetricDefinition
from promkit.tracker.routes.auth import mark_onboarded
from promkit.tracker.routes.tracker_script import base_url
from promkit.tracker.snippet import snippet, wrappers

router = APIRouter(prefix="/api/v1/code-generation", tags=["snippet"])


class CodeGenerationIn(BaseModel):
    api_key: str | None = Field(None, max_length=200, description="a key you own (raw)")
    auto_track: bool = True
    custom_events: bool = True


class MetricRef(BaseModel):
    id: int
    name: str
    metric_name: str
    metric_type: str
    status: str


class CodeGenerationOut(BaseModel):
    code: str
    bytes: int
    html: str
    react: str
    vue: str
    apiKeyId: int
    api_key: str | None = Field(None, description="only when a new key was created")
    metricConfigs: list[MetricRef]
    note: str


@router.post("", response_model=Envelope[CodeGenerationOut])
def generate(
    body: CodeGenerationIn,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    ctx: ContextDep,
) -> Envelope[CodeGenerationOut]:
    created: str | None = None
    if body.api_key is not None:
        if not looks_like_key(body.api_key):
            raise UsageError("api_key is not an mk_ key", hint="paste the full key, mk_ + 64 hex")
        key = session.scalar(
            select(ApiKey).where(
                ApiKey.key_hash == key_hash(body.api_key), ApiKey.user_id == user.id
            )
        )
        if key is None or not key.is_active:
            raise AuthError("API key not found or inactive", hint="use one of your active keys")
        raw = body.api_key
    else:
        new = generate_key()
        key = ApiKey(
            user_id=user.id, key_name="Website snippet", key_hash=new.hash, key_prefix=new.prefix
        )
        session.add(key)
        session.commit()
        raw = created = new.raw
    code = snippet(
        base_url(request, ctx.settings.public_url), raw, body.auto_track, body.custom_events
    )
    configs = session.scalars(
        select(MetricDefinition)
        .where(MetricDefinition.user_id == user.id)
        .order_by(MetricDefinition.metric_name)
    )
    mark_onboarded(session, user)
    wrapped = wrappers(code)
    note = "Paste the html snippet before </body>. Only active metric configs are tracked."
    if created:
        note += " A new API key was created for this snippet: it is not shown again."
    return ok(
        CodeGenerationOut(
            code=code,
            bytes=len(code.encode()),
            html=wrapped.html,
            react=wrapped.react,
            vue=wrapped.vue,
            apiKeyId=key.id,
            api_key=created,
            metricConfigs=[
                MetricRef(
                    id=c.id,
                    name=c.name,
                    metric_name=c.metric_name,
                    metric_type=c.metric_type,
                    status=c.status,
                )
                for c in configs
            ],
            note=note,
        )
    )


__all__ = ["router"]
