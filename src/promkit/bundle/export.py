"""The export pipeline: TSDB → windows → obfuscation → staging file → bundle.

``run_export`` fetches one time window after another (half-open, see ``windows``), rewrites
each JSON line's ``metric`` object through the ``Obfuscator`` and appends the lines to a
staging file. After every window the staging file is fsynced and a checkpoint (window
index, file offset, counts, obfuscation state) is written, so a crash or cancel loses
nothing already fetched and a resume continues at the first incomplete window, with the
same export id and the same mapping. At the end the staging file is streamed into the ZIP.

Sources: raw samples from ``/api/v1/export`` (modes ``cluster`` and ``selector``; a job
filter is folded into the selector as a matcher), or ``/api/v1/query_range`` for mode
``query`` and for servers without an export API (Prometheus); query_range windows are
aligned to the step so no point is fetched twice.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from promkit.bundle.archive import (
    BundleCounts,
    BundleMetadata,
    BundleResult,
    BundleWriter,
    TimeRange,
    new_export_id,
)
from promkit.bundle.discovery import build_match, obfuscated_query
from promkit.bundle.obfuscation import (
    COMPONENTS,
    GENERIC_COMPONENT,
    ObfuscationSettings,
    Obfuscator,
)
from promkit.bundle.windows import Window, plan_windows
from promkit.core.errors import (
    CanceledError,
    DataError,
    PromkitError,
    UnsupportedError,
    UsageError,
)
from promkit.core.jobs import JobHooks
from promkit.core.series import MetricRewriter, encode_line, iter_lines
from promkit.core.tsdb import TSDBClient

__all__ = [
    "DEFAULT_STEP_MS",
    "ExportContext",
    "ExportResult",
    "ExportSpec",
    "LocalContext",
    "export_runner",
    "run_export",
    "stream_export",
]

STAGING_NAME = "metrics.partial.jsonl"
DEFAULT_STEP_MS = 30_000
# Prometheus refuses query_range answers of more than 11000 points per series.
_MAX_POINTS_PER_WINDOW = 10_000
_VALUES_CUT = b',"values":['
_BATCH_BYTES = 1 << 20

Mode = Literal["cluster", "selector", "query"]


class ExportSpec(BaseModel):
    """What to export. Holds no connection details, so it can live in the checkpoint."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode
    start_ms: int
    end_ms: int  # inclusive
    jobs: list[str] = []
    components: list[str] = []
    selector: str | None = None
    query: str | None = None
    step_ms: int | None = Field(default=None, gt=0)
    window_ms: int | None = None
    obfuscation: ObfuscationSettings = ObfuscationSettings()
    component_hints: dict[str, str] = {}
    export_id: str | None = None


class ExportResult(BaseModel):
    export_id: str
    bundle_path: str
    sha256_path: str
    sha256: str
    size_bytes: int
    counts: BundleCounts
    windows: int
    source_api: str
    mapping_path: str | None = None


ExportContext = JobHooks  # progress/cancel/checkpoint hooks (``core.jobs.JobContext``)


@dataclass
class LocalContext:
    """An ``ExportContext`` for direct (non-job) runs: CLI, benchmarks, tests."""

    staging_dir: Path
    on_window: Callable[[int, int, int], None] | None = None  # (done, total, samples)
    cancel_after_windows: int | None = None  # test hook: cancel once this many are done
    total: int = 0
    done: int = 0
    samples: int = 0

    def check_canceled(self) -> None:
        if self.cancel_after_windows is not None and self.done >= self.cancel_after_windows:
            raise CanceledError("the export was canceled", hint="resume it to continue")

    def set_total(self, total_windows: int) -> None:
        self.total = total_windows

    def restore(self, *, completed_windows: int, samples: int, lines: int) -> None:
        self.done, self.samples = completed_windows, samples

    def window_done(
        self,
        index: int,
        *,
        samples: int = 0,
        lines: int = 0,
        time_range: tuple[int, int] | None = None,
    ) -> None:
        self.done = max(self.done, index + 1)
        self.samples += samples
        if self.on_window is not None:
            self.on_window(self.done, self.total, self.samples)

    def save_checkpoint(self, data: dict[str, Any]) -> None:
        from promkit.core.jobs import write_checkpoint

        write_checkpoint(self.staging_dir, data)

    def load_checkpoint(self) -> dict[str, Any] | None:
        from promkit.core.jobs import read_checkpoint

        return read_checkpoint(self.staging_dir)


