"""``promkit volume verify``: read a version end to end without touching any volume."""

from __future__ import annotations

import contextlib
import io
import tarfile
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import SecretStr

from promkit.core.errors import IntegrityError
from promkit.volume.archive import Progress, TarStream
from promkit.volume.manifest import Manifest
from promkit.volume.repository import Repository


@dataclass(frozen=True)
class VerifyResult:
    id: str
    entries: int
    tar_size: int
    stored_size: int

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": True}


class _Pieces(io.RawIOBase):
    def __init__(self, stream: TarStream) -> None:
        self._it = iter(stream)
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buf:
            try:
                self._buf = memoryview(next(self._it))
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def verify_version(
    repo: Repository,
    manifest: Manifest,
    password: SecretStr | None,
    *,
    progress: Progress | None = None,
) -> VerifyResult:
    """Decrypt, decompress, check both SHA-256 and sizes, and walk every tar header."""
    with contextlib.closing(repo.open_data(manifest)) as source:
        stream = TarStream(source, manifest, password, progress)
        pieces = _Pieces(stream)
        entries = 0
        try:
            with tarfile.open(fileobj=io.BufferedReader(pieces, 1 << 20), mode="r|") as tar:
                for _member in tar:
                    entries += 1
        except tarfile.TarError as exc:
            raise IntegrityError(
                f"backup {manifest.id}: the archive is not a valid tar ({exc})"
            ) from None
        # Drain to the end so the checksums are compared even after the tar's end marker.
        while pieces.read(1 << 20):
            pass
    return VerifyResult(manifest.id, entries, stream.tar_size, manifest.stored_size)
