"""The support-bundle writer (format: ``docs/bundle-format.md``).

A bundle is a ZIP holding ``metrics.jsonl`` (VictoriaMetrics JSON lines, importable as is),
``metadata.json`` and ``README.txt``, plus ``<name>.zip.sha256`` beside it in ``sha256sum``
format. The ZIP is streamed (the JSON lines are never held in memory) into a temp file in
the output directory, fsynced and renamed, so a crash never leaves a half bundle under the
final name.

Compression: ``metrics.jsonl`` is deflated with zlib-ng level 6 (plain Deflate, any unzip
reads it). Measured on bundles of exported VM JSON lines against stdlib zlib level 6
(size ratio, single-core speed): zlib-ng 6 = 0.996x at ~130 MB/s; stdlib zlib 6 = 1.00x at
~30 MB/s; zlib 5 = 1.005x at 44 MB/s; zlib 4 = 1.07x at 66 MB/s. zlib-ng levels 3-5 looked
good on one data set (1.01-1.03x) but reached 1.12-1.13x on bundles with longer lines, so
they are not used. zlib-ng is swapped in as the compressor of the ZIP entry; if that is
impossible (module missing, zipfile internals changed) stdlib zlib level 5 is used.
``bench/gather_export.py`` prints the size ratio against zlib 6 for every run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import secrets
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from promkit import __version__
from promkit.core.errors import PromkitError, UsageError

__all__ = [
    "DEFLATE_LEVEL",
    "METADATA_NAME",
    "METRICS_NAME",
    "README_NAME",
    "SCHEMA_VERSION",
    "BundleCounts",
    "BundleMetadata",
    "BundleResult",
    "BundleWriter",
    "TimeRange",
    "new_export_id",
    "write_bundle",
]

SCHEMA_VERSION = 1
DEFLATE_LEVEL = 6  # zlib-ng level for metrics.jsonl
FALLBACK_LEVEL = 5  # stdlib zlib level when zlib-ng cannot be used
METRICS_NAME = "metrics.jsonl"
METADATA_NAME = "metadata.json"
README_NAME = "README.txt"
_COPY_CHUNK = 1 << 20

Mode = Literal["cluster", "selector", "query"]


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str
    end: str
    start_ms: int
    end_ms: int

    @classmethod
    def of_ms(cls, start_ms: int, end_ms: int) -> TimeRange:
        return cls(start=_rfc3339(start_ms), end=_rfc3339(end_ms), start_ms=start_ms, end_ms=end_ms)


class BundleCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series: int = 0
    samples: int = 0
    lines: int = 0


class BundleMetadata(BaseModel):
    """``metadata.json``. Holds obfuscated names and settings only, never the mapping."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    tool: str = "promkit"
    promkit_version: str = __version__
    export_id: str
    export_date: str
    time_range: TimeRange
    mode: Mode
    query: str
    source_api: Literal["export", "query_range"] = "export"
    step_seconds: float | None = None
    windows: int = 0
    window_seconds: float = 0
    components: list[str] = []
    jobs: list[str] = []
    counts: BundleCounts = BundleCounts()
    obfuscation: dict[str, Any] = {}
    metrics_sha256: str = ""
    metrics_bytes: int = 0


@dataclass(frozen=True)
class BundleResult:
    path: Path
    sha256_path: Path
    size_bytes: int
    sha256: str
    metadata: BundleMetadata


