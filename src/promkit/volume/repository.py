"""A backup repository on any ``Storage``: names, versions, manifests, deletion, retention.

Layout under the storage root::

    <name>/<version>.data    the stored stream (tar -> zstd|gzip -> optional encryption)
    <name>/<version>.json    its manifest, written only after the data object is complete

A version exists exactly when its manifest exists: an interrupted backup leaves at most a
data object without a manifest, which listings ignore and ``prune`` removes. Deleting
removes the manifest first for the same reason.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO

from promkit.core.errors import NotFoundError
from promkit.core.storage import Storage
from promkit.volume.manifest import Manifest
from promkit.volume.names import Ref, check_name, check_version, version_time
from promkit.volume.retention import Decision, RetentionPolicy, decide

DATA_SUFFIX = ".data"
MANIFEST_SUFFIX = ".json"
# Data objects without a manifest younger than this may belong to a backup still running.
ORPHAN_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class NameSummary:
    name: str
    versions: int
    latest: Manifest
    total_stored_size: int


@dataclass(frozen=True)
class PrunePlan:
    name: str
    decisions: list[Decision]
    orphans: list[str]


class Repository:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def url(self) -> str:
        return self.storage.url

    # ---------------------------------------------------------------- keys

    @staticmethod
    def data_key(name: str, version: str) -> str:
        return f"{check_name(name)}/{check_version(version)}{DATA_SUFFIX}"

    @staticmethod
    def manifest_key(name: str, version: str) -> str:
        return f"{check_name(name)}/{check_version(version)}{MANIFEST_SUFFIX}"

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def data_writer(self, name: str, version: str) -> Iterator[BinaryIO]:
        with self.storage.writer(self.data_key(name, version)) as fh:
            yield fh

    def commit(self, manifest: Manifest) -> None:
        """Publish a version: its data object must already be complete."""
        self.storage.write_bytes(
            self.manifest_key(manifest.name, manifest.version), manifest.to_json()
        )

    # ---------------------------------------------------------------- reading

    def names(self) -> list[str]:
        return sorted({o.key.split("/", 1)[0] for o in self.storage.list() if "/" in o.key})

    def version_ids(self, name: str) -> list[str]:
        """Versions of ``name`` that have a manifest, oldest first."""
        check_name(name)
        found = []
        for obj in self.storage.list(f"{name}/"):
            leaf = obj.key[len(name) + 1 :]
            if leaf.endswith(MANIFEST_SUFFIX):
                version = leaf[: -len(MANIFEST_SUFFIX)]
                with contextlib.suppress(Exception):
                    found.append(check_version(version))
        return sorted(found)

    def manifest(self, name: str, version: str) -> Manifest:
        key = self.manifest_key(name, version)
        try:
            data = self.storage.read_bytes(key)
        except NotFoundError:
            raise NotFoundError(
                f"backup {name}@{version} not found in {self.url}",
                hint=f"See `promkit volume versions {name}`.",
            ) from None
        return Manifest.from_json(data, key)

    def versions(self, name: str) -> list[Manifest]:
        """Manifests of ``name``, newest first."""
        return [self.manifest(name, v) for v in reversed(self.version_ids(name))]

    def resolve(self, ref: Ref) -> Manifest:
        if ref.version:
            return self.manifest(ref.name, ref.version)
        ids = self.version_ids(ref.name)
        if not ids:
            raise NotFoundError(
                f"no backups named {ref.name!r} in {self.url}",
                hint="See `promkit volume list`.",
            )
        return self.manifest(ref.name, ids[-1])

    def summaries(self) -> list[NameSummary]:
        out = []
        for name in self.names():
            ids = self.version_ids(name)
            if not ids:
                continue
            sizes = {o.key: o.size for o in self.storage.list(f"{name}/")}
            total = sum(sizes.get(self.data_key(name, v), 0) for v in ids)
            out.append(NameSummary(name, len(ids), self.manifest(name, ids[-1]), total))
        return out

    def open_data(self, manifest: Manifest) -> BinaryIO:
        return self.storage.open_read(manifest.data_key)

    # ---------------------------------------------------------------- deleting

    def delete_version(self, name: str, version: str) -> None:
        self.manifest(name, version)  # NotFoundError for a version that does not exist
        self.storage.delete(self.manifest_key(name, version))
        self.storage.delete(self.data_key(name, version), missing_ok=True)

    def orphans(self, name: str, now: datetime | None = None) -> list[str]:
        """Data objects of ``name`` without a manifest, older than the grace period."""
        ids = set(self.version_ids(name))
        cutoff = (now or datetime.now(UTC)) - ORPHAN_GRACE
        found = []
        for obj in self.storage.list(f"{name}/"):
            leaf = obj.key[len(name) + 1 :]
            if not leaf.endswith(DATA_SUFFIX):
                continue
            version = leaf[: -len(DATA_SUFFIX)]
            with contextlib.suppress(Exception):
                if version not in ids and version_time(version) < cutoff:
                    found.append(obj.key)
        return found

    def plan_prune(self, name: str, policy: RetentionPolicy) -> PrunePlan:
        manifests = self.versions(name)
        decisions = decide([(m.version, m.created_at) for m in manifests], policy)
        return PrunePlan(name, decisions, self.orphans(name))

    def apply_prune(self, plan: PrunePlan) -> None:
        for decision in plan.decisions:
            if not decision.keep:
                self.delete_version(plan.name, decision.version)
        for key in plan.orphans:
            self.storage.delete(key, missing_ok=True)
