"""Read what ``promkit import`` accepts, streaming and with checks.

Inputs:

- promkit bundles (``docs/bundle-format.md``): ZIP with ``metrics.jsonl`` and a
  ``metadata.json`` that carries the SHA-256 of ``metrics.jsonl``;
- vmgather bundles: ZIP with ``metrics.jsonl``, ``metadata.json`` (no checksum), README;
- any other ZIP that holds a ``*.jsonl`` of VictoriaMetrics JSON lines;
- plain ``.jsonl`` and gzip-compressed ``.jsonl.gz`` files.

Checks: a ``<file>.sha256`` beside the input (``sha256sum`` format) is verified before
anything is read; the SHA-256 in ``metadata.json`` is verified while ``metrics.jsonl``
streams and a mismatch raises ``IntegrityError`` at the end of the stream. Nothing is ever
extracted to disk; decompression is bounded by ``ReadLimits`` (absolute size and, once past a
few MiB, the ratio to the compressed size), so a zip or gzip bomb fails early with a clear
error instead of filling memory or disk.
"""

from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import orjson

from promkit.core.errors import DataError, IntegrityError, NotFoundError, PromkitError
from promkit.core.series import decode_line

__all__ = [
    "BundleInfo",
    "BundleKind",
    "BundleReader",
    "ReadLimits",
    "open_bundle",
]

_CHUNK = 1 << 20
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_LINES = 20
_MAX_SCHEMA = 1


class BundleKind(StrEnum):
    PROMKIT = "promkit"
    VMGATHER = "vmgather"
    ZIP = "zip"
    JSONL = "jsonl"
    JSONL_GZ = "jsonl.gz"


@dataclass(frozen=True)
class ReadLimits:
    """Decompression bounds. ``max_ratio`` applies once ``ratio_grace_bytes`` were read."""

    max_bytes: int = 256 << 30
    max_ratio: float = 250.0
    ratio_grace_bytes: int = 64 << 20


@dataclass(frozen=True)
class BundleInfo:
    """What an input is, before any line is read."""

    path: Path
    kind: BundleKind
    member: str | None
    file_bytes: int
    declared_bytes: int | None
    metadata: dict[str, Any] = field(default_factory=dict)
    expected_sha256: str | None = None
    checks: tuple[str, ...] = ()
    sidecar_verified: bool = False

    @property
    def export_id(self) -> str | None:
        value = self.metadata.get("export_id")
        return str(value) if value else None

    @property
    def time_range_ms(self) -> tuple[int, int] | None:
        tr = self.metadata.get("time_range")
        if isinstance(tr, dict) and isinstance(tr.get("start_ms"), int):
            end = tr.get("end_ms")
            if isinstance(end, int):
                return tr["start_ms"], end
        return None

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind.value,
            "member": self.member,
            "file_bytes": self.file_bytes,
            "declared_bytes": self.declared_bytes,
            "export_id": self.export_id,
            "checksum": self.expected_sha256 is not None,
            "checks": list(self.checks),
        }


def _foreign(path: Path, why: str) -> DataError:
    return DataError(
        f"{path.name} is not a metrics bundle: {why}",
        hint="promkit import reads promkit/vmgather bundles (.zip), .jsonl and .jsonl.gz files "
        "of VictoriaMetrics JSON lines",
    )


def _verify_sidecar(path: Path) -> str | None:
    sidecar = path.with_name(path.name + ".sha256")
    if not sidecar.is_file():
        return None
    try:
        text = sidecar.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DataError(f"cannot read {sidecar.name}: {exc.strerror}") from None
    words = text.split()
    expected = words[0].lower() if words else ""
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise DataError(
            f"{sidecar.name} is not a sha256sum line",
            hint="expected '<64 hex digits>  <file name>'; delete it to import without the check",
        )
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise IntegrityError(
            f"{path.name} does not match its checksum file {sidecar.name}",
            hint="the file is damaged or was changed; download or copy it again",
        )
    return f"file sha256 verified against {sidecar.name}"


