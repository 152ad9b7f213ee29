"""What ingestion needs to know about keys and definitions, cached briefly per instance.

Ingestion is the hot path: it must not hit the database for every batch. API keys and a
user's metric definitions are cached for ``ttl`` seconds; changes made through this
instance's API drop the entry at once, changes made through another instance are seen
within ``ttl``. Unknown keys are cached too, so random keys cannot hammer the database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from promkit.tracker.db import Database
from promkit.tracker.models import ApiKey, MetricDefinition


@dataclass(frozen=True)
class KeyInfo:
    key_id: int
    user_id: int
    active: bool
    origins: frozenset[str] | None = None  # None or empty: any origin


@dataclass(frozen=True)
class Definition:
    metric_name: str
    metric_type: str
    status: str
    labels: tuple[tuple[str, str | None], ...]  # (name, default)
    buckets: tuple[float, ...] | None
    help_text: str | None
    label_names: frozenset[str] = field(init=False)
    defaults: tuple[tuple[str, str], ...] = field(init=False)  # non-empty defaults only
    # Resolved label sets by the raw (name, value) pairs of all-string labels; ingestion
    # sees the same few label sets over and over (see ingestion.resolve_labels).
    resolved: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = field(
        init=False, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "label_names", frozenset(name for name, _ in self.labels))
        defaults = tuple(sorted((name, value) for name, value in self.labels if value))
        object.__setattr__(self, "defaults", defaults)
        object.__setattr__(self, "resolved", {})

    @classmethod
    def from_row(cls, row: MetricDefinition) -> Definition:
        labels: list[dict[str, Any]] = row.labels or []
        return cls(
            metric_name=row.metric_name,
            metric_type=row.metric_type,
            status=row.status,
            labels=tuple((str(label["name"]), label.get("value")) for label in labels),
            buckets=tuple(row.buckets) if row.buckets else None,
            help_text=row.help_text,
        )


class Catalog:
    def __init__(self, db: Database, ttl: float = 5.0) -> None:
        self._db = db
        self.ttl = ttl
        self._keys: dict[str, tuple[float, KeyInfo | None]] = {}
        self._definitions: dict[int, tuple[float, dict[str, Definition]]] = {}

    def cached_key(self, key_hash: str) -> tuple[bool, KeyInfo | None]:
        """(hit, info) without touching the database."""
        entry = self._keys.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def load_key(self, key_hash: str) -> KeyInfo | None:
        """Read a key from the database (blocking: call it in a thread) and cache it."""
        with self._db.session() as session:
            row = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))
            info = (
                KeyInfo(row.id, row.user_id, row.is_active, frozenset(row.allowed_origins or ()))
                if row is not None
                else None
            )
        if len(self._keys) > 50_000:
            self._keys.clear()
        self._keys[key_hash] = (time.monotonic() + self.ttl, info)
        return info

    def forget_key(self, key_hash: str) -> None:
        self._keys.pop(key_hash, None)

    def cached_definitions(self, user_id: int) -> dict[str, Definition] | None:
        entry = self._definitions.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def load_definitions(self, user_id: int) -> dict[str, Definition]:
        """Read a user's definitions (blocking) and cache them."""
        with self._db.session() as session:
            rows = session.scalars(
                select(MetricDefinition).where(MetricDefinition.user_id == user_id)
            ).all()
            definitions = {row.metric_name: Definition.from_row(row) for row in rows}
        self._definitions[user_id] = (time.monotonic() + self.ttl, definitions)
        return definitions

    def forget_definitions(self, user_id: int) -> None:
        self._definitions.pop(user_id, None)


__all__ = ["Catalog", "Definition", "KeyInfo"]