@dataclass
class _Counts:
    lines: int = 0
    samples: int = 0
    series_keys: set[int] = field(default_factory=set)


def _series_key(line: bytes) -> int:
    cut = line.find(_VALUES_CUT)
    return hash(line[:cut] if cut > 0 else line)


def _plan(spec: ExportSpec, source_api: str) -> list[Window]:
    if source_api == "export":
        return plan_windows(spec.start_ms, spec.end_ms, window_ms=spec.window_ms)
    step = spec.step_ms or DEFAULT_STEP_MS
    window = spec.window_ms
    if window is not None:
        window = min(window, step * _MAX_POINTS_PER_WINDOW)
    wins = plan_windows(spec.start_ms, spec.end_ms, window_ms=window, step_ms=step)
    if wins and wins[0].duration_ms > step * _MAX_POINTS_PER_WINDOW:
        wins = plan_windows(
            spec.start_ms, spec.end_ms, window_ms=step * _MAX_POINTS_PER_WINDOW, step_ms=step
        )
    return wins


def _float(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _range_lines(
    client: TSDBClient, query: str, window: Window, step_ms: int, obf: Obfuscator
) -> Iterator[tuple[bytes, int]]:
    """One window of query_range as VM JSON lines (one line per series) with their
    sample counts."""
    start, end = window.start_ms / 1000, window.last_ms / 1000
    for item in client.query_range(query, start, end, step_ms / 1000):
        values: list[float] = []
        stamps: list[int] = []
        for ts, raw in item.get("values") or []:
            value = _float(raw)
            if value is not None:
                values.append(value)
                stamps.append(round(float(ts) * 1000))
        if stamps:
            yield encode_line(obf.labels(item.get("metric") or {}), values, stamps), len(stamps)


def _export_lines(
    client: TSDBClient, match: str, window: Window, rewrite: MetricRewriter
) -> Iterator[tuple[bytes, int]]:
    stream = client.export([match], window.start_ms / 1000, window.last_ms / 1000)
    try:
        # the rewriter counts the points in the pass that checks them
        yield from map(rewrite.counted, iter_lines(stream))
    finally:
        stream.close()


class _Exporter:
    def __init__(self, client: TSDBClient, spec: ExportSpec, obf: Obfuscator) -> None:
        self.client = client
        self.spec = spec
        self.obf = obf
        self.match = build_match(spec.mode, spec.jobs, spec.selector, spec.query)
        # One per export: a series comes back in every window, its rewrite is cached.
        self.rewrite = MetricRewriter(obf.labels)

    def preregister(self) -> None:
        """Fix the obfuscation numbering before streaming (label values sorted)."""
        if not self.obf.settings.enabled:
            return
        self.obf.preregister(jobs=self.spec.jobs)
        if self.spec.mode == "query":
            return
        start, end = self.spec.start_ms / 1000, self.spec.end_ms / 1000
        try:
            instances = self.client.label_values("instance", [self.match], start, end)
            jobs = self.client.label_values("job", [self.match], start, end)
        except PromkitError:
            return  # numbering then follows the stream order; still consistent in one export
        self.obf.preregister(instances=instances, jobs=jobs)

    def choose_source(self) -> str:
        if self.spec.mode == "query":
            return "query_range"
        probe = Window(0, self.spec.end_ms, self.spec.end_ms + 1)
        try:
            self.client.export([self.match], probe.start_ms / 1000, probe.last_ms / 1000).close()
        except UnsupportedError:
            return "query_range"
        return "export"

    def lines(self, source_api: str, window: Window) -> Iterator[tuple[bytes, int]]:
        if source_api == "export":
            return _export_lines(self.client, self.match, window, self.rewrite)
        step = self.spec.step_ms or DEFAULT_STEP_MS
        return _range_lines(self.client, self.match, window, step, self.obf)


def _write_window(
    lines: Iterable[tuple[bytes, int]],
    out: IO[bytes],
    counts: _Counts,
    writer: BundleWriter | None = None,
) -> tuple[int, int]:
    """Append one window's lines to ``out`` (and the bundle writer) in ~1 MiB batches."""
    n_lines = n_samples = 0
    keys = counts.series_keys
    batch = bytearray()
    for line, samples in lines:
        batch += line
        n_lines += 1
        n_samples += samples
        keys.add(_series_key(line))
        if len(batch) >= _BATCH_BYTES:
            out.write(batch)
            if writer is not None:
                writer.write(batch)
            batch = bytearray()
    if batch:
        out.write(batch)
        if writer is not None:
            writer.write(batch)
    counts.lines += n_lines
    counts.samples += n_samples
    return n_lines, n_samples


def _spec_key(spec: ExportSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"export_id"})