def _parse_metadata(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        meta = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DataError(
            f"metadata.json in {path.name} is not valid JSON",
            hint="the bundle is damaged; ask for a new one",
        ) from None
    if not isinstance(meta, dict):
        raise DataError(f"metadata.json in {path.name} is not a JSON object")
    version = meta.get("schema_version")
    if isinstance(version, int) and version > _MAX_SCHEMA:
        raise DataError(
            f"{path.name} uses bundle schema {version}; this promkit reads up to {_MAX_SCHEMA}",
            hint="upgrade promkit to import this bundle",
        )
    return meta


def _looks_like_series(sample: bytes) -> bool:
    for line in sample.splitlines()[:_SNIFF_LINES]:
        if not line.strip():
            continue
        try:
            decode_line(line)
        except PromkitError:
            return False
        return True
    return False


def _sniff(fh: IO[bytes], limit: int = 256 << 10) -> bytes:
    data = fh.read(limit)
    cut = data.rfind(b"\n")
    return data if cut < 0 else data[:cut]


def _open_zip(path: Path) -> tuple[BundleKind, str, int | None, dict[str, Any], str | None]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"{path.name} is a damaged ZIP file: {exc}",
            hint="the download was probably cut short; copy the bundle again",
        ) from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        by_name = {i.filename.lower(): i for i in infos}
        member = by_name.get("metrics.jsonl")
        if member is None:
            for info in infos:
                if info.filename.lower().endswith(".jsonl"):
                    try:
                        with zf.open(info) as fh:
                            head = _sniff(fh)
                    except (zipfile.BadZipFile, zlib.error, RuntimeError, OSError):
                        continue
                    if _looks_like_series(head):
                        member = info
                        break
        if member is None:
            raise _foreign(path, "the ZIP holds no metrics.jsonl (VictoriaMetrics JSON lines)")
        if member.flag_bits & 0x1:
            raise DataError(f"{member.filename} in {path.name} is encrypted")
        meta: dict[str, Any] = {}
        meta_info = by_name.get("metadata.json")
        if meta_info is not None:
            if meta_info.file_size > 16 << 20:
                raise _foreign(path, "metadata.json is larger than 16 MiB")
            try:
                meta = _parse_metadata(path, zf.read(meta_info))
            except (zipfile.BadZipFile, zlib.error) as exc:
                raise IntegrityError(f"metadata.json in {path.name} is damaged: {exc}") from None
        if meta.get("tool") == "promkit" or "promkit_version" in meta:
            kind = BundleKind.PROMKIT
        elif "vmgather_version" in meta or "metrics_count" in meta:
            kind = BundleKind.VMGATHER
        else:
            kind = BundleKind.ZIP
        sha = meta.get("metrics_sha256") if member.filename == "metrics.jsonl" else None
        expected = sha.lower() if isinstance(sha, str) and len(sha) == 64 else None
        return kind, member.filename, member.file_size, meta, expected


def open_bundle(path: Path | str, *, limits: ReadLimits | None = None) -> BundleReader:
    """Identify ``path`` and check what can be checked up front (sidecar, ZIP directory,
    metadata, first line). Raises ``NotFoundError``, ``DataError`` or ``IntegrityError``."""
    p = Path(path)
    lim = limits or ReadLimits()
    if not p.is_file():
        raise NotFoundError(f"no such bundle: {p}", hint="check the path")
    size = p.stat().st_size
    if size == 0:
        raise _foreign(p, "the file is empty")
    checks: list[str] = []
    sidecar = _verify_sidecar(p)
    if sidecar:
        checks.append(sidecar)
    with p.open("rb") as fh:
        magic = fh.read(4)
    member: str | None = None
    declared: int | None = None
    meta: dict[str, Any] = {}
    expected: str | None = None
    if magic in _ZIP_MAGIC:
        kind, member, declared, meta, expected = _open_zip(p)
        if declared is not None and declared > lim.max_bytes:
            raise DataError(
                f"{member} in {p.name} claims {declared} bytes, over the limit of {lim.max_bytes}",
                hint="this looks like a zip bomb; raise the limit only for a trusted file",
            )
        if expected:
            checks.append("metrics.jsonl sha256 from metadata.json (verified while reading)")
    elif magic[:2] == _GZIP_MAGIC:
        kind = BundleKind.JSONL_GZ
        with p.open("rb") as fh:  # ISIZE: the size mod 4 GiB, good enough for progress
            fh.seek(-4, 2)
            declared = int.from_bytes(fh.read(4), "little") or None
    else:
        kind = BundleKind.JSONL
    info = BundleInfo(
        p, kind, member, size, declared, meta, expected, tuple(checks), sidecar is not None
    )
    reader = BundleReader(info, lim)
    if kind in (BundleKind.JSONL, BundleKind.JSONL_GZ):
        gen = reader.chunks()
        try:
            head = next(gen, b"")[: 256 << 10]
        finally:
            gen.close()
        cut = head.rfind(b"\n")
        if not _looks_like_series(head if cut < 0 else head[:cut]):
            raise _foreign(p, "the first lines are not VictoriaMetrics JSON lines")
    return reader


