"""The import's sink: POSTs gzip chunks to ``/api/v1/import``, retries, checkpoints.

The calling thread POSTs the producer's chunks (``promkit.bundle.chunks``) one by one. The
sink owns the retries: 429, 5xx and network errors are retried with capped exponential
backoff and jitter; any other 4xx fails at once.

After every acknowledged chunk the checkpoint (``checkpoint.json`` in the job's staging
directory) records the chunk index and the source byte offset after its last line, together
with the resolved shift and cutoff. A resumed run (same bundle, target and options) skips to
that offset, sending nothing twice, and replays the skipped lines only through the counters.

Tenants: the import URL comes from ``Connection`` (``/insert/<t>/prometheus`` for a cluster,
the managed/vmauth path as given); the tenant also travels as ``X-Vm-AccountID``,
``X-Vm-ProjectID`` and ``X-Vm-TenantID`` headers for proxies that route by header.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import BaseModel

from promkit.bundle.alignment import LineRewriter
from promkit.bundle.chunks import DONE, Chunk, ChunkProducer
from promkit.bundle.reader import BundleReader
from promkit.bundle.verify import SentTracker, Verification
from promkit.core.connection import Connection
from promkit.core.errors import (
    AuthError,
    ConnectError,
    DataError,
    PromkitError,
    UnsupportedError,
    UpstreamError,
)
from promkit.core.jobs import JobHooks
from promkit.core.tsdb import TSDBClient
from promkit.core.tsdb_errors import is_auth_refusal

__all__ = [
    "CHECKPOINT_VERSION",
    "ImportContext",
    "ImportOptions",
    "ImportResult",
    "RetryPolicy",
    "import_fingerprint",
    "run_upload",
    "tenant_headers",
]

CHECKPOINT_VERSION = 1


ImportContext = JobHooks  # progress/cancel/checkpoint hooks (``core.jobs.JobContext``)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    initial_s: float = 0.5
    max_s: float = 30.0

    def delay(self, attempt: int) -> float:
        base = min(self.max_s, self.initial_s * (2.0**attempt))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


@dataclass(frozen=True)
class ImportOptions:
    shift_ms: int = 0
    cutoff_ms: int | None = None
    add_labels: tuple[tuple[str, str], ...] = ()
    drop_labels: tuple[str, ...] = ()
    chunk_bytes: int = 4 << 20
    compress_level: int = 1
    retry: RetryPolicy = RetryPolicy()


class ImportResult(BaseModel):
    bundle: str
    import_url: str
    tenant_id: str | None
    shift_ms: int
    cutoff_ms: int | None
    chunks: int
    resumed_from_chunk: int = 0
    bytes_sent: int = 0
    lines: int = 0
    bad_lines: int = 0
    samples_sent: int = 0
    nan_points: int = 0
    dropped_retention: int = 0
    skipped_values: int = 0
    retries: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    checksum_verified: bool = False
    bad_line_examples: list[str] = []
    verification: Verification | None = None


def tenant_headers(conn: Connection) -> dict[str, str]:
    """Tenant headers for proxies that route by header (VictoriaMetrics routes by path)."""
    tenant = conn.tenant_id
    if not tenant or tenant == "multitenant":
        return {}
    account, _, project = tenant.partition(":")
    return {
        "X-Vm-AccountID": account,
        "X-Vm-ProjectID": project or "0",
        "X-Vm-TenantID": tenant,
    }


def import_fingerprint(reader: BundleReader, conn: Connection, spec: str, opts: str) -> str:
    """Identifies one import (bundle file, target, options) for checkpoint reuse."""
    st = reader.info.path.stat()
    parts = [
        str(reader.info.path.resolve()),
        str(st.st_size),
        str(st.st_mtime_ns),
        conn.import_base_url,
        conn.tenant_id or "",
        spec,
        opts,
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


class _Sender:
    def __init__(
        self,
        conn: Connection,
        client: TSDBClient,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.conn = conn
        self.tsdb = client
        self.policy = policy
        self.sleep = sleep
        self.url = conn.api_url("import", base=conn.import_base_url)
        self.http = conn.client(transport=transport)
        self.headers = {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            **tenant_headers(conn),
        }
        self.retries = 0

    def close(self) -> None:
        self.http.close()

    def post(self, body: bytes, check_canceled: Callable[[], None]) -> None:
        attempt = 0
        while True:
            error = self._try(body)
            if error is None:
                return
            retryable, exc = error
            if not retryable or attempt + 1 >= self.policy.attempts:
                raise exc
            self.retries += 1
            self.sleep(self.policy.delay(attempt))
            attempt += 1
            check_canceled()

    def _try(self, body: bytes) -> tuple[bool, PromkitError] | None:
        where = self.conn.import_base_url
        try:
            response = self.http.post(self.url, content=body, headers=self.headers)
        except httpx.HTTPError as exc:
            reason = self.tsdb.scrub(str(exc)) or type(exc).__name__
            return True, ConnectError(
                f"import to {where} failed: {reason}",
                hint="check that the server is running and reachable; the import resumes "
                "from the last acknowledged chunk when run again",
            )
        status = response.status_code
        if status < 300:
            return None
        text = self.tsdb.scrub(response.text.strip())[:300]
        detail = f"HTTP {status}{': ' + text if text else ''}"
        if status == 429 or status >= 500:
            return True, UpstreamError(
                f"import to {where} failed after retries: {detail}",
                hint="the server is overloaded or down; run the import again to resume",
            )
        if is_auth_refusal(status, text):
            return False, AuthError(f"credentials refused by {self.conn.origin} ({detail})")
        if status == 404 or "missing route" in text or "unsupported path" in text:
            return False, UnsupportedError(
                f"{where} has no import API ({detail})",
                hint="import needs VictoriaMetrics: single-node, vminsert "
                "(/insert/<tenant>/prometheus) or vmauth with an import route",
            )
        return False, DataError(f"the server rejected the imported data: {detail}")


def run_upload(
    reader: BundleReader,
    conn: Connection,
    client: TSDBClient,
    opts: ImportOptions,
    ctx: ImportContext,
    *,
    fingerprint: str,
    tracker: SentTracker | None = None,
    sleep: Callable[[float], None] = time.sleep,
    transport: httpx.BaseTransport | None = None,
) -> tuple[ImportResult, SentTracker]:
    """Send the whole bundle (or the rest of it after a checkpoint). Raises on failure with
    the checkpoint saved, so running it again resumes."""
    tracker = tracker or SentTracker()
    checkpoint = ctx.load_checkpoint()
    start_chunk = start_offset = 0
    shift_ms, cutoff_ms = opts.shift_ms, opts.cutoff_ms
    if checkpoint and checkpoint.get("fingerprint") == fingerprint:
        start_chunk = int(checkpoint.get("chunks", 0))
        start_offset = int(checkpoint.get("offset", 0))
        shift_ms = int(checkpoint.get("shift_ms", shift_ms))
        cutoff_ms = checkpoint.get("cutoff_ms", cutoff_ms)
    rewriter = LineRewriter(
        shift_ms=shift_ms,
        cutoff_ms=cutoff_ms,
        add_labels=dict(opts.add_labels),
        drop_labels=opts.drop_labels,
    )
    total_guess = reader.info.declared_bytes or reader.info.file_bytes
    ctx.set_total(max(start_chunk + 1, math.ceil(total_guess / opts.chunk_bytes)))
    producer = ChunkProducer(
        reader,
        rewriter,
        chunk_bytes=opts.chunk_bytes,
        compress_level=opts.compress_level,
        start_offset=start_offset,
        start_chunk=start_chunk,
        tracker=tracker,
    )
    sender = _Sender(conn, client, opts.retry, sleep, transport)
    result = ImportResult(
        bundle=str(reader.info.path),
        import_url=sender.url,
        tenant_id=conn.tenant_id,
        shift_ms=shift_ms,
        cutoff_ms=cutoff_ms,
        chunks=start_chunk,
        resumed_from_chunk=start_chunk,
    )

    def save(chunks: int, offset: int) -> None:
        ctx.save_checkpoint(
            {
                "version": CHECKPOINT_VERSION,
                "fingerprint": fingerprint,
                "chunks": chunks,
                "offset": offset,
                "shift_ms": shift_ms,
                "cutoff_ms": cutoff_ms,
            }
        )

    if start_chunk == 0:
        save(0, 0)
    producer.thread.start()
    try:
        while True:
            ctx.check_canceled()
            item = producer.queue.get()
            if item is DONE:
                break
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Chunk)
            sender.post(item.body, ctx.check_canceled)
            result.bytes_sent += len(item.body)
            result.chunks = item.index + 1
            save(item.index + 1, item.end_offset)
            ctx.window_done(
                item.index, samples=item.samples, lines=item.lines, time_range=item.time_range
            )
    finally:
        producer.stop.set()
        producer.thread.join(timeout=5)
        sender.close()
        result.retries = sender.retries
    c = producer.counts
    result.lines, result.bad_lines = c.lines, c.bad_lines
    result.samples_sent, result.nan_points = c.samples, c.nan
    result.dropped_retention, result.skipped_values = c.dropped, c.skipped
    result.first_ms, result.last_ms = tracker.first_ms, tracker.last_ms
    result.bad_line_examples = producer.examples
    result.checksum_verified = reader.verified
    ctx.set_total(result.chunks)
    return result, tracker