def _rebuild_series(path: Path, counts: _Counts) -> None:
    with path.open("rb") as fh:
        for line in fh:
            counts.series_keys.add(_series_key(line.rstrip(b"\n")))


def run_export(
    client: TSDBClient,
    spec: ExportSpec,
    ctx: ExportContext,
    *,
    output_dir: Path,
    save_mapping: Path | None = None,
    keep_staging: bool = False,
) -> ExportResult:
    """Run (or resume, if ``ctx.staging_dir`` holds a checkpoint) an export into a bundle."""
    staging_dir = ctx.staging_dir
    staging_dir.mkdir(parents=True, exist_ok=True)
    staging = staging_dir / STAGING_NAME
    checkpoint = ctx.load_checkpoint()
    counts = _Counts()
    if checkpoint is not None:
        if checkpoint.get("spec") != _spec_key(spec):
            raise UsageError(
                "the staging directory belongs to a different export",
                hint="resume with the same settings, or use a new staging directory",
            )
        obf = Obfuscator.from_state(checkpoint["obfuscation"])
        export_id = str(checkpoint["export_id"])
        source_api = str(checkpoint["source_api"])
        next_window = int(checkpoint["windows_done"])
        with staging.open("r+b") as fh:
            fh.truncate(int(checkpoint["offset"]))  # drop a partly written window
        counts.lines, counts.samples = int(checkpoint["lines"]), int(checkpoint["samples"])
        _rebuild_series(staging, counts)
        exporter = _Exporter(client, spec, obf)
    else:
        obf = Obfuscator(spec.obfuscation, component_hints=spec.component_hints)
        export_id = spec.export_id or new_export_id()
        exporter = _Exporter(client, spec, obf)
        source_api = exporter.choose_source()
        exporter.preregister()
        next_window = 0
        staging.write_bytes(b"")
    windows = _plan(spec, source_api)
    ctx.set_total(len(windows))
    ctx.restore(completed_windows=next_window, samples=counts.samples, lines=counts.lines)
    writer = BundleWriter(output_dir, export_id)
    try:
        writer.write_file(staging)  # what earlier runs staged (empty on a fresh start)
        with staging.open("ab") as out:
            for window in windows[next_window:]:
                ctx.check_canceled()
                lines = exporter.lines(source_api, window)
                n_lines, n_samples = _write_window(lines, out, counts, writer)
                out.flush()
                os.fsync(out.fileno())
                ctx.save_checkpoint(
                    {
                        "spec": _spec_key(spec),
                        "export_id": export_id,
                        "source_api": source_api,
                        "windows_done": window.index + 1,
                        "offset": out.tell(),
                        "lines": counts.lines,
                        "samples": counts.samples,
                        "obfuscation": obf.state(),
                    }
                )
                ctx.window_done(
                    window.index,
                    samples=n_samples,
                    lines=n_lines,
                    time_range=(window.start_ms, window.last_ms),
                )
        if counts.lines == 0:
            raise DataError(
                "the selection matched no samples in the chosen time range",
                hint="check the time range, jobs or selector "
                "(`promkit gather discover` lists jobs)",
            )
        meta = _metadata(spec, obf, export_id, source_api, windows, counts, writer.when)
    except BaseException:
        writer.abort()
        raise
    result = writer.finish(meta)
    if save_mapping is not None:
        obf.save_mapping(save_mapping)
    if not keep_staging:
        shutil.rmtree(staging_dir, ignore_errors=True)
    return _result(result, counts, len(windows), source_api, save_mapping)