class BundleReader:
    """Streams the decompressed JSON lines of one input (any number of times)."""

    def __init__(self, info: BundleInfo, limits: ReadLimits) -> None:
        self.info = info
        self.limits = limits
        self.bytes_read = 0
        self.verified = False

    def _raw(self) -> Iterator[bytes]:
        info = self.info
        try:
            if info.kind in (BundleKind.PROMKIT, BundleKind.VMGATHER, BundleKind.ZIP):
                with zipfile.ZipFile(info.path) as zf, zf.open(info.member or "") as fh:
                    while block := fh.read(_CHUNK):
                        yield block
            elif info.kind is BundleKind.JSONL_GZ:
                with gzip.open(info.path, "rb") as gz:
                    while block := gz.read(_CHUNK):
                        yield block
            else:
                with info.path.open("rb") as fh:
                    while block := fh.read(_CHUNK):
                        yield block
        except zipfile.BadZipFile as exc:
            raise IntegrityError(
                f"{info.path.name} is damaged: {exc}", hint="copy the bundle again"
            ) from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataError(
                f"{info.path.name} is not a complete gzip/zip stream: {exc}",
                hint="the file was cut short or is damaged; copy it again",
            ) from None
        except OSError as exc:
            raise DataError(f"cannot read {info.path.name}: {exc.strerror or exc}") from None

    def chunks(self) -> Generator[bytes, None, None]:
        """Decompressed bytes from the start; checks the limits as it goes and the SHA-256
        (when known) at the end."""
        lim = self.limits
        digest = hashlib.sha256() if self.info.expected_sha256 else None
        total = 0
        compressed = max(self.info.file_bytes, 1)
        for block in self._raw():
            total += len(block)
            if total > lim.max_bytes:
                raise DataError(
                    f"{self.info.path.name} decompresses to more than {lim.max_bytes} bytes",
                    hint="this looks like a zip bomb; raise the limit only for a trusted file",
                )
            if total > lim.ratio_grace_bytes and total / compressed > lim.max_ratio:
                raise DataError(
                    f"{self.info.path.name} decompresses more than {lim.max_ratio:g}x its size "
                    "(a zip bomb?)",
                    hint="this looks like a zip bomb; real metric bundles compress about 5-20x",
                )
            if digest is not None:
                digest.update(block)
            self.bytes_read = total
            yield block
        if digest is not None:
            if digest.hexdigest() != self.info.expected_sha256:
                raise IntegrityError(
                    f"metrics.jsonl in {self.info.path.name} does not match the SHA-256 in "
                    "metadata.json",
                    hint="the bundle is damaged or was edited; ask for a new one",
                )
            self.verified = True

    def lines(self, start_offset: int = 0) -> Iterator[tuple[bytes, int]]:
        """``(line, offset after it)`` for every non-blank line starting at or after
        ``start_offset`` (a line boundary from an earlier run). The bytes before it are still
        read, so the checksum covers the whole file."""
        offset = 0
        pending = b""
        for block in self.chunks():
            data = pending + block if pending else block
            start = 0
            while True:
                nl = data.find(b"\n", start)
                if nl < 0:
                    break
                line_end = offset + nl + 1
                if line_end > start_offset:
                    line = data[start:nl]
                    if line.endswith(b"\r"):
                        line = line[:-1]
                    if line and not line.isspace():
                        yield line, line_end
                start = nl + 1
            offset += start
            pending = data[start:]
        if pending.strip() and offset + len(pending) > start_offset:
            yield pending.rstrip(b"\r"), offset + len(pending)

    def blocks(self) -> Iterator[tuple[bytes, int]]:
        """``(block, offset of its first byte)``: the stream cut after the last newline of
        each decompressed chunk, so every block holds whole lines (the last one may lack
        its newline at the end of the file)."""
        offset = 0
        pending = b""
        for block in self.chunks():
            data = pending + block if pending else block
            cut = data.rfind(b"\n") + 1
            if cut:
                yield data[:cut], offset
                offset += cut
            pending = data[cut:]
        if pending:
            yield pending, offset
