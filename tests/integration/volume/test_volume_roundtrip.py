"""Backup and restore against the real Docker engine: exact round trips and failure safety."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import SecretStr

from promkit.core.crypto import CHECK_LEN, DEFAULT_CHUNK_SIZE, HEADER_LEN, TAG_LEN
from promkit.core.errors import (
    AuthError,
    ConflictError,
    IntegrityError,
    NotFoundError,
    UsageError,
)
from promkit.volume.backup import BackupRequest, run_backup
from promkit.volume.names import Ref
from promkit.volume.repository import Repository
from promkit.volume.restore import RestoreRequest, run_restore
from promkit.volume.verify import verify_version

from .conftest import FILL_ALL_KINDS, Volumes, never_confirm

pytestmark = pytest.mark.integration


def backup(client: Any, repo: Repository, volume: str, **kw: Any) -> Any:
    return run_backup(client, repo, BackupRequest(volume=volume, name="db", **kw))


def restore(client: Any, repo: Repository, target: str, **kw: Any) -> Any:
    ref = kw.pop("ref", Ref("db"))
    return run_restore(client, repo, RestoreRequest(ref, target, **kw), confirm=never_confirm)


@pytest.mark.parametrize("compression", ["zstd", "gzip"])
def test_volume_round_trip_keeps_every_file_kind(
    client: Any, volumes: Volumes, repo: Repository, password: SecretStr, compression: str
) -> None:
    source = volumes.new(FILL_ALL_KINDS)
    before = volumes.listing(source)
    assert "..double-dot" in before and "symbolic link" in before and " 2 " in before
    manifest = backup(client, repo, source, password=password, compression=compression)
    assert manifest.encrypted and manifest.compression == compression
    assert manifest.tar_size > 3_000_000

    target = volumes.adopt(f"{source}-restored")
    restore(client, repo, target, password=password, create_volume=True)
    assert volumes.listing(target) == before
    assert volumes.staging_volumes() == []


def test_volume_restore_replaces_non_empty_target_exactly(
    client: Any, volumes: Volumes, repo: Repository
) -> None:
    source = volumes.new()
    volumes.put(source, {"keep": b"one", "d/x": b"x"})
    backup(client, repo, source)
    target = volumes.new()
    volumes.put(target, {".old-dot": b"old", "..old": b"x", "keep": b"y", "d/old": b"z"})
    with pytest.raises(ConflictError):
        run_restore(client, repo, RestoreRequest(Ref("db"), target), confirm=lambda _p: False)
    assert any(".old-dot" in entry[0] for entry in volumes.snapshot(target))
    restore(client, repo, target, force=True)
    assert volumes.snapshot(target) == volumes.snapshot(source)


def test_volume_unencrypted_backup_stores_no_password_and_plain_data(
    client: Any, volumes: Volumes, repo: Repository
) -> None:
    source = volumes.new()
    volumes.put(source, {"f": b"plain"})
    manifest = backup(client, repo, source)
    assert not manifest.encrypted
    assert repo.storage.read_bytes(manifest.data_key)[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame
    result = verify_version(repo, manifest, None)
    assert result.entries == 2


# --------------------------------------------------------------------------- failure safety


def _tamper(repo: Repository, key: str, how: str) -> None:
    data = bytearray(repo.storage.read_bytes(key))
    body = HEADER_LEN + CHECK_LEN
    unit = DEFAULT_CHUNK_SIZE + TAG_LEN
    if how == "flip":
        data[len(data) // 2] ^= 0x40
    elif how == "truncate-chunk-boundary":
        del data[body + unit :]
    elif how == "truncate-mid":
        del data[-100:]
    elif how == "swap":
        first, second = data[body : body + unit], data[body + unit : body + 2 * unit]
        data[body : body + 2 * unit] = second + first
    repo.storage.write_bytes(key, bytes(data))


@pytest.fixture
def encrypted_backup(client: Any, volumes: Volumes, repo: Repository, password: SecretStr) -> Any:
    # Random data does not compress: the stored object spans several 1 MiB chunks.
    source = volumes.new()
    volumes.put(source, {"r": os.urandom(2600 * 1024)})
    return backup(client, repo, source, password=password)


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        ("wrong-password", AuthError),
        ("flip", IntegrityError),
        ("truncate-chunk-boundary", IntegrityError),
        ("truncate-mid", IntegrityError),
        ("swap", IntegrityError),
    ],
)
def test_volume_damaged_backup_fails_clearly_and_leaves_target_untouched(
    client: Any,
    volumes: Volumes,
    repo: Repository,
    password: SecretStr,
    encrypted_backup: Any,
    damage: str,
    error: type[Exception],
) -> None:
    target = volumes.new()
    volumes.put(target, {"db": b"precious", ".hidden": b"h"})
    before = volumes.snapshot(target)
    use = password
    if damage == "wrong-password":
        use = SecretStr("not the password")
    else:
        _tamper(repo, encrypted_backup.data_key, damage)
    with pytest.raises(error) as info:
        restore(client, repo, target, password=use, force=True)
    assert "s3cret-pass" not in str(info.value)
    assert volumes.snapshot(target) == before
    assert volumes.staging_volumes() == []


def test_volume_tampered_unencrypted_backup_is_caught_by_checksums(
    client: Any, volumes: Volumes, repo: Repository
) -> None:
    source = volumes.new()
    volumes.put(source, {"f": b"data", "z": bytes(100_000)})
    manifest = backup(client, repo, source, compression="gzip")
    blob = bytearray(repo.storage.read_bytes(manifest.data_key))
    blob[len(blob) // 2] ^= 0x01
    repo.storage.write_bytes(manifest.data_key, bytes(blob))
    target = volumes.new()
    volumes.put(target, {"k": b"keep"})
    before = volumes.snapshot(target)
    with pytest.raises(IntegrityError):
        restore(client, repo, target, force=True)
    assert volumes.snapshot(target) == before
    with pytest.raises(IntegrityError):
        verify_version(repo, manifest, None)


def test_volume_restore_preconditions_change_nothing(
    client: Any, volumes: Volumes, repo: Repository, password: SecretStr
) -> None:
    source = volumes.new()
    volumes.put(source, {"a": b"a"})
    backup(client, repo, source, password=password)
    with pytest.raises(NotFoundError, match="does not exist"):
        restore(client, repo, "pkt-missing-volume", password=password)
    with pytest.raises(UsageError, match="password"):
        restore(client, repo, source, password=None, force=True)
    with pytest.raises(NotFoundError):
        restore(client, repo, source, ref=Ref("nothing"), force=True)
    plan = restore(client, repo, "pkt-missing-volume", password=password, dry_run=True,
                   create_volume=True)  # fmt: skip
    assert not plan.target_exists
    assert "pkt-missing-volume" not in [v.name for v in client.volumes.list()]


def test_volume_backup_of_missing_volume_or_bad_name_writes_nothing(
    client: Any, repo: Repository
) -> None:
    with pytest.raises(NotFoundError):
        run_backup(client, repo, BackupRequest(volume="pkt-nope", name="db"))
    with pytest.raises(UsageError):
        run_backup(client, repo, BackupRequest(volume="pkt-nope", name="bad@name"))
    assert repo.storage.list() == []


def test_volume_helper_image_is_never_pulled(
    client: Any, volumes: Volumes, repo: Repository
) -> None:
    source = volumes.new()
    with pytest.raises(NotFoundError, match="never pulls"):
        backup(client, repo, source, helper_image="promkit-test/does-not-exist:1")
