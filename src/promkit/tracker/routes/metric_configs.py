"""``/api/v1/metric-configs``: metric definitions (name, type, labels, buckets, help, status).

Only defined, active metrics are accepted at ingestion. Changing a definition's type, name
or buckets resets its stored series (old samples would not fit the new shape).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from promkit.core.errors import ConflictError, NotFoundError, UsageError
from promkit.tracker.deps import ContextDep, CurrentUser, SessionDep
from promkit.tracker.envelope import Envelope, ok
from promkit.tracker.ingestion import key_info
from promkit.tracker.models import MetricDefinition, Series, User
from promkit.tracker.naming import (
    DEFAULT_BUCKETS,
    check_buckets,
    check_label_name,
    check_metric_name,
    metric_name_from_title,
)

router = APIRouter(prefix="/api/v1/metric-configs", tags=["metric-configs"])
ConfigId = Path(ge=1, le=2**31 - 1)
MetricType = Literal["counter", "gauge", "histogram", "summary"]
Status = Literal["active", "paused", "draft"]
MAX_LABELS = 10  # hard ceiling; settings.max_labels_per_metric may lower it


class LabelSpec(BaseModel):
    """A label samples may carry, with an optional default value."""

    name: str = Field(min_length=1, max_length=100)
    value: str | None = Field(None, max_length=128)

    _name = field_validator("name")(check_label_name)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _check_labels(labels: list[LabelSpec] | None) -> list[LabelSpec] | None:
    if labels is None:
        return None
    names = [label.name for label in labels]
    if len(set(names)) != len(names):
        raise ValueError("label names must be unique")
    return labels


class MetricConfigBase(BaseModel):
    description: str | None = Field(None, max_length=2000)
    help_text: str | None = Field(None, max_length=1000)


class MetricConfigCreate(MetricConfigBase):
    name: str = Field(min_length=1, max_length=255)
    metric_type: MetricType
    metric_name: str | None = Field(None, min_length=1, max_length=150)
    labels: list[LabelSpec] = Field(default_factory=list, max_length=MAX_LABELS)
    buckets: list[float] | None = Field(None, max_length=40)
    status: Status = "active"

    _type = field_validator("metric_type", mode="before")(_lower)
    _labels = field_validator("labels")(_check_labels)
    _metric_name = field_validator("metric_name")(
        lambda v: check_metric_name(v) if v is not None else v
    )
    _buckets = field_validator("buckets")(lambda v: check_buckets(v) if v is not None else v)

    @model_validator(mode="after")
    def _derive(self) -> MetricConfigCreate:
        self.name = self.name.strip()
        if not self.name:
            raise ValueError("name must not be blank")
        self.metric_name = check_metric_name(self.metric_name or metric_name_from_title(self.name))
        if self.buckets is not None:
            if self.metric_type != "histogram":
                raise ValueError("buckets are only for histograms")
        elif self.metric_type == "histogram":
            self.buckets = list(DEFAULT_BUCKETS)
        return self


class MetricConfigUpdate(MetricConfigBase):
    name: str | None = Field(None, min_length=1, max_length=255)
    metric_type: MetricType | None = None
    metric_name: str | None = Field(None, min_length=1, max_length=150)
    labels: list[LabelSpec] | None = Field(None, max_length=MAX_LABELS)
    buckets: list[float] | None = Field(None, max_length=40)
    status: Status | None = None

    _type = field_validator("metric_type", mode="before")(_lower)
    _labels = field_validator("labels")(_check_labels)
    _metric_name = field_validator("metric_name")(
        lambda v: check_metric_name(v) if v is not None else v
    )
    _buckets = field_validator("buckets")(lambda v: check_buckets(v) if v is not None else v)


class MetricConfigPublic(MetricConfigBase):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    metric_type: MetricType
    metric_name: str
    labels: list[LabelSpec]
    buckets: list[float] | None
    status: Status
    created_at: datetime
    updated_at: datetime


class Deleted(BaseModel):
    id: int
    deleted: bool = True


def _owned(session: Session, user: User, config_id: int) -> MetricDefinition:
    row = session.scalar(
        select(MetricDefinition).where(
            MetricDefinition.id == config_id, MetricDefinition.user_id == user.id
        )
    )
    if row is None:
        raise NotFoundError(
            f"metric config {config_id} not found", hint="list them: GET /api/v1/metric-configs"
        )
    return row


def _check_label_count(ctx: ContextDep, labels: list[LabelSpec] | None) -> None:
    limit = ctx.settings.max_labels_per_metric
    if labels is not None and len(labels) > limit:
        raise UsageError(f"a metric may have at most {limit} labels", hint="drop some labels")


def _commit_or_conflict(session: Session, metric_name: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ConflictError(
            f"you already have a metric named {metric_name!r}",
            hint="pick another metric_name or edit the existing config",
        ) from None


def _drop_series(session: Session, user_id: int, metric_name: str) -> None:
    session.execute(
        delete(Series).where(Series.user_id == user_id, Series.metric_name == metric_name)
    )


@router.get("", response_model=Envelope[list[MetricConfigPublic]])
def list_configs(user: CurrentUser, session: SessionDep) -> Envelope[list[MetricConfigPublic]]:
    rows = session.scalars(
        select(MetricDefinition)
        .where(MetricDefinition.user_id == user.id)
        .order_by(MetricDefinition.created_at.desc(), MetricDefinition.id.desc())
    )
    return ok([MetricConfigPublic.model_validate(r) for r in rows])


class KeyedDefinition(BaseModel):
    type: MetricType
    labels: dict[str, str | None]


@router.get("/by-api-key", response_model=Envelope[dict[str, KeyedDefinition]])
async def by_api_key(
    request: Request,
    ctx: ContextDep,
    x_api_key: Annotated[str | None, Header(max_length=200)] = None,
    api_key: Annotated[str | None, Query(max_length=200)] = None,
) -> Envelope[dict[str, KeyedDefinition]]:
    """The key owner's active metrics for SDKs: ``{metric_name: {type, labels}}``."""
    info = await key_info(ctx, x_api_key or api_key, request.headers.get("origin"))
    definitions = ctx.catalog.cached_definitions(info.user_id)
    if definitions is None:
        definitions = await asyncio.to_thread(ctx.catalog.load_definitions, info.user_id)
    return ok(
        {
            d.metric_name: KeyedDefinition(type=d.metric_type, labels=dict(d.labels))
            for d in definitions.values()
            if d.status == "active"
        }
    )