def _metadata(
    spec: ExportSpec,
    obf: Obfuscator,
    export_id: str,
    source_api: str,
    windows: list[Window],
    counts: _Counts,
    when: datetime,
) -> BundleMetadata:
    query = obfuscated_query(
        build_match(spec.mode, spec.jobs, spec.selector, spec.query), obf, spec.obfuscation
    )
    components = sorted({c if c in COMPONENTS else GENERIC_COMPONENT for c in spec.components})
    return BundleMetadata(
        export_id=export_id,
        export_date=when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        time_range=TimeRange.of_ms(spec.start_ms, spec.end_ms),
        mode=spec.mode,
        query=query,
        source_api="export" if source_api == "export" else "query_range",
        step_seconds=None if source_api == "export" else (spec.step_ms or DEFAULT_STEP_MS) / 1000,
        windows=len(windows),
        window_seconds=windows[0].duration_ms / 1000 if windows else 0,
        components=components,
        jobs=sorted(set(obf.job_names(spec.jobs))) if spec.jobs else obf.obfuscated_jobs(),
        counts=BundleCounts(
            series=len(counts.series_keys), samples=counts.samples, lines=counts.lines
        ),
        obfuscation=spec.obfuscation.model_dump(mode="json"),
    )


def _result(
    bundle: BundleResult, counts: _Counts, windows: int, source_api: str, mapping: Path | None
) -> ExportResult:
    return ExportResult(
        export_id=bundle.metadata.export_id,
        bundle_path=str(bundle.path),
        sha256_path=str(bundle.sha256_path),
        sha256=bundle.sha256,
        size_bytes=bundle.size_bytes,
        counts=bundle.metadata.counts,
        windows=windows,
        source_api=source_api,
        mapping_path=str(mapping) if mapping is not None else None,
    )


def stream_export(
    client: TSDBClient,
    spec: ExportSpec,
    out: IO[bytes],
    *,
    check_canceled: Callable[[], None] | None = None,
) -> BundleCounts:
    """``--stdout``: the same lines as a bundle's metrics.jsonl, written to ``out`` only."""
    obf = Obfuscator(spec.obfuscation, component_hints=spec.component_hints)
    exporter = _Exporter(client, spec, obf)
    source_api = exporter.choose_source()
    exporter.preregister()
    counts = _Counts()
    for window in _plan(spec, source_api):
        if check_canceled is not None:
            check_canceled()
        _write_window(exporter.lines(source_api, window), out, counts)
        out.flush()
    return BundleCounts(series=len(counts.series_keys), samples=counts.samples, lines=counts.lines)


def export_runner(
    client_factory: Callable[[], TSDBClient],
    spec: ExportSpec,
    *,
    output_dir: Path,
    save_mapping: Path | None = None,
) -> Callable[[Any], ExportResult]:
    """A ``JobManager`` runner; resuming the job continues from its checkpoint."""

    def run(ctx: Any) -> ExportResult:
        with client_factory() as client:
            return run_export(client, spec, ctx, output_dir=output_dir, save_mapping=save_mapping)

    return run
