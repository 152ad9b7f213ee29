"""DVOM backups (plain tar.gz and DVOM-ENC v1) restore through ``--legacy-dvom``."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from pydantic import SecretStr

from promkit.core.errors import AuthError
from promkit.volume.names import Ref
from promkit.volume.restore import RestoreRequest, run_legacy_restore

from .conftest import Volumes, never_confirm

pytestmark = pytest.mark.integration


def dvom_tar_gz(files: dict[str, bytes]) -> bytes:
    """What DVOM's ``tar czf - -C /data .`` produces: relative ``./`` entries."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        root = tarfile.TarInfo(".")
        root.type, root.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(root)
        for name, data in files.items():
            info = tarfile.TarInfo(f"./{name}")
            info.size, info.mode, info.uid = len(data), 0o640, 1234
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def dvom_encrypt(plain: bytes, password: str) -> bytes:
    """DVOM-ENC v1 as documented in the reference study (64 KiB chunks, nonce XOR counter)."""
    salt, nonce = os.urandom(32), os.urandom(12)
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100_000)
    aead = AESGCM(kdf.derive(password.encode()))
    out = [b"DVOM-ENC", b"\x01", salt, nonce]
    for i, start in enumerate(range(0, len(plain), 64 * 1024)):
        low = int.from_bytes(nonce[4:], "big") ^ i
        out.append(
            aead.encrypt(nonce[:4] + low.to_bytes(8, "big"), plain[start : start + 65536], None)
        )
    return b"".join(out)


@pytest.mark.parametrize("encrypted", [True, False])
def test_volume_legacy_dvom_backup_restores(
    client: Any, volumes: Volumes, tmp_path: Path, encrypted: bool
) -> None:
    files = {"db.bin": os.urandom(200_000), ".hidden": b"h"}
    blob = dvom_tar_gz(files)
    if encrypted:
        blob = dvom_encrypt(blob, "dvom-pass")
    path = tmp_path / "db@20250101-120000.tar.gz"
    path.write_bytes(blob)
    target = volumes.adopt(f"pkt-legacy-{os.urandom(3).hex()}")
    req = RestoreRequest(Ref("dvom"), target, SecretStr("dvom-pass"), create_volume=True)
    run_legacy_restore(client, path, req, confirm=never_confirm)
    snap = {entry[0]: entry for entry in volumes.snapshot(target)}
    assert set(snap) == {"data", "data/db.bin", "data/.hidden"}
    assert snap["data/db.bin"][2] == 1234


def test_volume_legacy_dvom_wrong_password_changes_nothing(
    client: Any, volumes: Volumes, tmp_path: Path
) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_bytes(dvom_encrypt(dvom_tar_gz({"a": b"a" * 1000}), "right"))
    target = volumes.new()
    volumes.put(target, {"keep": b"k"})
    before = volumes.snapshot(target)
    req = RestoreRequest(Ref("dvom"), target, SecretStr("wrong"), force=True)
    with pytest.raises(AuthError):
        run_legacy_restore(client, path, req, confirm=never_confirm)
    assert volumes.snapshot(target) == before