@router.get("/{config_id}", response_model=Envelope[MetricConfigPublic])
def get_config(
    user: CurrentUser, session: SessionDep, config_id: int = ConfigId
) -> Envelope[MetricConfigPublic]:
    return ok(MetricConfigPublic.model_validate(_owned(session, user, config_id)))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Envelope[MetricConfigPublic])
def create_config(
    body: MetricConfigCreate, user: CurrentUser, session: SessionDep, ctx: ContextDep
) -> Envelope[MetricConfigPublic]:
    _check_label_count(ctx, body.labels)
    count = session.scalar(select(func.count()).where(MetricDefinition.user_id == user.id)) or 0
    if count >= ctx.settings.max_metrics_per_user:
        raise ConflictError(
            f"you already have {count} metric configs (the limit)",
            hint="delete configs you no longer use",
        )
    assert body.metric_name is not None  # filled by the model validator
    row = MetricDefinition(
        user_id=user.id,
        name=body.name,
        description=body.description,
        metric_type=body.metric_type,
        metric_name=body.metric_name,
        labels=[label.model_dump() for label in body.labels],
        buckets=body.buckets,
        help_text=body.help_text,
        status=body.status,
    )
    session.add(row)
    _commit_or_conflict(session, body.metric_name)
    ctx.forget_definitions(user.id)
    return ok(MetricConfigPublic.model_validate(row))


@router.patch("/{config_id}", response_model=Envelope[MetricConfigPublic])
def update_config(
    body: MetricConfigUpdate,
    user: CurrentUser,
    session: SessionDep,
    ctx: ContextDep,
    config_id: int = ConfigId,
) -> Envelope[MetricConfigPublic]:
    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "metric_type", "metric_name", "status", "labels"):
        if field in changes and changes[field] is None:
            raise UsageError(f"{field} cannot be null", hint=f"omit {field} to keep it")
    if not changes:
        raise UsageError("no fields to update", hint="send at least one field")
    _check_label_count(ctx, body.labels)
    row = _owned(session, user, config_id)
    new_type = changes.get("metric_type", row.metric_type)
    if new_type == "histogram":
        if changes.get("buckets") is None and row.buckets is None:
            changes["buckets"] = list(DEFAULT_BUCKETS)
    elif changes.get("buckets") is not None:
        raise UsageError("buckets are only for histograms", hint="omit buckets")
    else:
        changes["buckets"] = None
    reshaped = any(
        field in changes and changes[field] != getattr(row, field)
        for field in ("metric_type", "metric_name", "buckets")
    )
    old_name = row.metric_name
    if reshaped:
        _drop_series(session, user.id, old_name)
    for field, value in changes.items():
        if field == "name":
            value = value.strip()
        setattr(row, field, value)
    _commit_or_conflict(session, row.metric_name)
    ctx.forget_definitions(user.id, old_name if reshaped else None)
    return ok(MetricConfigPublic.model_validate(row))


@router.delete("/{config_id}", response_model=Envelope[Deleted])
def delete_config(
    user: CurrentUser, session: SessionDep, ctx: ContextDep, config_id: int = ConfigId
) -> Envelope[Deleted]:
    row = _owned(session, user, config_id)
    _drop_series(session, user.id, row.metric_name)
    session.delete(row)
    session.commit()
    ctx.forget_definitions(user.id, row.metric_name)
    return ok(Deleted(id=config_id), "metric config deleted")


__all__ = ["router"]