def _rfc3339(ms: int) -> str:
    return (
        datetime.fromtimestamp(ms / 1000, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def new_export_id(now: datetime | None = None) -> str:
    """``exp-<UTC yyyymmddThhmmss>-<6 random hex>``: sortable and collision-free."""
    at = (now or datetime.now(tz=UTC)).astimezone(UTC)
    return f"exp-{at:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def bundle_name(export_id: str) -> str:
    if not export_id or any(c in export_id for c in '/\\<>:"|?*') or not export_id.isprintable():
        raise UsageError(f"invalid export id {export_id!r}", hint="use letters, digits, - and _")
    return f"promkit-bundle_{export_id}.zip"


def render_readme(meta: BundleMetadata) -> str:
    obf = meta.obfuscation
    lines = [
        "promkit support bundle",
        "======================",
        "",
        f"Export id:     {meta.export_id}",
        f"Exported at:   {meta.export_date}",
        f"Time range:    {meta.time_range.start} .. {meta.time_range.end} (UTC, inclusive)",
        f"Mode:          {meta.mode}",
        f"Components:    {', '.join(meta.components) or '-'}",
        f"Jobs:          {', '.join(meta.jobs) or '-'}",
        f"Series:        {meta.counts.series}",
        f"Samples:       {meta.counts.samples}",
        f"Lines:         {meta.counts.lines}",
        "",
    ]
    if obf.get("enabled"):
        lines += [
            "Obfuscation is ON: instance addresses, job names and IP addresses inside label",
            "values were replaced (777.777.X.Y addresses, <component>-job-<n> names). The",
            "mapping back to the original values is NOT in this bundle.",
            "",
        ]
    else:
        lines += ["Obfuscation is OFF: label values are as the server returned them.", ""]
    lines += [
        "Files:",
        f"  {METRICS_NAME}  VictoriaMetrics JSON lines (/api/v1/import reads them as is)",
        f"  {METADATA_NAME}  what was exported, counts, SHA-256 of {METRICS_NAME}",
        f"  {README_NAME}     this file",
        "",
        "Check:   sha256sum -c <bundle>.zip.sha256",
        "Replay:  promkit import run <bundle>.zip --url http://<victoria-metrics>:8428",
        "",
        f"Generated by promkit {meta.promkit_version}",
        "",
    ]
    return "\n".join(lines)


def _zip_info(name: str, when: datetime, level: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    # ZipFile.open(info, "w") takes the level from the ZipInfo (renamed in Python 3.13).
    for attr in ("compress_level", "_compresslevel"):
        with contextlib.suppress(AttributeError):
            setattr(info, attr, level)
    info.external_attr = 0o644 << 16
    return info


def _fast_compressor(entry: IO[bytes], level: int) -> bool:
    """Swap zlib-ng in as the Deflate compressor of a ZIP entry opened for writing."""
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return False
    if getattr(entry, "_compressor", None) is None or getattr(entry, "_file_size", 1) != 0:
        return False
    entry._compressor = zlib_ng.compressobj(level, zlib_ng.DEFLATED, -15)  # type: ignore[attr-defined]
    return True


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _output_dir(output_dir: Path) -> None:
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create output directory {output_dir}: {exc.strerror}",
            hint="choose a writable --output directory",
        ) from exc


def _write_failed(final: Path, exc: OSError) -> PromkitError:
    return PromkitError(
        f"cannot write bundle {final}: {exc.strerror or exc}",
        hint="check free space and permissions of the output directory",
    )


class BundleWriter:
    """Streams ``metrics.jsonl`` into the bundle's temp ZIP on a worker thread.

    The export calls ``write`` with batches of lines while it fetches the next ones, so
    compression (zlib-ng and SHA-256 release the GIL) overlaps with network and parsing;
    ``finish`` adds metadata.json and README.txt, fsyncs, renames and writes the sidecar.
    ``abort`` removes the temp file. A bounded queue keeps memory flat.
    """

    def __init__(
        self,
        output_dir: Path,
        export_id: str,
        *,
        when: datetime | None = None,
        level: int = DEFLATE_LEVEL,
    ) -> None:
        _output_dir(output_dir)
        self.output_dir = output_dir
        self.name = bundle_name(export_id)
        self.final = output_dir / self.name
        self.when = (when or datetime.now(tz=UTC)).astimezone(UTC)
        for stale in output_dir.glob(f".{self.name}.*.partial"):  # left by a crashed run
            stale.unlink(missing_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".partial", dir=output_dir)
        self._tmp = Path(tmp_name)
        self._raw = os.fdopen(fd, "w+b")
        self._zf = zipfile.ZipFile(self._raw, "w", compression=zipfile.ZIP_DEFLATED)
        self._entry = self._zf.open(
            _zip_info(METRICS_NAME, self.when, FALLBACK_LEVEL), "w", force_zip64=True
        )
        _fast_compressor(self._entry, level)
        self._digest = hashlib.sha256()
        self.size = 0
        self._error: BaseException | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._thread = threading.Thread(target=self._work, name="bundle-zip", daemon=True)
        self._thread.start()
        self._closed = False

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain after a failure so writers never block
            try:
                self._digest.update(item)
                self._entry.write(item)
                self.size += len(item)
            except BaseException as exc:
                self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            err = self._error
            self.abort()
            if isinstance(err, OSError):
                raise _write_failed(self.final, err) from err
            raise err

    def write(self, data: bytes | bytearray) -> None:
        """Queue a batch of complete lines for the ZIP."""
        self._raise()
        if data:
            self._queue.put(bytes(data))

    def write_file(self, path: Path, limit: int | None = None) -> None:
        """Queue the first ``limit`` bytes (default: all) of ``path`` (used on resume)."""
        remaining = path.stat().st_size if limit is None else limit
        with path.open("rb") as fh:
            while remaining > 0 and (chunk := fh.read(min(_COPY_CHUNK, remaining))):
                self.write(chunk)
                remaining -= len(chunk)

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def abort(self) -> None:
        """Drop the partial bundle (cancel, failure)."""
        if self._closed:
            return
        self._closed = True
        if self._error is None:
            self._error = PromkitError("the bundle was aborted")
        self._stop()
        for close in (self._entry.close, self._zf.close, self._raw.close):
            with contextlib.suppress(Exception):
                close()
        self._tmp.unlink(missing_ok=True)

    def finish(self, metadata: BundleMetadata) -> BundleResult:
        """Complete the ZIP with ``metadata`` (its checksum fields are filled in here)."""
        self._stop()
        self._raise()
        try:
            self._entry.close()
            meta = metadata.model_copy(
                update={"metrics_sha256": self._digest.hexdigest(), "metrics_bytes": self.size}
            )
            meta_bytes = orjson.dumps(meta.model_dump(mode="json"), option=orjson.OPT_INDENT_2)
            self._zf.writestr(_zip_info(METADATA_NAME, self.when, 9), meta_bytes + b"\n")
            self._zf.writestr(_zip_info(README_NAME, self.when, 9), render_readme(meta))
            self._zf.close()
            raw = self._raw
            raw.flush()
            os.fsync(raw.fileno())
            raw.seek(0)
            zip_digest = hashlib.sha256()
            while chunk := raw.read(_COPY_CHUNK):
                zip_digest.update(chunk)
            raw.close()
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, self.final)
        except OSError as exc:
            self.abort()
            raise _write_failed(self.final, exc) from exc
        except BaseException:
            self.abort()
            raise
        self._closed = True
        sha = zip_digest.hexdigest()
        sidecar = self.output_dir / f"{self.name}.sha256"
        _write_atomic_text(sidecar, f"{sha}  {self.name}\n")
        _fsync_dir(self.output_dir)
        return BundleResult(self.final, sidecar, self.final.stat().st_size, sha, meta)


def write_bundle(
    output_dir: Path,
    metrics_path: Path,
    metadata: BundleMetadata,
    *,
    level: int = DEFLATE_LEVEL,
) -> BundleResult:
    """Write ``<output_dir>/<bundle name>`` from a finished JSON-lines file, atomically.

    ``metadata.metrics_sha256`` and ``metrics_bytes`` are filled in here while the lines
    are copied; ``metrics_path`` is streamed, never read whole.
    """
    when = datetime.fromisoformat(metadata.export_date.replace("Z", "+00:00"))
    writer = BundleWriter(output_dir, metadata.export_id, when=when, level=level)
    try:
        writer.write_file(metrics_path)
    except OSError as exc:
        writer.abort()
        raise _write_failed(writer.final, exc) from exc
    except BaseException:
        writer.abort()
        raise
    return writer.finish(metadata)


def read_metadata(bundle: Path) -> dict[str, Any]:
    """The parsed ``metadata.json`` of a bundle (for tests and the importer)."""
    with zipfile.ZipFile(bundle) as zf:
        data: dict[str, Any] = orjson.loads(zf.read(METADATA_NAME))
    return data
