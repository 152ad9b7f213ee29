"""The importer: ``ImportPlan`` → (pre-pass) → upload → verification, as a job runner.

``import_runner`` resolves what the plan leaves open (the shift needs the bundle's time
range, the retention cutoff needs the clock), then hands the chunks to the sender
(``promkit.bundle.sender``) and finally checks the target (``promkit.bundle.verify``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from promkit.bundle.alignment import LineRewriter, ShiftMode, ShiftSpec
from promkit.bundle.reader import BundleReader
from promkit.bundle.sender import (
    ImportContext,
    ImportOptions,
    ImportResult,
    RetryPolicy,
    import_fingerprint,
    run_upload,
)
from promkit.bundle.verify import verify_import
from promkit.core.connection import Connection
from promkit.core.errors import PromkitError
from promkit.core.tsdb import TSDBClient

__all__ = ["ImportPlan", "import_runner", "scan_range"]


@dataclass(frozen=True)
class ImportPlan:
    """Everything ``promkit import run`` decides before the first byte moves."""

    shift: ShiftSpec = field(default_factory=ShiftSpec)
    retention_ms: int | None = None
    add_labels: dict[str, str] = field(default_factory=dict)
    drop_labels: tuple[str, ...] = ()
    chunk_bytes: int = 4 << 20
    compress_level: int = 1
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool = True
    verify_timeout_s: float = 60.0

    def key(self) -> str:
        """The options that change what is sent (part of the checkpoint fingerprint)."""
        return repr(
            (
                self.shift,
                self.retention_ms is not None,
                sorted(self.add_labels.items()),
                self.drop_labels,
            )
        )


def scan_range(reader: BundleReader) -> tuple[int | None, int | None]:
    """The first and last timestamp of the bundle (one pass; checks the checksum too)."""
    lo: int | None = None
    hi: int | None = None
    rewrite = LineRewriter().rewrite
    for line, _ in reader.lines():
        try:
            res = rewrite(line)
        except PromkitError:
            continue
        rng = res.time_range()
        if rng is not None:
            lo = rng[0] if lo is None else min(lo, rng[0])
            hi = rng[1] if hi is None else max(hi, rng[1])
    return lo, hi


def import_runner(
    reader: BundleReader,
    conn: Connection,
    plan: ImportPlan,
    *,
    verify_conn: Connection | None = None,
    now_ms: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> Callable[[ImportContext], ImportResult]:
    """A ``JobManager`` runner: (pre-pass if needed) → upload → verification.

    A bundle whose checksum is known only from ``metadata.json`` (no verified sidecar) is
    hashed in a first pass, so a damaged bundle is refused before anything is sent.
    """

    def run(ctx: ImportContext) -> ImportResult:
        fingerprint = import_fingerprint(reader, conn, plan.key(), str(plan.chunk_bytes))
        checkpoint = ctx.load_checkpoint()
        resuming = bool(checkpoint and checkpoint.get("fingerprint") == fingerprint)
        now = int(time.time() * 1000) if now_ms is None else now_ms
        first = last = None
        if not resuming:
            if plan.shift.mode in (ShiftMode.NOW, ShiftMode.ALIGN):
                first, last = scan_range(reader)
            elif reader.info.expected_sha256 and not reader.info.sidecar_verified:
                for _ in reader.chunks():
                    ctx.check_canceled()
        shift_ms = plan.shift.resolve(first, last, now_ms=now)
        cutoff_ms = None if plan.retention_ms is None else now - plan.retention_ms
        declared = reader.info.time_range_ms  # promkit bundles: every sample lies inside
        if cutoff_ms is not None and declared and declared[0] + shift_ms >= cutoff_ms:
            cutoff_ms = None  # nothing can fall out: skip the per-line check
        opts = ImportOptions(
            shift_ms=shift_ms,
            cutoff_ms=cutoff_ms,
            add_labels=tuple(plan.add_labels.items()),
            drop_labels=plan.drop_labels,
            chunk_bytes=plan.chunk_bytes,
            compress_level=plan.compress_level,
            retry=plan.retry,
        )
        with TSDBClient(conn, transport=transport) as client:
            result, tracker = run_upload(
                reader,
                conn,
                client,
                opts,
                ctx,
                fingerprint=fingerprint,
                sleep=sleep,
                transport=transport,
            )
        (ctx.staging_dir / "checkpoint.json").unlink(missing_ok=True)
        if plan.verify:
            with TSDBClient(verify_conn or conn, transport=transport) as vclient:
                result.verification = verify_import(
                    vclient,
                    tracker,
                    add_labels=plan.add_labels,
                    timeout_s=plan.verify_timeout_s,
                    sleep=sleep,
                )
        return result

    return run
