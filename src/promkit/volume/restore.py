"""``promkit volume restore``: verify everything in a staging volume, then replace the target.

1. Resolve the version and read the encryption header: a wrong password fails here.
2. Check the target (exists or ``--create-volume``; empty, or ``--force``/confirmation).
3. Stream storage -> decrypt -> decompress -> Docker archive API into a fresh staging
   volume, verifying sizes and SHA-256 of the stored object and the tar. Any failure
   removes the staging volume; the target has not been touched.
4. Only then: stop the selected containers, empty the target (dotfiles included), copy the
   staging volume into it through the archive API (owners, modes, links, times survive),
   restart the containers, remove the staging volume.
5. Before the containers restart, read the target back through the archive API and compare
   it with what the backup holds (paths, types, sizes, SHA-256 of contents, modes, owners,
   link targets; listed while the backup streamed into staging). A difference is an
   IntegrityError naming the paths; the staging volume is then kept.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import SecretStr

from promkit.core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    PromkitError,
    UsageError,
)
from promkit.volume.archive import Progress, TarStream
from promkit.volume.compare import Entry, TarListing, differences, listing_of
from promkit.volume.containers import StoppedContainers, resolve_containers, signals_as_interrupts
from promkit.volume.engine import (
    MOUNT,
    STAGING_LABEL,
    create_volume,
    docker_errors,
    ensure_helper_image,
    get_volume,
    helper_container,
    image_has_shell,
    read_volume,
    run_helper,
    volume_exists,
    volume_is_empty,
    write_volume,
)
from promkit.volume.legacy import dvom_tar_pieces
from promkit.volume.names import Ref
from promkit.volume.repository import Repository

# Removes everything under /data, including dotfiles and names starting with "..".
WIPE = ["/bin/sh", "-c", "rm -rf /data/* /data/.[!.]* /data/..?*"]


@dataclass(frozen=True)
class RestoreRequest:
    ref: Ref
    target: str
    password: SecretStr | None = None
    create_volume: bool = False
    force: bool = False
    dry_run: bool = False
    stop_containers: Sequence[str] = field(default_factory=tuple)
    helper_image: str | None = None


@dataclass(frozen=True)
class RestorePlan:
    backup_id: str
    tar_size: int | None
    target: str
    target_exists: bool
    target_empty: bool
    containers: list[str]


@dataclass(frozen=True)
class _Source:
    """What to put into the staging volume, and where in the helper to extract it."""

    backup_id: str
    pieces: Iterable[bytes]
    extract_at: str
    tar_size: int | None = None
    driver: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


def run_restore(
    client: Any,
    repo: Repository,
    req: RestoreRequest,
    *,
    confirm: Callable[[RestorePlan], bool],
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> RestorePlan:
    manifest = repo.resolve(req.ref)
    with contextlib.closing(repo.open_data(manifest)) as data:
        stream = TarStream(data, manifest, req.password, progress)  # key check happens here
        # Backups hold "data/..." entries: extract at "/" of a helper that mounts /data.
        source = _Source(manifest.id, stream, "/", manifest.tar_size, manifest.volume_driver,
                         manifest.volume_labels)  # fmt: skip
        return _restore(client, req, source, confirm, log or (lambda _msg: None))


def run_legacy_restore(
    client: Any,
    path: Path,
    req: RestoreRequest,
    *,
    confirm: Callable[[RestorePlan], bool],
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> RestorePlan:
    """Restore a DVOM backup file (``<id>.tar.gz``, plain or DVOM-ENC v1)."""
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise NotFoundError(f"cannot open DVOM backup {path}: {exc.strerror}") from None
    with fh:
        pieces = dvom_tar_pieces(_Counting(fh, progress), req.password)
        first = next(pieces, b"")  # header, password and gzip checks before anything else
        # DVOM's tar holds "./..." entries: extract them inside the mount point.
        source = _Source(f"DVOM {path.name}", itertools.chain([first], pieces), MOUNT)
        return _restore(client, req, source, confirm, log or (lambda _msg: None))


class _Counting:
    def __init__(self, fh: BinaryIO, progress: Progress | None) -> None:
        self._fh, self._progress = fh, progress

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if self._progress and data:
            self._progress(len(data))
        return data


def _restore(
    client: Any,
    req: RestoreRequest,
    source: _Source,
    confirm: Callable[[RestorePlan], bool],
    say: Callable[[str], None],
) -> RestorePlan:
    image = ensure_helper_image(client, req.helper_image)
    exists = volume_exists(client, req.target)
    if not exists and not req.create_volume:
        raise NotFoundError(
            f"target volume {req.target!r} does not exist",
            hint="Pass --create-volume to create it.",
        )
    empty = True
    if exists:
        with helper_container(client, image, {req.target: MOUNT}, read_only=True) as probe:
            empty = volume_is_empty(probe)
    if not empty and not image_has_shell(client, image):
        raise UsageError(
            f"emptying {req.target!r} needs a helper image with /bin/sh and rm",
            hint="Install busybox-static and remove the old helper image, or pass "
            "--helper-image IMAGE (any local image with sh and rm).",
        )
    containers = resolve_containers(client, req.target, req.stop_containers)
    plan = RestorePlan(source.backup_id, source.tar_size, req.target, exists, empty,
                       [c.name for c in containers])  # fmt: skip
    if req.dry_run:
        return plan
    if not empty and not req.force and not confirm(plan):
        raise ConflictError(
            f"target volume {req.target!r} is not empty; nothing was changed",
            hint="Pass --force to replace its contents.",
        )
    with signals_as_interrupts():
        staging, expected = _stage(client, image, source, say)
        try:
            _swap(client, image, req, source, staging, expected, containers, say)
        except BaseException as exc:
            if isinstance(exc, _SwapFailedAfterWipe):
                raise exc.error from None
            _drop_volume(client, staging)
            raise
        _drop_volume(client, staging)
    return plan


class _SwapFailedAfterWipe(Exception):
    def __init__(self, error: PromkitError) -> None:
        super().__init__(error.message)
        self.error = error


def _stage(
    client: Any, image: str, source: _Source, say: Callable[[str], None]
) -> tuple[str, dict[str, Entry]]:
    """Extract the source into a new staging volume; return it and what the backup holds."""
    staging = f"promkit-staging-{secrets.token_hex(6)}"
    create_volume(client, staging, labels={STAGING_LABEL: source.backup_id.replace(" ", "_")})
    say(f"fetching and verifying {source.backup_id} into staging volume {staging}")
    # Backups hold "data/..." (extracted at "/"); DVOM tars hold "./..." (at the mount).
    listing = TarListing(source.pieces, root="data" if source.extract_at == "/" else "")
    try:
        with helper_container(client, image, {staging: MOUNT}) as helper:
            write_volume(helper, listing, at=source.extract_at)
        return staging, listing.entries
    except BaseException:
        _drop_volume(client, staging)
        raise


def _swap(
    client: Any,
    image: str,
    req: RestoreRequest,
    source: _Source,
    staging: str,
    expected: dict[str, Entry],
    containers: list[Any],
    say: Callable[[str], None],
) -> None:
    if not volume_exists(client, req.target):
        create_volume(
            client,
            req.target,
            driver=source.driver or "local",
            labels=source.labels,
        )
    with StoppedContainers(containers, log=say):
        with helper_container(client, image, {req.target: MOUNT}, read_only=True) as probe:
            empty = volume_is_empty(probe)
        if not empty:
            say(f"emptying volume {req.target}")
            run_helper(client, image, {req.target: MOUNT}, WIPE)
        try:
            with (
                helper_container(client, image, {staging: MOUNT}, read_only=True) as src,
                helper_container(client, image, {req.target: MOUNT}) as dst,
            ):
                say(f"copying staging volume into {req.target}")
                with contextlib.closing(read_volume(src)) as pieces:
                    write_volume(dst, pieces)
                say(f"checking {req.target} against the backup")
                with contextlib.closing(read_volume(dst)) as pieces:
                    actual = listing_of(pieces)
        except PromkitError as exc:
            raise _SwapFailedAfterWipe(
                type(exc)(
                    f"copying into {req.target!r} failed after it was emptied: {exc.message}",
                    hint=f"The verified data is kept in volume {staging!r}; rerun the restore "
                    "or copy it by hand.",
                )
            ) from None
        _check_target(req.target, source.backup_id, staging, expected, actual)


def _check_target(
    target: str, backup_id: str, staging: str, expected: dict[str, Entry], actual: dict[str, Entry]
) -> None:
    diffs = differences(expected, actual)
    if diffs:
        shown = "; ".join(diffs[:5]) + (f"; and {len(diffs) - 5} more" if len(diffs) > 5 else "")
        raise _SwapFailedAfterWipe(
            IntegrityError(
                f"volume {target!r} does not match {backup_id} after the restore: "
                f"{len(diffs)} path(s) differ: {shown}",
                hint=f"The restore is NOT complete. The verified data is kept in volume "
                f"{staging!r}; check the target's storage and rerun the restore.",
            )
        )


def _drop_volume(client: Any, name: str) -> None:
    with contextlib.suppress(Exception), docker_errors(f"cannot remove volume {name}"):
        get_volume(client, name).remove(force=True)
