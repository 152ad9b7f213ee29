"""Restore reads the target back after copying and compares it with the backup (real Docker)."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable
from typing import Any

import pytest

from promkit.core.errors import IntegrityError
from promkit.volume import engine
from promkit.volume import restore as restore_module
from promkit.volume.backup import BackupRequest, run_backup
from promkit.volume.names import Ref
from promkit.volume.repository import Repository
from promkit.volume.restore import RestoreRequest, run_restore

from .conftest import FILL_ALL_KINDS, Volumes, never_confirm

pytestmark = pytest.mark.integration


def test_volume_restore_check_passes_a_faithful_copy(
    client: Any, volumes: Volumes, repo: Repository
) -> None:
    source = volumes.new(FILL_ALL_KINDS)
    run_backup(client, repo, BackupRequest(volume=source, name="db"))
    target = volumes.adopt(f"{source}-restored")
    said: list[str] = []
    run_restore(client, repo, RestoreRequest(Ref("db"), target, create_volume=True),
                confirm=never_confirm, log=said.append)  # fmt: skip
    assert f"checking {target} against the backup" in said
    assert volumes.listing(target) == volumes.listing(source)
    assert volumes.staging_volumes() == []


def _extra_file(name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"data/{name}")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    return buf.getvalue()


def test_volume_restore_check_fails_when_the_target_differs(
    client: Any, volumes: Volumes, repo: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy that goes wrong (here: one that also writes stray files and overwrites one)
    is an IntegrityError naming the paths, and the verified staging volume is kept."""
    source = volumes.new()
    volumes.put(source, {"a": b"a", "b": b"b"})
    run_backup(client, repo, BackupRequest(volume=source, name="db"))
    real_write = engine.write_volume
    calls: list[int] = []

    def faulty_write(container: Any, chunks: Iterable[bytes], *, at: str = "/") -> None:
        real_write(container, chunks, at=at)
        calls.append(1)
        if len(calls) == 2:  # 1: backup -> staging, 2: staging -> target
            for name in ("stray-1", "stray-2", "a"):
                assert container.put_archive("/", _extra_file(name))

    monkeypatch.setattr(restore_module, "write_volume", faulty_write)
    target = volumes.adopt(f"{source}-restored")
    with pytest.raises(IntegrityError) as caught:
        run_restore(client, repo, RestoreRequest(Ref("db"), target, create_volume=True),
                    confirm=never_confirm)  # fmt: skip
    err = caught.value
    assert err.exit_code != 0
    assert "3 path(s) differ" in err.message
    assert "a: size 1 in the backup, 3 in the volume" in err.message
    assert "stray-1: in the volume but not in the backup" in err.message
    staging = volumes.staging_volumes()
    assert len(staging) == 1 and err.hint and staging[0] in err.hint
    for name in staging:
        volumes.adopt(name)
